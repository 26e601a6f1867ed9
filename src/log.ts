/**
 * Leveled logger: one line per event. Text (`LEVEL scope: message`, optional millisecond
 * timestamp: electrs' `--timestamp`) or JSON for log shippers (`--log-format json`: one object per
 * line, `{"time","level","module","message","fields"}`). Verbosity follows electrs' BS-new rule:
 * base INFO, `-v` DEBUG, `-vv` TRACE. Nothing else in src/ writes to the console.
 */
export type Level = "error" | "warn" | "info" | "debug" | "trace";
export type LogFormat = "text" | "json";
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** Machine-readable values of one event: JSON's `fields`. Text lines leave them out (their message says the same for people). */
export type LogFields = Readonly<Record<string, string | number | boolean | null>>;

export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  trace(msg: string, fields?: LogFields): void;
  /** A logger whose lines are prefixed with `scope`. */
  child(scope: string): Logger;
  enabled(level: Level): boolean;
}

/**
 * A server must outlive its log reader: when stderr is a pipe whose reader went away (EPIPE), lines
 * are dropped instead of the error killing the process.
 */
let stderrGuarded = false;
function writeStderr(line: string): void {
  if (!stderrGuarded) {
    stderrGuarded = true;
    process.stderr.on("error", () => {});
  }
  try {
    process.stderr.write(line + "\n");
  } catch {
    // EPIPE raised synchronously: same as above.
  }
}

const RANK: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };

export interface LoggerOptions {
  /** Number of `-v` flags: 0 = info, 1 = debug, 2+ = trace. */
  verbosity: number;
  timestamp: boolean;
  /** Default "text". JSON lines always carry their time; `timestamp` only affects text. */
  format?: LogFormat;
  /** Where lines go; defaults to stderr. */
  sink?: (line: string) => void;
  now?: () => Date;
}

export function createLogger(opts: LoggerOptions, scope = ""): Logger {
  const max = Math.min(2 + Math.max(0, opts.verbosity), 4);
  const sink = opts.sink ?? writeStderr;
  const now = opts.now ?? (() => new Date());
  const format = opts.format === "json" ? jsonLine : textLine(opts.timestamp);
  const emit = (level: Level, msg: string, fields: LogFields | undefined) => {
    if (RANK[level] > max) return;
    sink(format(now(), level, scope, msg, fields ?? NO_FIELDS));
  };
  return {
    error: (m, f) => emit("error", m, f),
    warn: (m, f) => emit("warn", m, f),
    info: (m, f) => emit("info", m, f),
    debug: (m, f) => emit("debug", m, f),
    trace: (m, f) => emit("trace", m, f),
    child: (s) => createLogger(opts, scope ? `${scope}.${s}` : s),
    enabled: (level) => RANK[level] <= max,
  };
}

const NO_FIELDS: LogFields = {};
type LineFormat = (time: Date, level: Level, scope: string, msg: string, fields: LogFields) => string;

const textLine =
  (timestamp: boolean): LineFormat =>
  (time, level, scope, msg) =>
    `${timestamp ? time.toISOString() + " " : ""}${level.toUpperCase().padEnd(5)} ${scope ? scope + ": " : ""}${msg}`;

/** `module` is the logger's scope ("main" for the root logger); JSON.stringify escapes any newline in a message. */
const jsonLine: LineFormat = (time, level, scope, msg, fields) =>
  JSON.stringify({ time: time.toISOString(), level, module: scope || "main", message: msg, fields });

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger = (): Logger => createLogger({ verbosity: 0, timestamp: false, sink: () => {} });

/** The message of an error followed by each `cause`, as electrs prints error chains. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 8; depth++) {
    parts.push(cur instanceof Error ? cur.message : String(cur));
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return parts.join(": caused by: ");
}
