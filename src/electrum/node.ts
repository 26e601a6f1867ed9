/**
 * What the Electrum server asks of the node, as a narrow interface (scripted in tests), and its
 * implementation over the JSON-RPC client. With --offline there is no node: every call fails with
 * a DaemonUnreachableError, which the server answers as code 2 with that message.
 */
import type { DaemonClient } from "../daemon/rpc.ts";
import { withTimeout } from "../daemon/timeout.ts";
import { DaemonUnreachableError } from "../errors.ts";

export interface MempoolInfo {
  /** BTC/kvB each, as getmempoolinfo reports them. */
  readonly mempoolminfee: number;
  readonly minrelaytxfee: number;
  readonly incrementalrelayfee: number;
}

export interface ElectrumNode {
  /** `estimatesmartfee <target> [mode]`: BTC/kvB, or null when the node has no estimate. */
  estimateSmartFee(target: number, mode: string | null): Promise<number | null>;
  /** `getnetworkinfo`.relayfee, BTC/kvB. */
  relayFee(): Promise<number>;
  mempoolInfo(): Promise<MempoolInfo>;
  /** `sendrawtransaction <hex>`: the txid (display hex). */
  sendRawTransaction(txHex: string): Promise<string>;
  /** `submitpackage [hex…]`: Core's object, as is. */
  submitPackage(txHexes: readonly string[]): Promise<unknown>;
}

export const ELECTRUM_NODE_TIMEOUT_MS = 30_000;

export function offlineElectrumNode(): ElectrumNode {
  const refuse = async (): Promise<never> => {
    throw new DaemonUnreachableError("no bitcoind: the server runs with --offline");
  };
  return { estimateSmartFee: refuse, relayFee: refuse, mempoolInfo: refuse, sendRawTransaction: refuse, submitPackage: refuse };
}

export function electrumNodeOf(rpc: DaemonClient, timeoutMs = ELECTRUM_NODE_TIMEOUT_MS): ElectrumNode {
  const call = <T>(method: string, params: unknown[]): Promise<T> => withTimeout(method, rpc.call<T>(method, params), timeoutMs);
  const num = (method: string, v: unknown): number => {
    if (typeof v !== "number") throw new DaemonUnreachableError(`bitcoind sent a malformed reply to ${method}`);
    return v;
  };
  return {
    async estimateSmartFee(target, mode) {
      const r = await call<{ feerate?: unknown; errors?: unknown } | null>("estimatesmartfee", mode === null ? [target] : [target, mode]);
      const rate = r?.feerate;
      return typeof rate === "number" && rate >= 0 ? rate : null;
    },
    async relayFee() {
      const r = await call<{ relayfee?: unknown } | null>("getnetworkinfo", []);
      return num("getnetworkinfo", r?.relayfee);
    },
    async mempoolInfo() {
      const r = await call<Record<string, unknown> | null>("getmempoolinfo", []);
      return {
        mempoolminfee: num("getmempoolinfo", r?.["mempoolminfee"]),
        minrelaytxfee: num("getmempoolinfo", r?.["minrelaytxfee"]),
        incrementalrelayfee: num("getmempoolinfo", r?.["incrementalrelayfee"] ?? 0),
      };
    },
    async sendRawTransaction(txHex) {
      const txid = await call<unknown>("sendrawtransaction", [txHex]);
      if (typeof txid !== "string") throw new DaemonUnreachableError("bitcoind sent a malformed reply to sendrawtransaction");
      return txid;
    },
    submitPackage: (txHexes) => call("submitpackage", [txHexes]),
  };
}

