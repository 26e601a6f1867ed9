/**
 * What the REST API asks of the node (broadcast, package checks, fee estimates), as a narrow
 * interface so that tests script it, and its implementation over the JSON-RPC client. Node
 * refusals arrive as DaemonError (`<method> RPC error <code>: <message>`, electrs' text).
 */
import type { DaemonClient } from "../daemon/rpc.ts";
import { withTimeout } from "../daemon/timeout.ts";
import { DaemonUnreachableError } from "../errors.ts";

/** estimatesmartfee's answer for one target: the feerate in BTC/kvB, or null when the node has none. */
export type FeeRateBtcPerKvB = number | null;

export interface RestNode {
  /** `sendrawtransaction <hex>`: the txid (display hex). */
  sendRawTransaction(txHex: string): Promise<string>;
  /** `testmempoolaccept [hex…] (maxfeerate)`: Core's array, as is. */
  testMempoolAccept(txHexes: readonly string[], maxFeeRate: number | null): Promise<unknown>;
  /** `submitpackage [hex…] (maxfeerate maxburnamount)`: Core's object, as is. */
  submitPackage(txHexes: readonly string[], maxFeeRate: number | null, maxBurnAmount: number | null): Promise<unknown>;
  /** `estimatesmartfee <target> ECONOMICAL` for each target, in one batch. */
  estimateSmartFee(targets: readonly number[]): Promise<FeeRateBtcPerKvB[]>;
  /** `getblocktemplate {"rules":["segwit"]}` (Core refuses a template without the segwit rule): the node's object, as is. */
  getBlockTemplate(): Promise<unknown>;
}

export interface RestNodeOptions {
  /**
   * A call not answered in this time fails with DaemonUnreachableError (504). The client retries a
   * node that is down forever (electrs' main loop wants that); a REST caller must not wait forever.
   */
  timeoutMs: number;
}

/** How long a REST caller waits for the node by default. */
export const NODE_TIMEOUT_MS = 30_000;

/**
 * --offline has no node: broadcasts are refused as with an unreachable node (504), and there are
 * no fee estimates (`{}`, as on a node that has none).
 */
export function offlineRestNode(): RestNode {
  const refuse = async (): Promise<never> => {
    throw new DaemonUnreachableError("no bitcoind to send to: the server runs with --offline");
  };
  return {
    sendRawTransaction: refuse,
    testMempoolAccept: refuse,
    submitPackage: refuse,
    estimateSmartFee: async (targets) => targets.map(() => null),
    getBlockTemplate: refuse,
  };
}

/** Optional trailing RPC params: Core takes positional args, so a later one forces the earlier ones. */
function trailing(...values: (number | null)[]): (number | null)[] {
  let n = values.length;
  while (n > 0 && values[n - 1] === null) n--;
  return values.slice(0, n);
}

export function restNodeOf(rpc: DaemonClient, opts: RestNodeOptions = { timeoutMs: NODE_TIMEOUT_MS }): RestNode {
  const call = <T>(method: string, params: unknown[]): Promise<T> => withTimeout(method, rpc.call<T>(method, params), opts.timeoutMs);
  return {
    async sendRawTransaction(txHex) {
      const txid = await call<unknown>("sendrawtransaction", [txHex]);
      if (typeof txid !== "string") throw new DaemonUnreachableError("bitcoind sent a malformed reply to sendrawtransaction");
      return txid;
    },
    testMempoolAccept: (txHexes, maxFeeRate) => call("testmempoolaccept", [txHexes, ...trailing(maxFeeRate)]),
    submitPackage: (txHexes, maxFeeRate, maxBurnAmount) => call("submitpackage", [txHexes, ...trailing(maxFeeRate, maxBurnAmount)]),
    getBlockTemplate: () => call("getblocktemplate", [{ rules: ["segwit"] }]),
    async estimateSmartFee(targets) {
      const settled = await withTimeout(
        "estimatesmartfee",
        rpc.batchSettled<{ feerate?: unknown; errors?: unknown }>("estimatesmartfee", targets.map((t) => [t, "ECONOMICAL"])),
        opts.timeoutMs,
      );
      return settled.map((s) => {
        if ("error" in s) return null;
        const rate = s.result?.feerate;
        return typeof rate === "number" && rate >= 0 && s.result.errors == null ? rate : null;
      });
    },
  };
}

