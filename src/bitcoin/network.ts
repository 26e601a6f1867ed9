/**
 * Per-network constants: block-file magic, genesis, Core's data subdirectory, electrs' default
 * ports and address prefixes. One frozen table so that nothing else hard-codes a network.
 */
import { ConfigError } from "../errors.ts";

export type NetworkName = "mainnet" | "testnet" | "testnet4" | "regtest" | "signet";

export interface DefaultPorts {
  /** bitcoind JSON-RPC. */
  readonly daemonRpc: number;
  /** Electrum protocol (TCP). */
  readonly electrum: number;
  /** Esplora REST. */
  readonly http: number;
  /** Prometheus metrics. */
  readonly monitoring: number;
}

export interface NetworkParams {
  readonly name: NetworkName;
  /** First 4 bytes of every blk*.dat record and P2P message, read as a little-endian u32. */
  readonly magic: number;
  /** Display hex. */
  readonly genesisHashHex: string;
  /** Subdirectory of Core's datadir holding this network's data ("" for mainnet). */
  readonly daemonSubdir: string;
  readonly ports: DefaultPorts;
  readonly bech32Hrp: string;
  readonly p2pkhVersion: number;
  readonly p2shVersion: number;
}

export const NETWORK_NAMES: readonly NetworkName[] = Object.freeze([
  "mainnet",
  "testnet",
  "testnet4",
  "regtest",
  "signet",
] as const);

function params(p: NetworkParams): NetworkParams {
  Object.freeze(p.ports);
  return Object.freeze(p);
}

export const NETWORKS: Readonly<Record<NetworkName, NetworkParams>> = Object.freeze({
  mainnet: params({
    name: "mainnet",
    magic: 0xd9b4bef9,
    genesisHashHex: "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
    daemonSubdir: "",
    ports: { daemonRpc: 8332, electrum: 50001, http: 3000, monitoring: 4224 },
    bech32Hrp: "bc",
    p2pkhVersion: 0x00,
    p2shVersion: 0x05,
  }),
  testnet: params({
    name: "testnet",
    magic: 0x0709110b,
    genesisHashHex: "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
    daemonSubdir: "testnet3",
    ports: { daemonRpc: 18332, electrum: 60001, http: 3001, monitoring: 14224 },
    bech32Hrp: "tb",
    p2pkhVersion: 0x6f,
    p2shVersion: 0xc4,
  }),
  testnet4: params({
    name: "testnet4",
    magic: 0x283f161c,
    genesisHashHex: "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
    daemonSubdir: "testnet4",
    ports: { daemonRpc: 48332, electrum: 40001, http: 3004, monitoring: 44224 },
    bech32Hrp: "tb",
    p2pkhVersion: 0x6f,
    p2shVersion: 0xc4,
  }),
  regtest: params({
    name: "regtest",
    magic: 0xdab5bffa,
    genesisHashHex: "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
    daemonSubdir: "regtest",
    ports: { daemonRpc: 18443, electrum: 60401, http: 3002, monitoring: 24224 },
    bech32Hrp: "bcrt",
    p2pkhVersion: 0x6f,
    p2shVersion: 0xc4,
  }),
  signet: params({
    name: "signet",
    magic: 0x40cf030a,
    genesisHashHex: "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
    daemonSubdir: "signet",
    ports: { daemonRpc: 38332, electrum: 60601, http: 3003, monitoring: 54224 },
    bech32Hrp: "tb",
    p2pkhVersion: 0x6f,
    p2shVersion: 0xc4,
  }),
});

/** Validates a `--network` value; the error lists the accepted names. */
export function parseNetworkName(s: string): NetworkName {
  if ((NETWORK_NAMES as readonly string[]).includes(s)) return s as NetworkName;
  throw new ConfigError(`unknown network ${JSON.stringify(s)}: expected one of ${NETWORK_NAMES.join(", ")}`);
}

/** The network whose block files start with `magic`, if any (to diagnose a wrong --blocks-dir). */
export function networkByMagic(magic: number): NetworkParams | undefined {
  for (const name of NETWORK_NAMES) {
    if (NETWORKS[name].magic === magic >>> 0) return NETWORKS[name];
  }
  return undefined;
}
