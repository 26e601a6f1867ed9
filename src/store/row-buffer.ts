/** Multi-row INSERTs for the tables a sync appends to (write.ts, utxo-spill.ts). */
import type { Statement } from "bun:sqlite";
import type { Db } from "./db.ts";

/** Rows per INSERT statement: one call into SQLite per 64 rows is ~1.3× faster than one per row. */
const ROWS_PER_STATEMENT = 64;

/** Buffers rows of one table and inserts them ROWS_PER_STATEMENT at a time. */
export function rowBuffer(sql: Db["sql"], target: string, cols: 2 | 3 | 4, stmts: Statement[]) {
  const values = (n: number) => Array.from({ length: n }, () => `(${Array(cols).fill("?").join(", ")})`).join(", ");
  const full = sql.prepare(`INSERT INTO ${target} VALUES ${values(ROWS_PER_STATEMENT)}`);
  const one = sql.prepare(`INSERT INTO ${target} VALUES ${values(1)}`);
  stmts.push(full, one);
  const args: unknown[] = new Array(ROWS_PER_STATEMENT * cols);
  let n = 0; // values buffered
  return {
    /** `c` only for a table of 3 or more columns, `d` for one of 4. */
    add(a: unknown, b: unknown, c?: unknown, d?: unknown): void {
      args[n] = a;
      args[n + 1] = b;
      if (cols >= 3) args[n + 2] = c;
      if (cols === 4) args[n + 3] = d;
      n += cols;
      if (n === args.length) {
        full.run(...(args as [never]));
        n = 0;
      }
    },
    discard(): void {
      n = 0;
    },
    flush(): void {
      for (let i = 0; i < n; i += cols) one.run(...(args.slice(i, i + cols) as [never]));
      n = 0;
    },
  };
}
