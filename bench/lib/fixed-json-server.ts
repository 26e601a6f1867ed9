/**
 * The ceiling of the REST benchmark: the least a Bun HTTP server can do per request, a fetch
 * handler answering every request with the same ~1 KB JSON body (an Esplora /tx answer for a
 * 1-input, 2-output P2WPKH transaction). Run as its own process, like the real server:
 *
 *   bun bench/lib/fixed-json-server.ts [--port 0] [--host 127.0.0.1]
 *
 * It logs `fixed-json server listening on http://HOST:PORT (N bytes)` and serves until SIGTERM.
 */
import { parseArgs, stringArg } from "./args.ts";

const TXID = "5f4e3b2a1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f";
const PREV = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const BLOCK = "0000000000000000000215a2b1c8e3f1d4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9";
const SPK_IN = "0014751e76e8199196d454941c45d1b3a323f1433bd6";
const SPK_A = "00141d0f172a0ecb48aee1be1f2687d2963ae33f71a1";
const SPK_B = "0014e8df018c7e326cc253faac7e46cdc51e68542c42";

/** An Esplora /tx/:txid answer (field order as electrs writes it). */
export const FIXED_TX = {
  txid: TXID,
  version: 2,
  locktime: 0,
  vin: [
    {
      txid: PREV,
      vout: 1,
      prevout: {
        scriptpubkey: SPK_IN,
        scriptpubkey_asm: "OP_0 OP_PUSHBYTES_20 751e76e8199196d454941c45d1b3a323f1433bd6",
        scriptpubkey_type: "v0_p2wpkh",
        scriptpubkey_address: "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
        value: 1_250_000,
      },
      scriptsig: "",
      scriptsig_asm: "",
      witness: [
        "3044022036b8f5d4e8a9c7b1f2e3d4c5b6a7980f1e2d3c4b5a69788796a5b4c3d2e1f0022041a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f01",
        "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
      ],
      is_coinbase: false,
      sequence: 4294967293,
    },
  ],
  vout: [
    {
      scriptpubkey: SPK_A,
      scriptpubkey_asm: "OP_0 OP_PUSHBYTES_20 1d0f172a0ecb48aee1be1f2687d2963ae33f71a1",
      scriptpubkey_type: "v0_p2wpkh",
      scriptpubkey_address: "bcrt1qr583w2swedy2acd7rung055k8t3n7udp7vyzyg",
      value: 400_000,
    },
    {
      scriptpubkey: SPK_B,
      scriptpubkey_asm: "OP_0 OP_PUSHBYTES_20 e8df018c7e326cc253faac7e46cdc51e68542c42",
      scriptpubkey_type: "v0_p2wpkh",
      scriptpubkey_address: "bcrt1qar0srrr7xfkvy5l643lydnw9re59gtzz4xz3uz",
      value: 845_860,
    },
  ],
  size: 222,
  weight: 561,
  fee: 4_140,
  status: { confirmed: true, block_height: 812_345, block_hash: BLOCK, block_time: 1_700_000_000 },
};

export const FIXED_BODY = JSON.stringify(FIXED_TX);

if (import.meta.main) {
  const args = parseArgs(process.argv.slice(2), []);
  const hostname = stringArg(args, "host") ?? "127.0.0.1";
  const port = Number(stringArg(args, "port") ?? "0");
  const headers = { "content-type": "application/json" };
  const server = Bun.serve({
    hostname,
    port,
    fetch: () => new Response(FIXED_BODY, { headers }),
  });
  process.on("SIGTERM", () => {
    void server.stop(true);
    process.exit(0);
  });
  console.log(`fixed-json server listening on http://${hostname}:${server.port} (${FIXED_BODY.length} bytes)`);
}
