/**
 * --serve-workers N: the main thread indexes, keeps the mempool and serves; N - 1 workers
 * (serve-worker.ts) serve the same ports beside it. This is the main thread's side: it starts
 * them with the ports it bound, answers their mempool calls, runs each notification round in
 * every thread, takes their broadcasts, and gathers their metrics for /metrics.
 *
 * Why threads of one process and not N processes: the mempool (the main thread's) is then kept
 * once and read through shared memory and ~10 µs calls, the shared counters of the Electrum
 * limits are plain Atomics, and one executable stays one process for its operator.
 */
import { AggregatorRegistry, type Registry } from "prom-client";
import type { Config } from "../config.ts";
import type { ElectrumUpdate } from "../electrum/subscriptions.ts";
import type { TlsFiles } from "../electrum/tls.ts";
import { describeError, type Logger } from "../log.ts";
import type { MempoolView } from "../mempool/types.ts";
import type { FromWorker, ToWorker } from "./messages.ts";
import { answerMempoolCalls } from "./remote-mempool.ts";
import type { ListenAddrs } from "./servers.ts";

/** A worker that does not answer (start, a notification round, metrics, stop) in this time is given up on. */
const WORKER_TIMEOUT_MS = 30_000;

export interface ServePoolOptions {
  /** Workers beside the main thread (--serve-workers minus one). */
  readonly workers: number;
  readonly config: Config;
  /** The ports the main thread bound. */
  readonly addrs: ListenAddrs;
  readonly tls: TlsFiles | null;
  readonly state: SharedArrayBuffer;
  readonly presence: SharedArrayBuffer;
  readonly ipCounts: SharedArrayBuffer;
  readonly mempool: MempoolView;
  /** What the main thread does with its own clients' broadcasts: add to the mempool, notify. */
  readonly onBroadcast: (txidHexes: string[]) => Promise<unknown>;
  readonly log: Logger;
}

interface Member {
  readonly number: number;
  readonly worker: Worker;
  readonly closeMempool: () => void;
  readonly waiting: Map<number, (m: FromWorker) => void>;
  alive: boolean;
  /** It answered "ready": a failure after this is a crash (restarted), not a failed start. */
  ready: boolean;
  /** Waiting for its "stopped" (stop()). */
  onStopped: (() => void) | null;
}

/** A worker that crashed is started again after this long (its clients reconnect to any thread meanwhile). */
const RESTART_DELAY_MS = 1_000;

export class ServePool {
  private readonly members: Member[] = [];
  private nextId = 1;
  private stopping = false;
  private readonly started = new Set<number>();

  private constructor(private readonly opts: ServePoolOptions) {}

  /** Resolves once every worker listens; rejects (with every worker stopped) when one cannot start. */
  static async start(opts: ServePoolOptions): Promise<ServePool> {
    const pool = new ServePool(opts);
    try {
      await Promise.all(Array.from({ length: opts.workers }, (_, i) => pool.startMember(i + 1)));
    } catch (err) {
      await pool.stop();
      throw err;
    }
    return pool;
  }

  private startMember(number: number): Promise<void> {
    const { opts } = this;
    // Resolved next to this module from source; in the executable, next to the main module (build.ts lists it).
    const worker = new Worker(new URL("./serve-worker.ts", import.meta.url).href);
    const answerer = answerMempoolCalls(opts.mempool);
    const member: Member = { number, worker, closeMempool: answerer.close, waiting: new Map(), alive: true, ready: false, onStopped: null };
    this.members.push(member);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Given up on: no round waits for it, and it listens no more.
        member.alive = false;
        member.closeMempool();
        worker.terminate();
        reject(new Error(`serve worker ${number} did not start within ${WORKER_TIMEOUT_MS / 1000} s`));
      }, WORKER_TIMEOUT_MS);
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        const m = e.data;
        if (m.type === "ready") {
          clearTimeout(timer);
          member.ready = true;
          opts.log.debug(`serve worker ${number} listening`);
          resolve();
        } else if (m.type === "failed") {
          clearTimeout(timer);
          member.alive = false;
          reject(new Error(`serve worker ${number}: ${m.message}`));
        } else if (m.type === "broadcast") {
          void this.takeBroadcast(member, m.id, m.txidHexes);
        } else if ("id" in m) {
          const done = member.waiting.get(m.id);
          member.waiting.delete(m.id);
          done?.(m);
        } else if (m.type === "stopped") {
          member.onStopped?.();
        }
      };
      worker.onerror = (e: ErrorEvent) => {
        clearTimeout(timer);
        // Bun's message carries the source excerpt over several lines: the error's own message is one.
        const why = e.error instanceof Error ? e.error.message : (e.message.split("\n").find((l) => l.startsWith("error: "))?.slice(7) ?? e.message.split("\n")[0]!);
        const wasReady = member.ready && member.alive;
        member.alive = false;
        for (const done of member.waiting.values()) done({ type: "failed", message: why });
        member.waiting.clear();
        member.closeMempool();
        if (!wasReady) {
          worker.terminate();
          return reject(new Error(`serve worker ${number}: ${why}`));
        }
        if (this.stopping) return;
        opts.log.error(`serve worker ${number} crashed (${why})`);
        // Started again once the thread is gone, so that its listeners no longer take connections.
        worker.addEventListener(
          "close",
          () => {
            if (this.stopping) return;
            opts.log.warn(`serve worker ${number} stopped; starting it again in ${RESTART_DELAY_MS / 1000} s`);
            setTimeout(() => {
              if (this.stopping) return;
              this.members.splice(this.members.indexOf(member), 1);
              this.startMember(number).catch((err) => opts.log.error(`serve worker ${number} could not start again: ${describeError(err)}`));
            }, RESTART_DELAY_MS);
          },
          { once: true },
        );
        worker.terminate();
      };
      const init: ToWorker = {
        type: "init",
        number,
        config: opts.config,
        cookie: opts.config.cookie ? { user: opts.config.cookie.user, password: opts.config.cookie.password } : null,
        addrs: opts.addrs,
        tls: opts.tls,
        state: opts.state,
        presence: opts.presence,
        ipCounts: opts.ipCounts,
        mempool: answerer.channel,
        crashForTest: process.env.ELECTRS_BUN_TEST_CRASH_WORKER === "1" && !this.started.has(number),
      };
      this.started.add(number);
      worker.postMessage(init, [answerer.channel.port]);
    });
  }

  private async takeBroadcast(member: Member, id: number, txidHexes: string[]): Promise<void> {
    let error: string | null = null;
    try {
      await this.opts.onBroadcast(txidHexes);
    } catch (err) {
      error = describeError(err);
    }
    if (member.alive) member.worker.postMessage({ type: "broadcast-done", id, error } satisfies ToWorker);
  }

  /** Asks every live worker; each answer (or a timeout: null) in member order. */
  private ask(make: (id: number) => ToWorker): Promise<(FromWorker | null)[]> {
    return Promise.all(
      this.members
        .filter((m) => m.alive)
        .map(
          (member) =>
            new Promise<FromWorker | null>((resolve) => {
              const id = this.nextId++;
              const timer = setTimeout(() => {
                member.waiting.delete(id);
                this.opts.log.warn(`serve worker ${member.number} did not answer within ${WORKER_TIMEOUT_MS / 1000} s`);
                resolve(null);
              }, WORKER_TIMEOUT_MS);
              member.waiting.set(id, (m) => {
                clearTimeout(timer);
                resolve(m);
              });
              member.worker.postMessage(make(id));
            }),
        ),
    );
  }

  /** The notification round in every worker; resolves with the notifications they sent. */
  async notify(update: ElectrumUpdate): Promise<number> {
    const answers = await this.ask((id) => ({ type: "notify", id, update }));
    return answers.reduce((sum, a) => sum + (a?.type === "notified" ? a.count : 0), 0);
  }

  /**
   * The main thread's registry (`own`, as getMetricsAsJSON gives it) summed with every worker's,
   * by prom-client's aggregator (counters and histograms add up; a gauge adds up too, and each
   * gauge is set by one thread only or counts that thread's part, as electrum_clients does).
   */
  async aggregate(own: object[]): Promise<Registry> {
    const answers = await this.ask((id) => ({ type: "metrics", id }));
    const all = [own, ...answers.flatMap((a) => (a?.type === "metrics" ? [a.json as object[]] : []))];
    return AggregatorRegistry.aggregate(all);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.members.map(async (member) => {
        if (member.alive) {
          const stopped = new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 3_000);
            member.onStopped = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          member.worker.postMessage({ type: "stop" } satisfies ToWorker);
          await stopped;
        }
        member.alive = false;
        member.closeMempool();
        member.worker.terminate();
      }),
    );
    this.members.length = 0;
  }
}
