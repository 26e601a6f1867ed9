/**
 * ZMTP decoder throughput: hashblock messages as bitcoind sends them, fed in TCP-sized chunks
 * (1460 bytes, so frames straddle chunk boundaries) and one byte at a time (worst case).
 *   bun bench/zmq-bench.ts [messages]
 */
import { ZmtpDecoder, encodeMessage, DEFAULT_MAX_FRAME_BYTES } from "../src/daemon/zmq.ts";

const n = Number(process.argv[2] ?? 200_000);
const topic = new TextEncoder().encode("hashblock");
const one = (i: number) => {
  const hash = new Uint8Array(32).fill(i & 0xff);
  const seq = new Uint8Array(4);
  new DataView(seq.buffer).setUint32(0, i, true);
  return encodeMessage([topic, hash, seq]);
};
const msgLen = one(0).length;
const stream = new Uint8Array(msgLen * n);
for (let i = 0; i < n; i++) stream.set(one(i), i * msgLen);

function run(label: string, chunkSize: number, count: number) {
  const decoder = new ZmtpDecoder(DEFAULT_MAX_FRAME_BYTES, false);
  const bytes = stream.subarray(0, msgLen * count);
  let frames = 0;
  const t0 = performance.now();
  for (let off = 0; off < bytes.length; off += chunkSize) {
    decoder.push(bytes.subarray(off, off + chunkSize), () => frames++);
  }
  const ms = performance.now() - t0;
  if (frames !== count * 3) throw new Error(`decoded ${frames} frames, expected ${count * 3}`);
  process.stdout.write(`${label}: ${count} messages in ${ms.toFixed(1)} ms (${Math.round(count / (ms / 1000))} msg/s)\n`);
}

run("1460-byte chunks", 1460, n);
run("1-byte chunks", 1, Math.min(n, 20_000));
