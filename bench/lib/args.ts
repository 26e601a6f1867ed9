/** Tiny `--flag value` / `--switch` parser shared by the bench CLIs (no dependency needed). */
import { defaultServeWorkers } from "../../src/config.ts";

export type Args = Map<string, string | true>;

export function parseArgs(argv: readonly string[], switches: readonly string[]): Args {
  const args: Args = new Map();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf("=");
    if (eq > 0) {
      args.set(a.slice(2, eq), a.slice(eq + 1));
    } else if (switches.includes(a.slice(2))) {
      args.set(a.slice(2), true);
    } else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      args.set(a.slice(2), v);
    }
  }
  return args;
}

export function stringArg(args: Args, name: string): string | undefined {
  const v = args.get(name);
  if (v === true) throw new Error(`--${name} needs a value`);
  return v;
}

export type NumberRule = "positive" | "non-negative" | "positive integer";

/** `--name N`, or `fallback` when absent; a value breaking `rule` is an error naming the flag. */
export function numberArg(args: Args, name: string, fallback: number, rule: NumberRule): number {
  const v = stringArg(args, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  const ok = Number.isFinite(n) && (rule === "non-negative" ? n >= 0 : n > 0) && (rule !== "positive integer" || Number.isInteger(n));
  if (!ok) throw new Error(`--${name} must be a ${rule === "positive integer" ? rule : `${rule} number`}`);
  return n;
}

/** A count such as 200000, 200k, 2m or 2M. */
export function parseCount(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text.trim());
  if (!m) throw new Error(`not a count: ${text}`);
  const mult = m[2] === "" ? 1 : m[2]!.toLowerCase() === "k" ? 1e3 : 1e6;
  return Math.round(Number(m[1]) * mult);
}

export function countArg(args: Args, name: string, fallback?: number): number {
  const v = stringArg(args, name);
  if (v === undefined) {
    if (fallback === undefined) throw new Error(`--${name} is required`);
    return fallback;
  }
  return parseCount(v);
}

/** --serve-workers "1,2": positive integers; default 1 and the machine's core count (the server's own default). */
export function workersList(text: string | undefined): number[] {
  const list = text === undefined ? [1, defaultServeWorkers()] : text.split(",").map((s) => Number(s.trim()));
  for (const n of list) if (!Number.isInteger(n) || n < 1) throw new Error(`--serve-workers takes positive integers separated by commas, not ${text}`);
  return [...new Set(list)];
}
