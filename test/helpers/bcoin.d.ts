/**
 * The small part of bcoin 1.0.2 (plain JavaScript, no typings) that the test helpers use.
 * Widen it here when a test needs more.
 */
declare module "bcoin" {
  interface BcoinScript {
    toRaw(): Buffer;
  }
  interface BcoinAddress {
    toString(network?: string): string;
  }
  interface BcoinKeyRing {
    getAddress(enc: "string", network?: string): string;
    getAddress(): BcoinAddress;
    toSecret(network?: string): string;
    getPublicKey(): Buffer;
    getPrivateKey(): Buffer;
  }
  interface BcoinTX {
    txid(): string;
    toRaw(): Buffer;
  }
  interface BcoinCoin {
    value: number;
  }
  interface BcoinMTX {
    addCoin(coin: BcoinCoin): this;
    addOutput(output: { address?: string | BcoinAddress; script?: BcoinScript; value: number }): unknown;
    sign(ring: BcoinKeyRing | BcoinKeyRing[]): number;
    toTX(): BcoinTX;
  }
  interface BcoinMempool {
    /** Resolves with the missing parent txids if the tx was orphaned; throws a VerifyError if rejected. */
    addTX(tx: BcoinTX): Promise<string[] | null>;
  }
  interface BcoinChain {
    height: number;
    tip: { rhash(): string; height: number };
  }
  interface BcoinFullNode {
    chain: BcoinChain;
    mempool: BcoinMempool;
    miner: unknown;
    rpc: { call(body: { method: string; params: unknown[]; id?: unknown }, query?: unknown): Promise<unknown> };
    open(): Promise<void>;
    connect(): Promise<void>;
    disconnect(): Promise<void>;
    close(): Promise<void>;
  }
  const bcoin: {
    FullNode: new (options: Record<string, unknown>) => BcoinFullNode;
    KeyRing: { generate(compressed?: boolean): BcoinKeyRing };
    Address: { fromScript(script: BcoinScript): BcoinAddress | null; fromString(addr: string, network?: string): BcoinAddress };
    TX: { fromRaw(raw: Buffer | Uint8Array): BcoinTX };
    MTX: new () => BcoinMTX;
    Coin: { fromTX(tx: BcoinTX, index: number, height: number): BcoinCoin };
    Script: { fromRaw(raw: Buffer | Uint8Array): BcoinScript; fromAddress(addr: BcoinAddress): BcoinScript };
  };
  export type { BcoinFullNode, BcoinKeyRing, BcoinAddress, BcoinScript, BcoinTX, BcoinMTX, BcoinCoin };
  export default bcoin;
}
