/**
 * --precache-scripts: electrs' precache. A file of `type,value` lines (`address,<address>`,
 * `scripthash,<sha256 hex, natural order as in REST>`, `scriptpubkey,<hex>`) names scripts whose
 * stats are computed once at start, so that their first query reads the saved sums (store
 * script_stats) instead of the whole history. It runs after the servers start (as BS-new does),
 * one script at a time with a yield to the event loop in between, so queries keep being answered.
 */
import { addressToScript } from "../bitcoin/address.ts";
import { bytesToHex, hexToBytes } from "../bitcoin/bytes.ts";
import type { NetworkParams } from "../bitcoin/network.ts";
import type { Logger } from "../log.ts";
import type { StoreReader } from "../store/read.ts";
import { scriptKeyFromHash, scriptKeyOf } from "../store/rows.ts";

export interface PrecacheList {
  /** 11-byte script keys, duplicates removed, in file order. */
  readonly keys: Uint8Array[];
  /** One message per line that could not be used (`line N: …`). */
  readonly errors: string[];
}

/** Parses the file's text; bad lines are reported, never fatal (electrs would panic on them). */
export function parsePrecacheList(text: string, network: NetworkParams): PrecacheList {
  const keys: Uint8Array[] = [];
  const errors: string[] = [];
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const comma = line.indexOf(",");
    const kind = comma < 0 ? line : line.slice(0, comma);
    const value = comma < 0 ? "" : line.slice(comma + 1).trim();
    try {
      const key = keyOf(kind, value, network);
      const hex = bytesToHex(key);
      if (seen.has(hex)) continue;
      seen.add(hex);
      keys.push(key);
    } catch (err) {
      errors.push(`line ${i + 1}: ${(err as Error).message}`);
    }
  }
  return { keys, errors };
}

function keyOf(kind: string, value: string, network: NetworkParams): Uint8Array {
  switch (kind) {
    case "address":
      return scriptKeyOf(addressToScript(value, network));
    case "scripthash": {
      if (!/^[0-9a-fA-F]{64}$/.test(value)) throw new Error(`invalid scripthash ${JSON.stringify(value)} (64 hex digits expected)`);
      return scriptKeyFromHash(hexToBytes(value));
    }
    case "scriptpubkey": {
      if (!/^([0-9a-fA-F]{2})*$/.test(value)) throw new Error(`invalid scriptpubkey hex ${JSON.stringify(value)}`);
      return scriptKeyOf(hexToBytes(value));
    }
    default:
      throw new Error(`unknown type ${JSON.stringify(kind)} (expected address, scripthash or scriptpubkey)`);
  }
}

export interface PrecacheOptions {
  readonly reader: StoreReader;
  readonly keys: readonly Uint8Array[];
  readonly log: Logger;
  readonly signal?: AbortSignal;
  /** Progress line interval (default 5 s). */
  readonly progressMs?: number;
}

/** Computes (and so saves) the stats of every key; resolves with the number done. */
export async function precacheStats(opts: PrecacheOptions): Promise<number> {
  const { reader, keys, log } = opts;
  const t0 = performance.now();
  let lastReport = t0;
  const every = opts.progressMs ?? 5000;
  log.info(`precaching the stats of ${keys.length} scripts`);
  let done = 0;
  for (const key of keys) {
    if (opts.signal?.aborted) break;
    reader.stats(key);
    done++;
    const now = performance.now();
    if (now - lastReport >= every) {
      lastReport = now;
      log.info(`precached ${done}/${keys.length} scripts (${((done / keys.length) * 100).toFixed(1)} %)`);
    }
    // Let pending requests run between scripts.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  log.info(`precached the stats of ${done}/${keys.length} scripts in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return done;
}
