/**
 * Which level's merge (store/recent.ts) runs next, and the state that says so, kept in the index's
 * meta table so that a restart goes on where the last committed slice left it.
 *
 * Rows per level: the live tail's are counted when the index opens (a small table); the middle
 * levels' can be hundreds of millions of rows at mainnet's size, too many to count at each start,
 * so each slice's transaction saves them. They only steer merges: a reorg's deletes in a middle
 * level are not subtracted (a few blocks' rows), which at worst moves a merge by as many rows.
 */
import { BASE_LEVEL, levelMaxRows } from "../store/levels.ts";

/** A merge under way: the next slice to move, of how many. */
export interface MergeCursor {
  readonly slice: number;
  readonly slices: number;
}

export interface LevelState {
  /** Rows of each level below the base (index = level). */
  rows: number[];
  /** The merge under way of each level below the base, or null. */
  cursors: (MergeCursor | null)[];
}

export const emptyLevelState = (): LevelState => ({ rows: Array(BASE_LEVEL).fill(0), cursors: Array(BASE_LEVEL).fill(null) });

/**
 * The level whose merge runs next: the merge under way, if any (the lowest level's, should there
 * be two: a state saved by another build), else the highest level that is due (its rows reached
 * levelMaxRows). No level starves so: while blocks come faster than merges end (catching up after
 * a stop) the live tail is always due, and putting it first would leave the next level to grow
 * without bound; the highest first also makes room in a level before the one below it is merged
 * into it. The live tail grows meanwhile only by the blocks indexed during that merge (merges run
 * between blocks at ~70k rows/s; mainnet brings ~50 rows/s). Null: nothing is due.
 */
export function nextMergeLevel(state: LevelState, tailRows: number, fanout?: number): number | null {
  const underWay = state.cursors.findIndex((c) => c !== null);
  if (underWay >= 0) return underWay;
  for (let level = BASE_LEVEL - 1; level >= 0; level--) {
    const rows = state.rows[level] ?? 0;
    if (rows > 0 && rows >= levelMaxRows(level, tailRows, fanout)) return level;
  }
  return null;
}

/** The meta value of `state` (the live tail's rows are not saved: they are counted at open). */
export function encodeLevelState(state: LevelState): string {
  return JSON.stringify({ rows: state.rows.map((n, level) => (level === 0 ? 0 : n)), cursors: state.cursors });
}

/**
 * The state saved by encodeLevelState, or null when there is none or it does not fit this build's
 * levels (then the caller counts the rows and starts no merge: every state is a valid index).
 */
export function decodeLevelState(text: string | null): LevelState | null {
  if (text === null) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  const o = v as { rows?: unknown; cursors?: unknown };
  if (!Array.isArray(o.rows) || !Array.isArray(o.cursors) || o.rows.length !== BASE_LEVEL || o.cursors.length !== BASE_LEVEL) return null;
  if (!o.rows.every((n) => Number.isSafeInteger(n) && n >= 0)) return null;
  const cursors: (MergeCursor | null)[] = [];
  for (const c of o.cursors as unknown[]) {
    if (c === null) {
      cursors.push(null);
      continue;
    }
    const { slice, slices } = c as { slice?: unknown; slices?: unknown };
    if (!Number.isInteger(slices) || !Number.isInteger(slice) || (slice as number) < 0 || (slice as number) >= (slices as number)) return null;
    cursors.push({ slice: slice as number, slices: slices as number });
  }
  return { rows: o.rows as number[], cursors };
}
