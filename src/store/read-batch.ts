/**
 * The statements of a query connection run in one read transaction per turn of the event loop:
 * the first statement opens it (BEGIN), a setImmediate queued then closes it (COMMIT) at the end
 * of that turn. In autocommit mode every statement is a transaction of its own, and in WAL mode
 * each one takes and drops the database's shared lock and a WAL read mark: fcntl calls, ~6.7 a
 * get_balance once live blocks filled the newer levels (strace: 254k fcntl for ~38k requests).
 * 200 connections × 50 pipelined get_balance on such an index: 88.8k → 141–150k req/s on one
 * thread (a microtask-long transaction, one per request, gave 113k), 128k → 258k on two.
 *
 * A read transaction sees one snapshot: the statements of a run agree with one another. Its
 * owner closes it before anything that must see a newer commit: the writer's commit in the same
 * thread (db.ts openReadDb registers that: the block boundaries are read again right after it),
 * and a write on this connection (the stats cache, store/read.ts), which must not upgrade the
 * read transaction and keep the write lock to the end of the turn.
 */
import type { Database, Statement } from "bun:sqlite";

export class ReadBatch {
  private open = false;
  private readonly begin: Statement;
  private readonly commit: Statement;
  private readonly close = () => this.end();

  constructor(private readonly sql: Database) {
    this.begin = sql.prepare("BEGIN");
    this.commit = sql.prepare("COMMIT");
  }

  /** Before a statement: opens the turn's transaction if none is. */
  enter(): void {
    if (this.open || this.sql.inTransaction) return;
    this.begin.run();
    this.open = true;
    setImmediate(this.close);
  }

  /** Closes the transaction now (a later statement opens another). */
  end(): void {
    if (!this.open) return;
    this.open = false;
    try {
      this.commit.run();
    } catch {
      // A read transaction has nothing to lose.
      if (this.sql.inTransaction) this.sql.exec("ROLLBACK");
    }
  }

  /** The statement, its runs first entering the batch. */
  wrap<S extends Statement<any, any>>(stmt: S): S {
    const s = stmt as unknown as Record<"get" | "all" | "values" | "run" | "iterate", (...args: unknown[]) => unknown>;
    for (const name of ["get", "all", "values", "run", "iterate"] as const) {
      const original = s[name]!.bind(stmt);
      s[name] = (...args: unknown[]) => {
        this.enter();
        return original(...args);
      };
    }
    return stmt;
  }
}
