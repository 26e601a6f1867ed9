/**
 * JSON-RPC client for bitcoind (electrs' `Daemon`): single calls and batch arrays over HTTP POST,
 * at most `parallelism` requests in flight (Bun's fetch keeps the connections alive and pooled).
 *
 * Failures that a running or restarting node produces on its own (connection refused or reset,
 * no answer in time, HTTP 503 "work queue depth exceeded", RPC -28 "warming up", a 401 after the
 * node rewrote its cookie) are retried with exponential backoff; every other RPC error is thrown
 * at once as a DaemonError. One WARN line per outage episode and one INFO line on recovery keep
 * the log readable when many requests fail together.
 */
import { DaemonError, DaemonUnreachableError, ConfigError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { NO_TRACING, type Span, type Tracing } from "../trace/tracing.ts";
import type { AuthSource } from "./cookie.ts";

export interface RpcMetrics {
  /** Latency of one HTTP exchange (a single call or one batch chunk), in seconds. */
  observeRpc(method: string, seconds: number): void;
  /** Request and response body sizes. */
  observeBytes(method: string, dir: "send" | "recv", bytes: number): void;
  /** Each failed attempt by its kind (connection, auth, busy, warmup), and "unreachable" for a failure that is not retried or a give-up. */
  observeError(method: string, kind: string): void;
}

export interface RetryPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  /** Throw DaemonUnreachableError once a request has kept failing this long; absent = retry forever (electrs). */
  giveUpAfterMs?: number;
}

export type FetchFn = (url: string, init: RequestInit) => Promise<Response>;

export interface DaemonClientOptions {
  /** e.g. `http://127.0.0.1:18443` */
  url: string;
  /**
   * Another node (electrs' --daemon-rpc-fallback-addr), same credentials: a request whose node
   * cannot be reached goes to the other one, once that one proved to be on the same chain
   * (`getblockhash 0` = `genesisHashHex`). The client stays where it went until that node fails.
   */
  fallbackUrl?: string | null;
  /** The chain's genesis (display hex); needed with `fallbackUrl`. */
  genesisHashHex?: string;
  auth: AuthSource;
  /** Maximum HTTP requests in flight (electrs' `--daemon-parallelism`). */
  parallelism: number;
  log: Logger;
  metrics?: RpcMetrics;
  retry?: RetryPolicy;
  /** Requests per batch POST; default 500. */
  maxBatchSize?: number;
  /** An exchange not answered in this time is aborted and retried like a lost connection; default none. */
  requestTimeoutMs?: number;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: FetchFn;
  /** A span per exchange (method, batch size, bytes each way, attempts); default none. */
  tracing?: Tracing;
}

/** One element of `batchSettled`: an RPC error of one element is a value, not an exception. */
export type Settled<T> = { result: T } | { error: DaemonError };

export interface BatchOptions {
  /** Overrides the client's `maxBatchSize`, e.g. smaller for `getblock` of big blocks. */
  chunkSize?: number;
}

export const DEFAULT_RETRY: RetryPolicy = { initialDelayMs: 100, maxDelayMs: 3000 };
const DEFAULT_BATCH_SIZE = 500;
const WARMING_UP = -28;
const utf8 = new TextDecoder();

interface RpcReply {
  result?: unknown;
  error?: { code?: unknown; message?: unknown } | null;
  id?: unknown;
}

/** A failure worth retrying; `reason` is the log text; `endpoint`: the node it came from (a connection failure). */
class Transient extends Error {
  constructor(
    readonly reason: string,
    readonly kind: "connection" | "auth" | "busy" | "warmup",
    readonly endpoint = -1,
  ) {
    super(reason);
  }
}

/** A node the client can send to: its URL, its host for messages, and whether it proved to be on our chain. */
interface Endpoint {
  readonly url: string;
  readonly host: string;
  /** null: not checked yet (the first node is trusted: the start-up check looks at it). */
  sameChain: boolean | null;
}

export class DaemonClient {
  private readonly endpoints: Endpoint[];
  /** The endpoint requests go to. */
  private active = 0;
  private readonly genesisHashHex: string | null;
  private readonly auth: AuthSource;
  private readonly log: Logger;
  private readonly metrics: RpcMetrics | undefined;
  private retry: RetryPolicy;
  private readonly maxBatchSize: number;
  private readonly requestTimeoutMs: number | undefined;
  private readonly fetchFn: FetchFn;
  private readonly slots: Slots;
  private readonly tracing: Tracing;
  private readonly closing = new AbortController();
  private nextId = 1;
  /** The reason last logged at WARN while requests are failing; null when healthy. */
  private outage: string | null = null;
  private outageSinceMs = 0;

  constructor(opts: DaemonClientOptions) {
    if (!Number.isInteger(opts.parallelism) || opts.parallelism < 1) {
      throw new ConfigError(`daemon parallelism must be a positive integer, got ${opts.parallelism}`);
    }
    const hostOf = (url: string) => {
      try {
        return new URL(url).host;
      } catch (err) {
        throw new ConfigError(`invalid bitcoind RPC URL ${url}`, { cause: err });
      }
    };
    this.endpoints = [{ url: opts.url, host: hostOf(opts.url), sameChain: true }];
    if (opts.fallbackUrl) {
      if (!opts.genesisHashHex) throw new ConfigError("a fallback bitcoind needs the chain's genesis hash to be checked against");
      this.endpoints.push({ url: opts.fallbackUrl, host: hostOf(opts.fallbackUrl), sameChain: null });
    }
    this.genesisHashHex = opts.genesisHashHex ?? null;
    this.auth = opts.auth;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.maxBatchSize = opts.maxBatchSize ?? DEFAULT_BATCH_SIZE;
    this.requestTimeoutMs = opts.requestTimeoutMs;
    this.fetchFn = opts.fetch ?? ((url, init) => fetch(url, init));
    this.slots = new Slots(opts.parallelism);
    this.tracing = opts.tracing ?? NO_TRACING;
  }

  /** One RPC; throws DaemonError for an RPC error, DaemonUnreachableError past the retry window or after close(). */
  async call<T>(method: string, params: unknown[] = []): Promise<T> {
    const payload = JSON.stringify({ jsonrpc: "1.0", id: this.nextId++, method, params });
    const reply = await this.exchange(method, payload, 1);
    if (!isReply(reply)) throw this.malformed(method, "not a JSON-RPC object");
    return unwrap<T>(method, reply);
  }

  /**
   * The same method for every params list, results in input order. An element's RPC error is
   * thrown as a DaemonError (if several fail, whichever chunk answers first decides which).
   */
  async batch<T>(method: string, paramsList: unknown[][], opts?: BatchOptions): Promise<T[]> {
    const out = new Array<T>(paramsList.length);
    await this.runBatch(method, paramsList, opts, (i, reply) => {
      out[i] = unwrap<T>(method, reply);
    });
    return out;
  }

  /** Like batch, but an element's RPC error is returned in its slot (a mempool tx gone meanwhile is normal). */
  async batchSettled<T>(method: string, paramsList: unknown[][], opts?: BatchOptions): Promise<Settled<T>[]> {
    const out = new Array<Settled<T>>(paramsList.length);
    await this.runBatch(method, paramsList, opts, (i, reply) => {
      try {
        out[i] = { result: unwrap<T>(method, reply) };
      } catch (err) {
        if (!(err instanceof DaemonError)) throw err;
        out[i] = { error: err };
      }
    });
    return out;
  }

  /**
   * Replaces the retry policy for requests started from now on, e.g. a give-up window during
   * startup checks, then retry forever (electrs) once running.
   */
  setRetryPolicy(policy: RetryPolicy): void {
    this.retry = policy;
  }

  /** Aborts requests in flight and backoff waits; later calls fail with DaemonUnreachableError. */
  close(): void {
    this.closing.abort();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private async runBatch(
    method: string,
    paramsList: unknown[][],
    opts: BatchOptions | undefined,
    sink: (index: number, reply: RpcReply) => void,
  ): Promise<void> {
    const size = Math.max(1, opts?.chunkSize ?? this.maxBatchSize);
    const chunks: Promise<void>[] = [];
    for (let start = 0; start < paramsList.length; start += size) {
      chunks.push(this.runChunk(method, paramsList, start, Math.min(paramsList.length, start + size), sink));
    }
    await Promise.all(chunks);
  }

  private async runChunk(
    method: string,
    paramsList: unknown[][],
    start: number,
    end: number,
    sink: (index: number, reply: RpcReply) => void,
  ): Promise<void> {
    const firstId = this.nextId;
    this.nextId += end - start;
    const requests = [];
    for (let i = start; i < end; i++) {
      requests.push({ jsonrpc: "1.0", id: firstId + (i - start), method, params: paramsList[i] });
    }
    const reply = await this.exchange(method, JSON.stringify(requests), end - start);
    if (!Array.isArray(reply)) {
      // The node rejected the batch as a whole (e.g. a parse error): that is not an element's error.
      if (isReply(reply) && reply.error != null) unwrap(method, reply);
      throw this.malformed(method, "a batch request was not answered with an array");
    }
    // Match by id: JSON-RPC does not promise that a batch is answered in order.
    const byId = new Map<number, RpcReply>();
    for (const r of reply) {
      if (isReply(r) && typeof r.id === "number") byId.set(r.id, r);
    }
    for (let i = start; i < end; i++) {
      const r = byId.get(firstId + (i - start));
      if (r === undefined) throw this.malformed(method, `no reply for batch element ${i}`);
      sink(i, r);
    }
  }

  /** Sends one request body (`calls` requests), retrying transient failures; returns the parsed JSON reply. */
  private exchange(method: string, payload: string, calls: number): Promise<unknown> {
    if (!this.tracing.enabled) return this.exchangeWithRetries(method, payload, null);
    const attrs = { "rpc.system": "jsonrpc", "rpc.method": method, "rpc.batch_size": calls, "rpc.request_bytes": Buffer.byteLength(payload) };
    return this.tracing.inSpan(`bitcoind ${method}`, attrs, (span) => this.exchangeWithRetries(method, payload, span));
  }

  private async exchangeWithRetries(method: string, payload: string, span: Span | null): Promise<unknown> {
    const policy = this.retry;
    let attempts = 0;
    let delayMs = policy.initialDelayMs;
    let firstFailureMs: number | undefined;
    let switchedAtOnce = false;
    for (;;) {
      let failure: Transient;
      try {
        span?.setAttributes({ "rpc.attempts": ++attempts });
        const reply = await this.attempt(method, payload, span);
        const warmup = warmupMessage(reply);
        if (warmup === undefined) {
          this.recovered();
          return reply;
        }
        failure = new Transient(`bitcoind warming up: ${warmup}`, "warmup");
      } catch (err) {
        if (err instanceof DaemonUnreachableError) this.metrics?.observeError(method, "unreachable");
        if (!(err instanceof Transient)) throw err;
        failure = err;
      }
      this.metrics?.observeError(method, failure.kind);
      const nowMs = performance.now();
      firstFailureMs ??= nowMs;
      this.degraded(failure.reason, nowMs);
      const elapsedMs = nowMs - firstFailureMs;
      const giveUpMs = policy.giveUpAfterMs;
      // A node that answers "warming up" is there and will be ready: only silence counts against the window.
      if (giveUpMs !== undefined && failure.kind !== "warmup" && elapsedMs >= giveUpMs) {
        this.metrics?.observeError(method, "unreachable");
        throw new DaemonUnreachableError(
          `${failure.reason}: giving up, past the retry window of ${formatDuration(giveUpMs)}`,
        );
      }
      // A node that cannot be reached: the other one, if there is one on our chain; at once the
      // first time (both down: the waits below apply, whichever node is tried).
      if (failure.kind === "connection" && (await this.failover(failure.endpoint)) && !switchedAtOnce) {
        switchedAtOnce = true;
        continue;
      }
      // The last wait is cut short so the final attempt happens right at the end of the window.
      await this.sleep(giveUpMs === undefined || failure.kind === "warmup" ? delayMs : Math.min(delayMs, giveUpMs - elapsedMs));
      delayMs = Math.min(delayMs * 2, policy.maxDelayMs);
      if (failure.kind === "connection" && this.auth.refresh()) {
        // A lost connection is how a node restart looks from here; the restarted node has a new cookie.
        this.log.info(`re-read bitcoind credentials from ${this.auth.describe()}`);
      }
    }
  }

  /**
   * After a connection failure at `failed` (the endpoint's index): requests go to the other
   * endpoint if it answers and is on our chain. Returns whether they now go elsewhere. A request
   * that failed at an endpoint another request already left goes to the current one at once.
   */
  private async failover(failed: number): Promise<boolean> {
    if (this.endpoints.length < 2 || failed < 0) return false;
    if (failed !== this.active) return true;
    const next = (failed + 1) % this.endpoints.length;
    const to = this.endpoints[next]!;
    if (to.sameChain === false) return false;
    if (to.sameChain === null) {
      let genesis: unknown;
      try {
        genesis = await this.probe(to, "getblockhash", [0]);
      } catch {
        return false; // not reachable either: the normal retries go on where they were
      }
      to.sameChain = genesis === this.genesisHashHex;
      if (!to.sameChain) {
        this.log.error(`bitcoind at ${to.host} (--daemon-rpc-fallback-addr) is on another chain: its genesis is ${String(genesis)}, not ${this.genesisHashHex}; never used`);
        return false;
      }
    }
    if (this.active !== failed) return true; // another request switched meanwhile
    this.log.warn(`bitcoind at ${this.endpoints[failed]!.host} cannot be reached: requests go to ${to.host} from now on${next === 0 ? "" : " (--daemon-rpc-fallback-addr)"}`);
    this.active = next;
    return true;
  }

  /** One call to `endpoint`, outside the retries (the fallback's chain check); throws on any failure. */
  private async probe(endpoint: Endpoint, method: string, params: unknown[]): Promise<unknown> {
    const res = await this.fetchFn(endpoint.url, {
      method: "POST",
      headers: { authorization: this.auth.header(), "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "1.0", id: this.nextId++, method, params }),
      signal: AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.requestTimeoutMs ?? 30_000)]),
    });
    const reply: unknown = await res.json();
    if (!isReply(reply)) throw this.malformed(method, "not a JSON-RPC object");
    return unwrap(method, reply);
  }

  /** The host requests go to now (for messages). */
  private get host(): string {
    return this.endpoints[this.active]!.host;
  }

  /** One HTTP exchange; throws Transient for retryable failures. */
  private async attempt(method: string, payload: string, span: Span | null): Promise<unknown> {
    await this.slots.acquire();
    const used = this.active;
    const endpoint = this.endpoints[used]!;
    const authHeader = this.auth.header();
    const startedMs = performance.now();
    let status: number;
    let body: Uint8Array;
    try {
      if (this.closing.signal.aborted) throw this.closedError();
      const signal =
        this.requestTimeoutMs === undefined
          ? this.closing.signal
          : AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.requestTimeoutMs)]);
      const res = await this.fetchFn(endpoint.url, {
        method: "POST",
        headers: { authorization: authHeader, "content-type": "application/json" },
        body: payload,
        signal,
      });
      status = res.status;
      body = new Uint8Array(await res.arrayBuffer());
    } catch (err) {
      if (this.closing.signal.aborted) throw this.closedError();
      if (err instanceof DaemonUnreachableError) throw err;
      throw new Transient(this.connectionReason(method, err, endpoint.host), "connection", used);
    } finally {
      this.slots.release();
    }
    this.metrics?.observeRpc(method, (performance.now() - startedMs) / 1000);
    this.metrics?.observeBytes(method, "send", Buffer.byteLength(payload));
    this.metrics?.observeBytes(method, "recv", body.byteLength);
    span?.setAttributes({ "rpc.response_bytes": body.byteLength, "http.response.status_code": status });
    if (this.log.enabled("trace")) {
      this.log.trace(`${method}: HTTP ${status}, ${body.byteLength} bytes in ${(performance.now() - startedMs).toFixed(1)} ms`);
    }

    const text = utf8.decode(body);
    if (status === 401) {
      // Another request may already have re-read the cookie, so compare with what this one sent.
      if (this.auth.refresh() || this.auth.header() !== authHeader) {
        throw new Transient(`bitcoind rejected the credentials; re-read ${this.auth.describe()}`, "auth");
      }
      throw new DaemonUnreachableError(
        `bitcoind at ${this.host} rejected the credentials (${this.auth.describe()}): HTTP 401`,
      );
    }
    if (status === 503) {
      throw new Transient(`bitcoind at ${this.host} is busy (HTTP 503${text ? ": " + oneLine(text) : ""})`, "busy");
    }
    // Core answers an RPC error with 500 and an unknown method with 404, both with a JSON-RPC body.
    if (status === 200 || status === 500 || status === 404) {
      try {
        return JSON.parse(text);
      } catch {
        if (status === 404) {
          throw new DaemonUnreachableError(`bitcoind at ${endpoint.host} answered HTTP 404 to ${method}: is ${endpoint.url} its RPC address?`);
        }
        throw this.malformed(method, `HTTP ${status} with a body that is not JSON: ${oneLine(text)}`);
      }
    }
    throw new DaemonUnreachableError(
      `bitcoind at ${this.host} answered HTTP ${status} to ${method}${text ? ": " + oneLine(text) : ""}`,
    );
  }

  private connectionReason(method: string, err: unknown, host: string): string {
    if (err instanceof Error && err.name === "TimeoutError") {
      return `bitcoind at ${host} did not answer ${method} within ${this.requestTimeoutMs} ms`;
    }
    const code = (err as { code?: unknown }).code;
    const why = typeof code === "string" && code !== "" ? code : err instanceof Error ? err.message : String(err);
    return `bitcoind unreachable at ${host} (${why})`;
  }

  private degraded(reason: string, nowMs: number): void {
    if (this.outage === reason) return;
    if (this.outage === null) this.outageSinceMs = nowMs;
    this.outage = reason;
    this.log.warn(`${reason}, retrying`);
  }

  private recovered(): void {
    if (this.outage === null) return;
    this.outage = null;
    this.log.info(`bitcoind at ${this.host} is available again after ${formatDuration(performance.now() - this.outageSinceMs)}`);
  }

  private sleep(ms: number): Promise<void> {
    const signal = this.closing.signal;
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(this.closedError());
      const onAbort = () => {
        clearTimeout(timer);
        reject(this.closedError());
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  private closedError(): DaemonUnreachableError {
    return new DaemonUnreachableError(`daemon client for ${this.host} is closed`);
  }

  private malformed(method: string, what: string): DaemonUnreachableError {
    return new DaemonUnreachableError(`bitcoind at ${this.host} sent a malformed reply to ${method}: ${what}`);
  }
}

/** A counting semaphore: FIFO waiters for `limit` slots. */
class Slots {
  private free: number;
  private readonly waiters: (() => void)[] = [];
  constructor(limit: number) {
    this.free = limit;
  }
  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

function isReply(v: unknown): v is RpcReply {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function unwrap<T>(method: string, reply: RpcReply): T {
  const err = reply.error;
  if (err !== undefined && err !== null) {
    const code = typeof err.code === "number" ? err.code : 0;
    const message = typeof err.message === "string" ? err.message : JSON.stringify(err);
    throw new DaemonError(method, code, message);
  }
  return reply.result as T;
}

/** The -28 message of a reply (or of any batch element), if the node is still starting. */
function warmupMessage(reply: unknown): string | undefined {
  const items = Array.isArray(reply) ? reply : [reply];
  for (const r of items) {
    if (isReply(r) && r.error && r.error.code === WARMING_UP) {
      return typeof r.error.message === "string" ? r.error.message : "RPC code -28";
    }
  }
  return undefined;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 200 ? flat.slice(0, 200) + "…" : flat;
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
