/** Typed access to the regtest-core30 ground truth (Core 30 RPC output) for the bitcoin-layer tests. */
import expectedJson from "../../fixtures/regtest-core30/expected.json" with { type: "json" };

export interface ExpectedBlock {
  readonly hash: string;
  readonly height: number;
  readonly version: number;
  readonly merkleroot: string;
  readonly time: number;
  readonly nonce: number;
  readonly bits: string;
  readonly size: number;
  readonly weight: number;
  readonly previousblockhash: string | null;
  readonly header: string;
  readonly txids: readonly string[];
}

export interface ExpectedTx {
  readonly hex: string;
  readonly height: number;
  readonly blockhash: string;
  readonly pos: number;
  readonly size: number;
  readonly vsize: number;
  readonly weight: number;
  readonly fee_sat: number | null;
}

export const expected = expectedJson as unknown as {
  readonly genesis: string;
  readonly blocks: readonly ExpectedBlock[];
  readonly txs: Readonly<Record<string, ExpectedTx>>;
};

export function expectedTx(txidHex: string): ExpectedTx {
  const t = expected.txs[txidHex];
  if (t === undefined) throw new Error(`fixture has no tx ${txidHex}`);
  return t;
}
