/**
 * `blockchain.block.header(s)` with `cp_height` proofs (peers-and-protocol.md §1.8, §1.10): the
 * proof is a merkle branch over the block hashes of heights 0 … cp_height, for the requested
 * header (or the last returned one). Branch and root are display-order hex.
 *
 * Proofs come from the server's HeaderMerkleCache (header-merkle.ts), shared by every connection;
 * it checks itself against the store before each use, so a reorg needs no wiring
 * (`invalidateFrom(height)` only saves that check its bisection).
 */
import { bytesToHex, hashToHex } from "../bitcoin/bytes.ts";
import type { StoreReader } from "../store/read.ts";
import type { HeaderMerkleCache, ReadBlockHashes } from "./header-merkle.ts";
import { JsonBytes } from "./jsonrpc.ts";
import { badRequest, compareVersions, nonNegativeInt, optionalInt, required, type Version } from "./params.ts";

/** Headers per `blockchain.block.headers` call (ElectrumX, Fulcrum and electrs use 2016). */
export const MAX_HEADERS = 2016;

export interface HeaderProof {
  readonly branch: string[];
  readonly root: string;
}

function tipHeight(reader: StoreReader): number {
  return reader.tip()?.height ?? -1;
}

/** Block hashes read from the store, one range query per call. */
export function storeBlockHashes(reader: StoreReader): ReadBlockHashes {
  return (fromHeight, count) => reader.blockHashes(fromHeight, count);
}

export function headerProof(reader: StoreReader, merkle: HeaderMerkleCache, height: number, cpHeight: number): HeaderProof {
  const tip = tipHeight(reader);
  if (height > cpHeight) throw badRequest(`header height ${height} must be <= cp_height ${cpHeight}`);
  if (cpHeight > tip) throw badRequest(`cp_height ${cpHeight} is above the chain tip ${tip}`);
  const proof = merkle.proof(height, cpHeight);
  return { branch: proof.branch.map(hashToHex), root: hashToHex(proof.root) };
}

export function blockHeader(reader: StoreReader, merkle: HeaderMerkleCache, args: readonly unknown[]): unknown {
  const height = nonNegativeInt(required(args, 0, "height"), "height");
  const cpHeight = optionalInt(args[1], "cp_height", 0);
  const block = reader.blockAt(height);
  if (!block) throw badRequest(`height ${height} out of range (tip ${tipHeight(reader)})`);
  const header = bytesToHex(block.header);
  if (cpHeight === 0) return header;
  const proof = headerProof(reader, merkle, height, cpHeight);
  return { branch: proof.branch, header, root: proof.root };
}

/**
 * `blockchain.block.headers` answers, serialized once (as bytes) and shared by every connection: clients
 * that sync ask for the same 2016-header chunks, and one chunk is ~322 kB of hex to read and
 * encode (2016 store reads) where writing out the same bytes costs no copy. A flood of pipelined
 * header requests (#12) is answered at the speed the kernel takes the bytes instead of holding
 * the loop and making garbage. Entries are valid for one chain tip (a new block or a reorg starts
 * over) and the oldest goes past `maxEntries` (at mainnet's size, 16 chunks ≈ 5.3 MB).
 */
export class HeaderChunkCache {
  private tipHashHex = "";
  private readonly entries = new Map<string, JsonBytes>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** The answer for `key` at the tip `tipHashHex`, from `make` when not cached. */
  get(tipHashHex: string, key: string, make: () => unknown): JsonBytes {
    if (tipHashHex !== this.tipHashHex) {
      this.entries.clear();
      this.tipHashHex = tipHashHex;
    }
    let hit = this.entries.get(key);
    if (hit !== undefined) return hit;
    hit = JsonBytes.of(JSON.stringify(make()));
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, hit);
    return hit;
  }
}

export function blockHeaders(reader: StoreReader, merkle: HeaderMerkleCache, args: readonly unknown[], version: Version, chunks: HeaderChunkCache): JsonBytes {
  const start = nonNegativeInt(required(args, 0, "start_height"), "start_height");
  const wanted = Math.min(nonNegativeInt(required(args, 1, "count"), "count"), MAX_HEADERS);
  const cpHeight = optionalInt(args[2], "cp_height", 0);
  const tip = reader.tip();
  const shape = compareVersions(version, [1, 6]) >= 0 ? "list" : "hex";
  return chunks.get(tip === null ? "" : hashToHex(tip.hash), `${start} ${wanted} ${cpHeight} ${shape}`, () => readHeaders(reader, merkle, start, wanted, cpHeight, version));
}

function readHeaders(reader: StoreReader, merkle: HeaderMerkleCache, start: number, wanted: number, cpHeight: number, version: Version): Record<string, unknown> {
  const headers: string[] = [];
  for (let h = start; h < start + wanted; h++) {
    const b = reader.blockAt(h);
    if (!b) break;
    headers.push(bytesToHex(b.header));
  }
  const count = headers.length;
  const result: Record<string, unknown> =
    compareVersions(version, [1, 6]) >= 0 ? { count, headers, max: MAX_HEADERS } : { count, hex: headers.join(""), max: MAX_HEADERS };
  if (cpHeight !== 0 && count > 0) {
    const proof = headerProof(reader, merkle, start + count - 1, cpHeight);
    result["branch"] = proof.branch;
    result["root"] = proof.root;
  }
  return result;
}
