const N = 1_000_000;
const ids: Uint8Array[] = []; for (let i = 0; i < N; i++) { const a = new Uint8Array(32); crypto.getRandomValues(a); ids.push(a); }
const big = new Uint8Array(32 * N); ids.forEach((a, i) => big.set(a, 32 * i)); const views = ids.map((_, i) => big.subarray(32 * i, 32 * i + 32));
let t = performance.now();
let keys = views.map((v) => Buffer.from(v.buffer, v.byteOffset, 32).toString("latin1")); console.log("latin1 key", ((performance.now() - t)).toFixed(0), "ms");
t = performance.now(); const dv = new DataView(big.buffer);
const nums = views.map((v, i) => dv.getFloat64(32 * i + 0, true)); console.log("f64 key", ((performance.now() - t)).toFixed(0), "ms");
t = performance.now(); const m = new Map<string, number>(); keys.forEach((k, i) => m.set(k, i)); console.log("map set str", ((performance.now() - t)).toFixed(0), "ms");
t = performance.now(); let s = 0; for (const k of keys) s += m.get(k)!; console.log("map get str", ((performance.now() - t)).toFixed(0), "ms");
t = performance.now(); const m2 = new Map<number, number>(); views.forEach((v, i) => m2.set(dv.getUint32(32*i, true) * 2097152 + (dv.getUint32(32*i+4, true) & 0x1fffff), i)); console.log("map set num", ((performance.now() - t)).toFixed(0), "ms");
t = performance.now(); for (let i = 0; i < N; i++) { const x = new Uint8Array(Bun.SHA256.hash(views[i]!).buffer); } console.log("sha256+wrap", ((performance.now() - t)).toFixed(0), "ms");
t = performance.now(); for (let i = 0; i < N; i++) { const x = Bun.SHA256.hash(views[i]!); } console.log("sha256", ((performance.now() - t)).toFixed(0), "ms");
t = performance.now(); const out = new Uint8Array(32*N); for (let i = 0; i < N; i++) { Bun.SHA256.hash(views[i]!, out.subarray(32*i, 32*i+32)); } console.log("sha256 into sub", ((performance.now() - t)).toFixed(0), "ms");
