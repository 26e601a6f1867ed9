/**
 * Startup checks on the node (electrs' `Daemon::new`): a recent enough version, not pruned (the
 * index needs every block), and done with its initial block download, which is waited for.
 */
import { ConfigError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { NetworkName } from "../bitcoin/network.ts";
import type { DaemonClient } from "./rpc.ts";

/** Bitcoin Core 0.16.0: the oldest node electrs accepts. */
export const MIN_NODE_VERSION = 160000;

export interface NodeInfo {
  /** As getblockchaininfo says it: main, test, testnet4, regtest, signet. */
  chain: string;
  network: NetworkName;
  /** Core's integer version (300000 = 30.0.0); a string from nodes that are not Core (bcoin: "v1.0.2"). */
  version: number | string;
  subversion: string;
  /** Minimum relay fee, BTC/kvB. */
  relayFeeBtcPerKvB: number;
  blocks: number;
  headers: number;
  bestBlockHash: string;
}

export interface CheckNodeOptions {
  /** Interval between progress polls while the node is in initial block download. */
  pollMs: number;
  signal?: AbortSignal;
  /** When set, a node on another network is refused. */
  expectedNetwork?: NetworkName;
}

interface NetworkInfo {
  version: number | string;
  subversion?: string;
  relayfee?: number;
}

interface BlockchainInfo {
  chain: string;
  blocks: number;
  headers: number;
  bestblockhash: string;
  pruned: boolean;
  verificationprogress?: number;
  /** Absent from bcoin and from Core before 0.16. */
  initialblockdownload?: boolean;
}

/** getblockchaininfo's `chain` to our network name; throws ConfigError for anything else. */
export function chainNameToNetwork(chain: string): NetworkName {
  switch (chain) {
    case "main":
      return "mainnet";
    case "test":
      return "testnet";
    case "testnet4":
      return "testnet4";
    case "regtest":
      return "regtest";
    case "signet":
      return "signet";
    default:
      throw new ConfigError(`bitcoind reports an unknown chain "${chain}"`);
  }
}

export async function checkNode(
  client: Pick<DaemonClient, "call">,
  log: Logger,
  opts: CheckNodeOptions,
): Promise<NodeInfo> {
  const net = await client.call<NetworkInfo>("getnetworkinfo");
  if (typeof net.version === "number") {
    if (net.version < MIN_NODE_VERSION) {
      throw new ConfigError(`bitcoind version ${formatCoreVersion(net.version)} is too old (need ≥ 0.16)`);
    }
  } else {
    log.warn(`node reports version ${JSON.stringify(net.version)} (${net.subversion ?? "?"}), not Bitcoin Core's; skipping the version check`);
  }

  for (let first = true; ; first = false) {
    const info = await client.call<BlockchainInfo>("getblockchaininfo");
    if (info.pruned) throw new ConfigError("pruned node is not supported (use a node with -prune=0)");
    const network = chainNameToNetwork(info.chain);
    if (opts.expectedNetwork !== undefined && network !== opts.expectedNetwork) {
      throw new ConfigError(`bitcoind is on ${network} but electrs-bun is configured for ${opts.expectedNetwork}`);
    }
    if (first) log.info(`bitcoind ${net.subversion ?? String(net.version)} on ${network}, height ${info.blocks}`);
    if (info.initialblockdownload !== true && info.blocks >= info.headers) {
      return {
        chain: info.chain,
        network,
        version: net.version,
        subversion: net.subversion ?? "",
        relayFeeBtcPerKvB: net.relayfee ?? 0,
        blocks: info.blocks,
        headers: info.headers,
        bestBlockHash: info.bestblockhash,
      };
    }
    const fraction =
      typeof info.verificationprogress === "number"
        ? info.verificationprogress
        : info.headers > 0
          ? info.blocks / info.headers
          : 0;
    log.info(
      `waiting for bitcoind to finish initial block download: height ${info.blocks} of ${info.headers} (${(fraction * 100).toFixed(2)} %)`,
    );
    await abortableDelay(opts.pollMs, opts.signal);
  }
}

/** 150100 → "0.15.1" (pre-22 scheme, the only one that can be too old); later ones as major.minor.patch. */
function formatCoreVersion(v: number): string {
  if (v < 220000) {
    const parts = [0, Math.floor(v / 10000), Math.floor(v / 100) % 100];
    if (v % 100) parts.push(v % 100);
    return parts.join(".");
  }
  return `${Math.floor(v / 10000)}.${Math.floor(v / 100) % 100}.${v % 100}`;
}

function abortableDelay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
