/**
 * Where blocks come from. electrs' rule (FetchFrom): the initial sync reads Bitcoin Core's blk*.dat
 * files unless --jsonrpc-import; afterwards blocks come from `getblock <hash> 0`. The offline
 * source (no node at all) picks the most-work chain from the files themselves.
 *
 * A source answers three questions: its best tip, the best chain's hash at some heights, and the
 * raw blocks of a list of hashes, in order.
 */
import { statSync } from "node:fs";
import { hashToHex, hexToBytes, hexToHash } from "../bitcoin/bytes.ts";
import { ChainError } from "../errors.ts";
import type { Logger } from "../log.ts";
import {
  listBlkFiles,
  openBlockReader,
  readXorKey,
  scanBlkFile,
  type BlockLocation,
  type BlockReader,
} from "./blkfiles.ts";
import { BlockLocations } from "./block-locations.ts";
import { BlockTree } from "./block-tree.ts";
import type { DaemonClient } from "./rpc.ts";

export interface ChainTip {
  readonly height: number;
  readonly hash: Uint8Array;
}

export interface RawBlock {
  readonly height: number;
  readonly hash: Uint8Array;
  readonly bytes: Uint8Array;
  /** Set when the bytes were read from a blk file: blk<index>.dat, the block's first byte at dataPos. */
  readonly file?: { readonly index: number; readonly dataPos: number };
}

export interface ChainSource {
  /** For log lines: "blk files", "bitcoind RPC", … */
  readonly name: string;
  bestTip(): Promise<ChainTip>;
  /** Best-chain hash at each height; null above the tip. */
  hashesAt(heights: number[]): Promise<(Uint8Array | null)[]>;
  /** Raw blocks for `hashes` (heights from `firstHeight` on), in order, read ahead a little. */
  blocks(firstHeight: number, hashes: readonly Uint8Array[]): AsyncIterable<RawBlock>;
  close(): void;
}

// ---------------------------------------------------------------------------------------------
// bitcoind over JSON-RPC, optionally reading the bodies from the blk files.

export interface RpcSourceOptions {
  readonly rpc: DaemonClient;
  readonly log: Logger;
  /**
   * Blocks found in the blk files are read from there, the rest over RPC. A block not in the index
   * of the files yet makes it scan their new data once per batch first (a block just written).
   */
  readonly files?: BlkFileIndex;
  /** Blocks per getblock batch (default 16). */
  readonly blocksPerBatch?: number;
}

const RPC_OUT_OF_RANGE = -8;

export function rpcSource(opts: RpcSourceOptions): ChainSource {
  const { rpc } = opts;
  const perBatch = opts.blocksPerBatch ?? 16;
  return {
    name: opts.files ? "blk files" : "bitcoind RPC",
    async bestTip() {
      const hashHex = await rpc.call<string>("getbestblockhash");
      const header = await rpc.call<{ height: number }>("getblockheader", [hashHex, true]);
      return { height: header.height, hash: hexToHash(hashHex) };
    },
    async hashesAt(heights) {
      const out: (Uint8Array | null)[] = [];
      const settled = await rpc.batchSettled<string>("getblockhash", heights.map((h) => [h]), { chunkSize: 2000 });
      for (const s of settled) {
        if ("result" in s) out.push(hexToHash(s.result));
        else if (s.error.code === RPC_OUT_OF_RANGE) out.push(null);
        else throw s.error;
      }
      return out;
    },
    async *blocks(firstHeight, hashes) {
      // One batch is fetched while the previous one is being indexed (electrs' capacity-1 channel).
      const fetchRange = async (from: number): Promise<RawBlock[]> => {
        const slice = hashes.slice(from, from + perBatch);
        const files = opts.files;
        if (files && slice.some((h) => !files.get(h))) files.refresh();
        const fromFiles = slice.map((h) => (files ? readFromFiles(files, h) : null));
        const missing = slice.flatMap((h, i) => (fromFiles[i] ? [] : [[hashToHex(h), 0]]));
        const fetched = missing.length ? await rpc.batch<string>("getblock", missing, { chunkSize: perBatch }) : [];
        let m = 0;
        return slice.map((hash, i): RawBlock => {
          const height = firstHeight + from + i;
          const found = fromFiles[i];
          return found ? { ...found, height } : { height, hash, bytes: hexToBytes(fetched[m++]!) };
        });
      };
      let next = hashes.length > 0 ? fetchRange(0) : null;
      for (let from = 0; next; from += perBatch) {
        const batch = await next;
        next = from + perBatch < hashes.length ? fetchRange(from + perBatch) : null;
        yield* batch;
      }
    },
    close() {
      opts.files?.close();
    },
  };
}

/** The block from the blk files, with its place there; null when the files do not have it. */
function readFromFiles(files: BlkFileIndex, hash: Uint8Array): Omit<RawBlock, "height"> | null {
  const loc = files.get(hash);
  return loc ? { hash, bytes: files.read(loc), file: { index: loc.fileIndex, dataPos: loc.offset } } : null;
}

// ---------------------------------------------------------------------------------------------
// The blk files: an index of block locations by hash, kept up to date by incremental scans.

export interface BlkFileIndex {
  /** Scans new data (new files, and the growth of the last one); returns the new locations. */
  refresh(): BlockLocation[];
  get(hash: Uint8Array): BlockLocation | undefined;
  /** The bytes of a block at a location `get` gave. */
  read(loc: BlockLocation): Uint8Array;
  /**
   * Forgets the locations found so far but not where the scans stopped: later refreshes find only
   * blocks written from now on. After the initial sync, so that following the tip does not keep
   * every block's location in memory.
   */
  forget(): void;
  readonly size: number;
  close(): void;
}

/** Size and modification time (ns) of a file, or null if it cannot be read. */
function fileStamp(path: string): string | null {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.size}:${st.mtimeNs}`;
  } catch {
    return null;
  }
}

export function openBlkFileIndex(blocksDir: string, magic: number, log: Logger): BlkFileIndex {
  const xorKey = readXorKey(blocksDir);
  const locations = new BlockLocations();
  const resume = new Map<number, number>(); // file index → offset to continue from
  const complete = new Set<number>(); // files scanned while a later file existed: Core writes no more to them
  const stamps = new Map<number, string>(); // file index → size and mtime at its last scan
  let reader: BlockReader | null = null;
  let scannedAny = false;
  const index: BlkFileIndex = {
    refresh() {
      const found: BlockLocation[] = [];
      const files = listBlkFiles(blocksDir);
      const lastIndex = files.length ? files[files.length - 1]!.index : -1;
      for (const f of files) {
        const start = resume.get(f.index);
        // A file before the last one is complete once scanned; only the last one still grows.
        if (complete.has(f.index)) continue;
        // The last file is unchanged since its last scan: skip it. (Core preallocates blk files in
        // 16 MiB chunks of zeros; rescanning that tail on every poll cost ~45 % of a core at 50 ms.)
        const stamp = fileStamp(f.path);
        if (start !== undefined && stamp !== null && stamps.get(f.index) === stamp) continue;
        const r = scanBlkFile(f.path, f.index, magic, xorKey, { startOffset: start ?? 0 });
        for (const loc of r.locations) if (locations.add(loc)) found.push(loc);
        resume.set(f.index, r.endOffset);
        if (stamp !== null) stamps.set(f.index, stamp);
        if (f.index !== lastIndex) complete.add(f.index);
      }
      if (!scannedAny) {
        log.info(`blk files in ${blocksDir}: ${files.length} files, ${locations.count} blocks${xorKey ? " (xor.dat obfuscation)" : ""}`);
        scannedAny = true;
      } else if (found.length) {
        log.debug(`blk files: ${found.length} new blocks`);
      }
      return found;
    },
    get: (hash) => locations.get(hash),
    read(loc) {
      reader ??= openBlockReader(blocksDir, xorKey, { maxOpenFiles: 8 });
      return reader.read(loc);
    },
    forget() {
      locations.clear();
    },
    get size() {
      return locations.count;
    },
    close() {
      reader?.close();
      reader = null;
    },
  };
  return index;
}

// ---------------------------------------------------------------------------------------------
// Offline: no node. The best chain is the most-work chain of the headers found in the files that
// connects to the network's genesis block (Bitcoin Core's rule, without validating the blocks:
// Core wrote them, and the ones it rejected lose on work or were never connected).

export function offlineSource(files: BlkFileIndex, genesisHashHex: string, log: Logger): ChainSource {
  const tree = new BlockTree(hexToHash(genesisHashHex));
  const refresh = () => {
    if (tree.addAll(files.refresh().map((loc) => loc.header))) {
      log.debug(`offline best chain: height ${tree.tipHeight}, tip ${tree.tipHex}`);
    }
  };

  return {
    name: "blk files (offline)",
    // Asking for the tip is asking what is new: the files are scanned from where the last scan ended.
    async bestTip() {
      refresh();
      if (tree.tipHeight < 0) throw new ChainError(`no chain found in the blk files: the genesis block ${genesisHashHex} is not there`);
      return { height: tree.tipHeight, hash: tree.hashAt(tree.tipHeight)! };
    },
    async hashesAt(heights) {
      return heights.map((h) => tree.hashAt(h));
    },
    async *blocks(firstHeight, hashes) {
      for (let i = 0; i < hashes.length; i++) {
        const block = readFromFiles(files, hashes[i]!);
        if (!block) throw new ChainError(`block ${hashToHex(hashes[i]!)} vanished from the blk files`);
        yield { ...block, height: firstHeight + i };
      }
    },
    close() {
      files.close();
    },
  };
}

