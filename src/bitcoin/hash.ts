/** Hashes used by the index. Bun.CryptoHasher is native and several times faster than JS SHA-256. */
const hasher = () => new Bun.CryptoHasher("sha256");

export function sha256(data: Uint8Array): Uint8Array {
  // Hashing into our own array: reading `.buffer` off Bun's result costs more than the hash of 80 bytes.
  const out = new Uint8Array(32);
  Bun.SHA256.hash(data, out);
  return out;
}

/** SHA256(SHA256(data)): txids, wtxids, block hashes, merkle nodes (internal byte order). */
export function sha256d(data: Uint8Array): Uint8Array {
  return sha256(sha256(data));
}

/** SHA256d over several slices without concatenating them (txid of a segwit tx: version‖ins‖outs‖locktime). */
export function sha256dParts(parts: readonly Uint8Array[]): Uint8Array {
  const h = hasher();
  for (const p of parts) h.update(p);
  return sha256(h.digest() as Uint8Array);
}

/**
 * Script hash = sha256(scriptPubKey), natural byte order. REST `/scripthash/:hash` takes its hex
 * as is; the Electrum protocol takes the reversed hex.
 */
export function scriptHash(script: Uint8Array): Uint8Array {
  return sha256(script);
}
