/**
 * Shares the event loop between Electrum connections: each connection works off its queue in
 * slices it asks for with `turn()`; one turn of the scheduler (a macrotask) runs slices, one
 * connection after another, for at most `tickBudgetMs`, then yields to I/O (other clients' reads,
 * REST, /metrics) until the next turn. A connection that was idle (`fresh`) goes before the busy
 * ones, so that a client asking for one small thing waits for at most one turn, however many
 * connections are working through long pipelines; the busy ones take turns round-robin.
 *
 * A slice ends when its connection asks for its next turn or calls `idle()`; a slice that awaits
 * real I/O (a node RPC) ends at the next macrotask, and the scheduler goes on without it.
 */
export class TurnScheduler {
  private readonly fresh: (() => void)[] = [];
  private readonly busy: (() => void)[] = [];
  private armed = false;
  private sliceEnd: (() => void) | null = null;

  constructor(private readonly tickBudgetMs: number) {}

  /** Resolves when the caller may run its next slice. */
  turn(fresh: boolean): Promise<void> {
    this.endSlice();
    const granted = new Promise<void>((resolve) => (fresh ? this.fresh : this.busy).push(resolve));
    this.arm();
    return granted;
  }

  /** The caller's slice is over and it needs no further turn for now. */
  idle(): void {
    this.endSlice();
  }

  private endSlice(): void {
    const end = this.sliceEnd;
    this.sliceEnd = null;
    end?.();
  }

  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    setImmediate(() => void this.tick());
  }

  private async tick(): Promise<void> {
    const start = performance.now();
    while (performance.now() - start < this.tickBudgetMs) {
      const next = this.fresh.shift() ?? this.busy.shift();
      if (!next) break;
      const ended = new Promise<void>((resolve) => (this.sliceEnd = resolve));
      next();
      await Promise.race([ended, new Promise<void>((resolve) => setImmediate(resolve))]);
      this.sliceEnd = null;
    }
    this.armed = false;
    if (this.fresh.length > 0 || this.busy.length > 0) this.arm();
  }
}
