/**
 * The parts of the npm Electrum client libraries that the tests use: `electrum-client` 0.0.6 (plain
 * CommonJS, no typings) and `electrum-cash` 3.2.0 (its dist/index.d.ts cannot be reached through
 * its package.json "exports" under moduleResolution "bundler").
 */
declare module "electrum-client" {
  import type { EventEmitter } from "node:events";
  import type { Socket } from "node:net";

  /** A JSON-RPC error object, as the library rejects with it (not an Error). */
  export interface ElectrumClientRpcError {
    code: number;
    message: string;
  }

  export default class ElectrumClient {
    constructor(port: number, host: string, protocol?: "tcp" | "tls" | "ssl", options?: unknown);
    /** Notifications: emits the method name with the notification's params array. */
    readonly subscribe: EventEmitter;
    /** The TCP socket (emits "close"). */
    readonly conn: Socket;
    connect(): Promise<void>;
    /** Ends and destroys the socket at once; pending requests are rejected. */
    close(): void;
    /** Resolves with `result`; rejects with the `error` object. */
    request(method: string, params: unknown[]): Promise<unknown>;
    server_version(clientName: string, protocolVersion: string | [string, string]): Promise<[string, string]>;
    blockchainHeaders_subscribe(): Promise<{ height: number; hex: string }>;
    blockchainScripthash_subscribe(scripthash: string): Promise<string | null>;
    blockchainScripthash_getHistory(scripthash: string): Promise<{ tx_hash: string; height: number; fee?: number }[]>;
  }
}

declare module "electrum-cash" {
  import type { EventEmitter } from "node:events";

  type RPCParameter = string | number | boolean | null;

  /** The socket wrapper; emits "version" with `{ software, protocol }` or `{ error }` for the server.version answer. */
  export interface ElectrumConnection extends EventEmitter {
    status: number;
  }

  /** Emits "notification" with `{ jsonrpc, method, params }`, also for each subscribe() answer. */
  export class ElectrumClient extends EventEmitter {
    constructor(
      application: string,
      version: string,
      host: string,
      port?: number,
      scheme?: "tcp" | "tcp_tls" | "ws" | "wss",
      timeout?: number,
      pingInterval?: number,
      reconnectInterval?: number,
    );
    readonly connection: ElectrumConnection;
    /** Connects and negotiates `version` (rejects unless the server agrees to exactly it). */
    connect(): Promise<void>;
    disconnect(force?: boolean, retainSubscriptions?: boolean): Promise<boolean>;
    /** Resolves with the result, or with an Error for an error answer (never rejects for those). */
    request(method: string, ...parameters: RPCParameter[]): Promise<Error | unknown>;
    subscribe(method: string, ...parameters: RPCParameter[]): Promise<void>;
  }
}
