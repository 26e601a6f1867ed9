/**
 * The Electrum limits that count over every connection (--electrum-max-clients,
 * --electrum-max-clients-per-ip, --electrum-max-subs-per-ip) hold over every serving thread, not
 * per thread: the counts live in one SharedArrayBuffer that each thread adds to with Atomics.
 *
 * Per address, a count-min sketch: each address adds to one Int32 slot in each of ROWS rows
 * (different hashes) and its count is the smallest of them. It is never below the true count; it
 * is above it only when every one of its slots is shared with another busy address (two rows of
 * 65,536 slots: for 5,000 addresses, about one in 700 shares both slots with some other). A
 * removal takes off exactly what the add put on, so counts come back to zero.
 */

/** A count by remote address: `add` returns the count after adding (delta may be negative). */
export interface IpCounts {
  add(ip: string, delta: number): number;
  get(ip: string): number;
}

/** A count over every thread (the connected clients). */
export interface TotalCount {
  add(delta: number): number;
}

/** One thread's counts (no other thread serves): exact, in a Map. */
export class LocalIpCounts implements IpCounts {
  private readonly counts = new Map<string, number>();
  add(ip: string, delta: number): number {
    const n = (this.counts.get(ip) ?? 0) + delta;
    if (n > 0) this.counts.set(ip, n);
    else this.counts.delete(ip);
    return n;
  }
  get(ip: string): number {
    return this.counts.get(ip) ?? 0;
  }
}

export class LocalTotal implements TotalCount {
  private n = 0;
  add(delta: number): number {
    return (this.n += delta);
  }
}

const ROWS = 2;
const SLOTS = 1 << 16;
const SKETCH_INTS = ROWS * SLOTS;
/** [0] the total; then the clients' sketch, then the subscriptions'. */
export const IP_COUNTS_BYTES = (1 + 2 * SKETCH_INTS) * 4;

class SharedSketch implements IpCounts {
  constructor(
    private readonly a: Int32Array,
    private readonly base: number,
  ) {}

  private slot(ip: string, row: number): number {
    return this.base + row * SLOTS + (Bun.hash.xxHash32(ip, 0x27d4eb2f + row * 0x165667b1) & (SLOTS - 1));
  }

  add(ip: string, delta: number): number {
    let min = Number.MAX_SAFE_INTEGER;
    for (let r = 0; r < ROWS; r++) min = Math.min(min, Atomics.add(this.a, this.slot(ip, r), delta) + delta);
    return min;
  }

  get(ip: string): number {
    let min = Number.MAX_SAFE_INTEGER;
    for (let r = 0; r < ROWS; r++) min = Math.min(min, Atomics.load(this.a, this.slot(ip, r)));
    return min;
  }
}

/** The counts of all serving threads, over `buffer` (IP_COUNTS_BYTES, created once by the main thread). */
export function sharedCounts(buffer: SharedArrayBuffer): { clients: TotalCount; clientsPerIp: IpCounts; subsPerIp: IpCounts } {
  const a = new Int32Array(buffer);
  if (a.length !== IP_COUNTS_BYTES / 4) throw new Error(`shared counts are ${IP_COUNTS_BYTES} bytes`);
  return {
    clients: { add: (delta) => Atomics.add(a, 0, delta) + delta },
    clientsPerIp: new SharedSketch(a, 1),
    subsPerIp: new SharedSketch(a, 1 + SKETCH_INTS),
  };
}
