/** The levels' names, thresholds and compound queries (store/levels.ts), and the merge schedule (index/merge-schedule.ts). */
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { BASE_LEVEL, LEVELED_TABLES, LEVEL_COUNT, allLevels, levelDdl, levelMaxRows, levelTable } from "../../../src/store/levels.ts";
import { decodeLevelState, emptyLevelState, encodeLevelState, nextMergeLevel } from "../../../src/index/merge-schedule.ts";

describe("levels", () => {
  test("names: the live tail keeps its old names, the base is the table itself", () => {
    expect(LEVEL_COUNT).toBe(6);
    expect(levelTable("funding", 0)).toBe("funding_recent");
    expect(levelTable("txid_index", 0)).toBe("txid_recent");
    expect(levelTable("spend_history", 2)).toBe("spend_history_l2");
    expect(levelTable("unspent", BASE_LEVEL)).toBe("unspent");
    expect(() => levelTable("funding", LEVEL_COUNT)).toThrow(RangeError);
    expect(() => levelTable("funding", -1)).toThrow(RangeError);
  });

  test("thresholds: the tail's rows, LEVEL_FANOUT times more per level; the base is never due", () => {
    expect([0, 1, 2, 3, 4].map((l) => levelMaxRows(l, 400_000))).toEqual([400_000, 3_200_000, 25_600_000, 204_800_000, 1_638_400_000]);
    expect(levelMaxRows(2, 10, 3)).toBe(90);
    expect(() => levelMaxRows(BASE_LEVEL, 1)).toThrow(RangeError);
  });

  test("allLevels: one arm per level, oldest first, each table renamed; no leveled table is refused", () => {
    const q = allLevels("SELECT f.id FROM funding f JOIN outputs o ON o.id = f.id WHERE f.script = ?1", "ORDER BY 1");
    const arms = q.replace(/ ORDER BY 1$/, "").split(" UNION ALL ");
    expect(arms).toEqual([BASE_LEVEL, 4, 3, 2, 1, 0].map((l) => `SELECT f.id FROM ${levelTable("funding", l)} f JOIN outputs o ON o.id = f.id WHERE f.script = ?1`));
    // "spends" inside "spends_staging" or a column named like a table is left alone (whole words followed by a space).
    expect(allLevels("SELECT prev FROM spends WHERE prev = ?1").split(" UNION ALL ")[5]).toBe("SELECT prev FROM spends_recent WHERE prev = ?1");
    expect(() => allLevels("SELECT 1 FROM outputs")).toThrow(/no leveled table/);
  });

  test("the DDL creates every level below the base, idempotently", () => {
    const db = new Database(":memory:");
    db.exec(levelDdl());
    db.exec(levelDdl());
    const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    expect(names.length).toBe(LEVELED_TABLES.length * BASE_LEVEL);
    for (let l = 0; l < BASE_LEVEL; l++) for (const t of LEVELED_TABLES) expect(names).toContain(levelTable(t, l));
    db.close();
  });
});

describe("merge schedule", () => {
  const state = (rows: number[], cursors: ({ slice: number; slices: number } | null)[] = Array(BASE_LEVEL).fill(null)) => ({ rows, cursors });

  test("nothing due, the highest due level first, a merge under way before anything", () => {
    expect(nextMergeLevel(emptyLevelState(), 100)).toBeNull();
    expect(nextMergeLevel(state([99, 799, 0, 0, 0]), 100)).toBeNull();
    expect(nextMergeLevel(state([100, 0, 0, 0, 0]), 100)).toBe(0);
    expect(nextMergeLevel(state([500, 800, 0, 0, 0]), 100)).toBe(1);
    expect(nextMergeLevel(state([500, 800, 6400, 0, 0]), 100)).toBe(2);
    expect(nextMergeLevel(state([500, 800, 0, 0, 0], [null, null, null, { slice: 3, slices: 16 }, null]), 100)).toBe(3);
    expect(nextMergeLevel(state([500, 0, 0, 0, 0]), 100, 2)).toBe(0);
    expect(nextMergeLevel(state([0, 200, 0, 0, 0]), 100, 2)).toBe(1);
  });

  test("the saved state round-trips (the tail's rows are counted, not saved); anything else is refused", () => {
    const s = state([7, 1000, 20, 0, 5], [null, { slice: 4, slices: 128 }, null, null, null]);
    expect(decodeLevelState(encodeLevelState(s))).toEqual({ ...s, rows: [0, 1000, 20, 0, 5] });
    for (const bad of [null, "", "{", "[]", '{"rows":[1,2],"cursors":[null,null]}', JSON.stringify({ rows: [0, -1, 0, 0, 0], cursors: Array(5).fill(null) }),
      JSON.stringify({ rows: [0, 0, 0, 0, 0], cursors: [{ slice: 16, slices: 16 }, null, null, null, null] })])
      expect(decodeLevelState(bad)).toBeNull();
  });
});
