/**
 * Reads of a keyed table's levels (levels.ts) that skip the empty ones. Each read of a level is a
 * statement run, ~1 µs even when the level is empty, and most levels are empty most of the time
 * (all of them after an initial sync, the middle ones until their first merge): a small script's
 * history read 12 levels where 2 hold rows.
 *
 * Only for a connection that never writes the levels (the query connection, db.ts openReadDb):
 * when the writer committed since the last look, the levels are looked at again before the read
 * that follows. Reads are synchronous, so no commit lands between the look and the read. The
 * writer's commits are counted by the writer in this process (Db.commits, every commit goes
 * through it); `PRAGMA data_version` tells the same of any writer, but that statement run was
 * ~1 µs at each look, two looks a get_balance: 27 % of a busy server's CPU.
 */
import type { Database, SQLQueryBindings, Statement } from "bun:sqlite";
import { BASE_LEVEL, LEVELED_TABLES, levelTable, type LeveledTable } from "./levels.ts";

/** Which levels of each keyed table hold rows, as of the connection's last commit seen. */
export class NonEmptyLevels {
  private readonly version: () => number;
  private readonly probes: { table: LeveledTable; level: number; stmt: Statement<{ n: number }, []> }[] = [];
  private readonly has = new Map<LeveledTable, boolean[]>();
  private seenVersion = -1;
  /** Bumped each time the levels were looked at again. */
  generation = 0;

  /** `writerCommits`: the writer's commit count, when it is in this process (else data_version is asked). */
  constructor(sql: Database, writerCommits?: () => number) {
    const dataVersion = sql.prepare<{ data_version: number }, []>("PRAGMA data_version");
    this.version = writerCommits ?? (() => dataVersion.get()!.data_version);
    for (const table of LEVELED_TABLES) {
      this.has.set(table, Array.from({ length: BASE_LEVEL + 1 }, () => true));
      for (let level = 0; level < BASE_LEVEL; level++) {
        this.probes.push({ table, level, stmt: sql.prepare(`SELECT EXISTS (SELECT 1 FROM ${levelTable(table, level)}) AS n`) });
      }
    }
  }

  /** Looks at the levels again if another connection committed since the last look. */
  check(): void {
    const v = this.version();
    if (v === this.seenVersion) return;
    for (const p of this.probes) this.has.get(p.table)![p.level] = p.stmt.get()!.n === 1;
    this.seenVersion = v;
    this.generation++;
  }

  /** Whether `level` of `table` holds rows (the base is always read). */
  holds(table: LeveledTable, level: number): boolean {
    return level === BASE_LEVEL || this.has.get(table)![level]!;
  }
}

/** One statement per level of a table, in reading order; `statements()` gives those of levels with rows. */
export class LevelReads<R, P extends SQLQueryBindings[]> {
  private live: Statement<R, P>[];
  private generation = -1;

  constructor(
    private readonly table: LeveledTable,
    private readonly byLevel: readonly { readonly level: number; readonly stmt: Statement<R, P> }[],
    /** null: every level is read (a connection that writes the levels). */
    private readonly levels: NonEmptyLevels | null,
  ) {
    this.live = byLevel.map((l) => l.stmt);
  }

  statements(): readonly Statement<R, P>[] {
    const levels = this.levels;
    if (levels === null) return this.live;
    levels.check();
    if (levels.generation !== this.generation) {
      this.live = this.byLevel.filter((l) => levels.holds(this.table, l.level)).map((l) => l.stmt);
      this.generation = levels.generation;
    }
    return this.live;
  }
}
