/**
 * The series of a metric, found by their label values through one Map per label (values in
 * declared order), so that an observation or an increment builds no key string: joining two
 * label values into one was ~20 % of a busy REST server's CPU. A label set is checked as
 * prom-client checks it, once, when its series is made. Used by our histogram (fast-histogram.ts)
 * and counters (metrics.ts).
 */
export type LabelValues = Readonly<Partial<Record<string, string | number>>>;

type Node<T> = Map<string, Node<T> | T>;

export class LabelSeries<T> {
  private readonly tree: Node<T> = new Map();
  /** Every series, in the order they were made (the exposition's order). */
  readonly all: T[] = [];

  constructor(
    private readonly names: readonly string[],
    /** Makes the series of a new label set (its labels as given, undefined values left out). */
    private readonly make: (labels: Record<string, string | number>) => T,
  ) {}

  of(labels: LabelValues | undefined): T {
    const names = this.names;
    let node = this.tree;
    const last = names.length - 1;
    for (let i = 0; i < last; i++) {
      const v = String(labels?.[names[i]!] ?? "");
      let next = node.get(v) as Node<T> | undefined;
      if (next === undefined) node.set(v, (next = new Map()));
      node = next;
    }
    const leaf = last < 0 ? "" : String(labels?.[names[last]!] ?? "");
    const found = node.get(leaf) as T | undefined;
    if (found !== undefined) return found;
    const own: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(labels ?? {})) {
      if (!names.includes(k)) throw new Error(`Added label "${k}" is not included in initial labelset: ${JSON.stringify(names)}`);
      if (v !== undefined) own[k] = v;
    }
    const s = this.make(own);
    node.set(leaf, s);
    this.all.push(s);
    return s;
  }

  clear(): void {
    this.tree.clear();
    this.all.length = 0;
  }
}
