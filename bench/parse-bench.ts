/**
 * parseBlock throughput on one core. Builds (in memory) a ~2000-tx block from the regtest
 * fixture's real transactions (mostly P2WPKH spends, like mainnet), each varied in its lock time
 * so every txid differs, then parses it repeatedly until ≥ 1M txs have gone through.
 *
 *   bun bench/parse-bench.ts [totalTxs]
 */
import { parseBlock, parseTxExact, type ParseOptions } from "../src/bitcoin/block.ts";
import { concatBytes, hexToBytes } from "../src/bitcoin/bytes.ts";
import expected from "../test/fixtures/regtest-core30/expected.json" with { type: "json" };

const TXS_PER_BLOCK = 2000;
const totalTarget = Number(process.argv[2] ?? 1_000_000);

function varint(n: number): Uint8Array {
  if (n < 0xfd) return Uint8Array.of(n);
  if (n <= 0xffff) return Uint8Array.of(0xfd, n & 0xff, n >> 8);
  return Uint8Array.of(0xfe, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24);
}

function buildBlock(): Uint8Array {
  const all = Object.values(expected.txs).map((t) => hexToBytes(t.hex));
  const coinbase = all.find((raw) => parseTxExact(raw).isCoinbase);
  // Leave out the fixture's 250-input consolidation and the like: mainnet blocks are mostly small txs.
  const pool = all.filter((raw) => raw.length <= 2000 && !parseTxExact(raw).isCoinbase);
  if (coinbase === undefined || pool.length === 0) throw new Error("fixture has no usable txs");
  const parts: Uint8Array[] = [hexToBytes(expected.blocks[1]!.header), varint(TXS_PER_BLOCK), coinbase];
  for (let i = 1; i < TXS_PER_BLOCK; i++) {
    const tx = pool[i % pool.length]!.slice();
    new DataView(tx.buffer).setUint32(tx.length - 4, i, true); // lock time: distinct txids
    parts.push(tx);
  }
  return concatBytes(...parts);
}

const block = buildBlock();
const first = parseBlock(block);
const segwit = first.txs.filter((t) => t.hasWitness).length;
console.log(
  `block: ${first.txs.length} txs (${segwit} segwit), ${block.length} bytes, weight ${first.weight}, ` +
    `avg ${(block.length / first.txs.length).toFixed(0)} B/tx`,
);

/**
 * Timed in batches of 50 blocks (100k txs) so that a GC pause or a busy neighbour shows up as
 * one slow batch instead of skewing the whole figure.
 */
function measure(label: string, options: ParseOptions): void {
  // Warm-up so the JIT has compiled the hot path before timing.
  for (let i = 0; i < 50; i++) parseBlock(block, options);
  const BATCH_BLOCKS = 50;
  const batches = Math.max(1, Math.ceil(totalTarget / (first.txs.length * BATCH_BLOCKS)));
  const ratesMtx: number[] = [];
  let sink = 0;
  let totalNs = 0;
  for (let k = 0; k < batches; k++) {
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < BATCH_BLOCKS; i++) {
      const b = parseBlock(block, options);
      // Touch txid and outputs so nothing is optimised away.
      for (const tx of b.txs) sink += tx.txid[0]! + tx.outputs.length;
    }
    const ns = Bun.nanoseconds() - t0;
    totalNs += ns;
    ratesMtx.push((BATCH_BLOCKS * first.txs.length) / (ns / 1e9) / 1e6);
  }
  ratesMtx.sort((a, b) => a - b);
  const txs = batches * BATCH_BLOCKS * first.txs.length;
  const seconds = totalNs / 1e9;
  const median = ratesMtx[Math.floor(ratesMtx.length / 2)]!;
  console.log(
    `${label}: ${txs} txs in ${seconds.toFixed(3)} s: ${(txs / seconds / 1e6).toFixed(2)} M tx/s overall, ` +
      `${((batches * BATCH_BLOCKS * block.length) / seconds / 1e6).toFixed(0)} MB/s; ` +
      `per 100k-tx batch min ${ratesMtx[0]!.toFixed(2)} / median ${median.toFixed(2)} / max ${ratesMtx.at(-1)!.toFixed(2)} M tx/s ` +
      `(sink ${sink % 10})`,
  );
}

measure("parseBlock (full)", {});
measure("parseBlock (witness: false)", { witness: false });
