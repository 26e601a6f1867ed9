/**
 * The Electrum status of a script hash (peers-and-protocol.md §1.7): sha256 of the concatenated
 * `"<txid>:<height>:"` strings of its history in canonical order, hex, or null for no history.
 * The 1.6 mempool order (height 0 before -1, then txid display hex) is used at every version:
 * it is backward compatible, and one status per script serves every connection.
 */

/** One history entry as Electrum shows it: height > 0 confirmed, 0 mempool, -1 mempool with a mempool parent. */
export interface ElectrumHistoryEntry {
  /** Display-order hex. */
  readonly txidHex: string;
  readonly height: number;
  /** Mempool entries only: the fee in satoshis. */
  readonly feeSat?: number;
}

/** The canonical order of mempool entries: height 0 first, then -1; each group by txid display hex. */
export function compareMempoolEntries(a: ElectrumHistoryEntry, b: ElectrumHistoryEntry): number {
  if (a.height !== b.height) return b.height - a.height;
  return a.txidHex < b.txidHex ? -1 : a.txidHex > b.txidHex ? 1 : 0;
}

/**
 * Adds entries' `"<txid>:<height>:"` text to a status hash. (Long confirmed parts are written as
 * bytes instead: history-bytes.ts STATUS_ENTRY_TEXT, the same text.)
 */
export function hashStatusEntries(hasher: Bun.CryptoHasher, entries: readonly ElectrumHistoryEntry[]): void {
  for (const e of entries) hasher.update(`${e.txidHex}:${e.height}:`);
}

/** `entries` must already be in canonical order: confirmed by (height, position), then mempool. */
export function statusHash(entries: readonly ElectrumHistoryEntry[]): string | null {
  if (entries.length === 0) return null;
  const h = new Bun.CryptoHasher("sha256");
  hashStatusEntries(h, entries);
  return h.digest("hex");
}
