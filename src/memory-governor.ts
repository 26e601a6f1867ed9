/**
 * Collects garbage when the process has grown, instead of when JavaScriptCore would.
 *
 * JSC starts a full collection from the growth of its own heap; the bytes of strings and buffers
 * that answers and request chunks are made of count for little there. Under a flood of pipelined
 * requests (200 clients that never read, #12) the server made and dropped ~1 GB of answers in
 * seconds, and RSS reached 484-622 MiB with less than half of it live (bench/non-reader-bench.ts).
 * Asking for a collection each time RSS has grown by `stepBytes`: a synchronous full one
 * (Bun.gc(true)) kept the peak at 344-424 MiB but held the event loop 8-29 ms each time there, up
 * to ~70 ms while a 100k-entry history was pulled (another client's p99 over 50 ms: the hostile
 * suite fails); an asynchronous one (Bun.gc(false), used) costs the others nothing measurable and
 * gave peaks of 400-538 MiB. At rest nothing grows and it never runs.
 */

export interface MemoryGovernorDeps {
  /** Resident set size now, in bytes. */
  readonly rssBytes: () => number;
  /** Asks the runtime for a collection (Bun.gc(false): JSC collects, mimalloc gives back free pages). */
  readonly collect: () => void;
  /** Growth of RSS since the last collection (or the lowest level seen since) that triggers one. */
  readonly stepBytes: number;
  /** How often RSS is looked at. */
  readonly intervalMs: number;
  /** Called after each collection with the RSS before and after (a debug log line, a counter). */
  readonly onCollect?: (beforeBytes: number, afterBytes: number, ms: number) => void;
}

export const DEFAULT_GOVERNOR = { stepBytes: 32 * 2 ** 20, intervalMs: 100 } as const;

export class MemoryGovernor {
  private floor: number;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly deps: MemoryGovernorDeps) {
    this.floor = deps.rssBytes();
  }

  /** One look: collects when RSS is `stepBytes` over the floor; returns whether it did. */
  check(): boolean {
    const rss = this.deps.rssBytes();
    if (rss < this.floor) {
      this.floor = rss;
      return false;
    }
    if (rss - this.floor < this.deps.stepBytes) return false;
    const t = performance.now();
    this.deps.collect();
    const after = this.deps.rssBytes();
    this.deps.onCollect?.(rss, after, performance.now() - t);
    // What a collection gave back is the new floor; what it did not (live data, or pages the
    // allocator keeps) is not collected for again until RSS grows by another step.
    this.floor = after;
    return true;
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.check(), this.deps.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }
}
