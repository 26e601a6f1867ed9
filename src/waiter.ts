/**
 * The main loop's wait (electrs' signal::Waiter): sleeps until the delay passes, a new block is
 * announced (ZMQ hashblock, SIGUSR1) or shutdown is requested (SIGINT/SIGTERM).
 */
export class Waiter {
  private wakeUp: (() => void) | null = null;
  private pendingWake = false;
  private readonly controller = new AbortController();

  /** Aborted on SIGINT/SIGTERM. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get stopping(): boolean {
    return this.controller.signal.aborted;
  }

  stop(): void {
    this.controller.abort();
    this.wake();
  }

  /** A wake() came while no wait was running: the next wait returns at once. */
  get wakePending(): boolean {
    return this.pendingWake;
  }

  /** A new block may be there: end the current wait now (or the next one, if none is running). */
  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.pendingWake = true;
  }

  /** Resolves "woken", "timeout" or "stop". */
  wait(ms: number): Promise<"woken" | "timeout" | "stop"> {
    if (this.stopping) return Promise.resolve("stop");
    if (this.pendingWake) {
      this.pendingWake = false;
      return Promise.resolve("woken");
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish("timeout"), ms);
      const finish = (why: "woken" | "timeout" | "stop") => {
        clearTimeout(timer);
        this.wakeUp = null;
        resolve(why);
      };
      this.wakeUp = () => finish(this.stopping ? "stop" : "woken");
    });
  }

  /** Wires SIGINT/SIGTERM to stop() and SIGUSR1 to wake(); returns the function that unwires them. */
  installSignals(onSignal: (name: string) => void): () => void {
    const stop = (name: string) => () => {
      onSignal(name);
      this.stop();
    };
    const onInt = stop("SIGINT");
    const onTerm = stop("SIGTERM");
    const onUsr1 = () => {
      onSignal("SIGUSR1");
      this.wake();
    };
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    process.on("SIGUSR1", onUsr1);
    return () => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      process.off("SIGUSR1", onUsr1);
    };
  }
}
