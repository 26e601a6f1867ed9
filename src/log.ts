/**
 * Leveled logger: one line per event, `LEVEL scope: message`, optional millisecond timestamp
 * (electrs' `--timestamp`). Verbosity follows electrs' BS-new rule: base INFO, `-v` DEBUG, `-vv` TRACE.
 * Nothing else in src/ writes to the console.
 */
export type Level = "error" | "warn" | "info" | "debug" | "trace";

export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  trace(msg: string): void;
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
  /** Where lines go; defaults to stderr. */
  sink?: (line: string) => void;
  now?: () => Date;
}

export function createLogger(opts: LoggerOptions, scope = ""): Logger {
  const max = Math.min(2 + Math.max(0, opts.verbosity), 4);
  const sink = opts.sink ?? writeStderr;
  const now = opts.now ?? (() => new Date());
  const emit = (level: Level, msg: string) => {
    if (RANK[level] > max) return;
    const ts = opts.timestamp ? now().toISOString() + " " : "";
    sink(`${ts}${level.toUpperCase().padEnd(5)} ${scope ? scope + ": " : ""}${msg}`);
  };
  return {
    error: (m) => emit("error", m),
    warn: (m) => emit("warn", m),
    info: (m) => emit("info", m),
    debug: (m) => emit("debug", m),
    trace: (m) => emit("trace", m),
    child: (s) => createLogger(opts, scope ? `${scope}.${s}` : s),
    enabled: (level) => RANK[level] <= max,
  };
}

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
