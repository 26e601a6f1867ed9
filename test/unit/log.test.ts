/** The logger's two line formats (log.ts): electrs-like text and one JSON object per line. */
import { describe, expect, test } from "bun:test";
import { createLogger, type LogFormat } from "../../src/log.ts";

const AT = new Date("2026-12-02T06:30:00.123Z");

function capture(format: LogFormat, verbosity = 0, timestamp = false) {
  const lines: string[] = [];
  const log = createLogger({ verbosity, timestamp, format, sink: (l) => lines.push(l), now: () => AT });
  return { log, lines };
}

describe("text", () => {
  test("[timestamp] LEVEL scope: message; the fields are for JSON (the message says the same)", () => {
    const { log, lines } = capture("text", 0, true);
    log.child("index").info("indexed height 7", { height: 7 });
    const plain = capture("text");
    plain.log.warn("plain");
    expect(lines).toEqual([`${AT.toISOString()} INFO  index: indexed height 7`]);
    expect(plain.lines).toEqual(["WARN  plain"]);
  });
});

describe("json", () => {
  test("one object per line: time, level, module, message, fields; the root logger's module is main", () => {
    const { log, lines } = capture("json");
    log.child("rest").child("http").warn("slow request", { route: "/tx/:txid", ms: 12.5 });
    log.error("boom");
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { time: AT.toISOString(), level: "warn", module: "rest.http", message: "slow request", fields: { route: "/tx/:txid", ms: 12.5 } },
      { time: AT.toISOString(), level: "error", module: "main", message: "boom", fields: {} },
    ]);
  });

  test("a message with newlines and quotes stays one line", () => {
    const { log, lines } = capture("json");
    log.info('line one\nline "two"');
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain("\n");
    expect(JSON.parse(lines[0]!).message).toBe('line one\nline "two"');
  });

  test("verbosity filters as in text: debug with -v, trace with -vv", () => {
    for (const [v, levels] of [[0, ["info"]], [1, ["info", "debug"]], [2, ["info", "debug", "trace"]]] as const) {
      const { log, lines } = capture("json", v);
      log.info("i");
      log.debug("d");
      log.trace("t");
      expect(lines.map((l) => JSON.parse(l).level)).toEqual([...levels]);
    }
  });
});
