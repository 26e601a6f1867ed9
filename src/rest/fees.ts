/**
 * `/fee-estimates` (electrs' Query::estimate_fee_map): estimatesmartfee for 28 targets, converted
 * from BTC/kvB to sat/vB, cached for 60 s. Concurrent callers during a refresh share it (one batch
 * to the node, not one per request). A failed refresh is logged and answers with the last
 * estimates (or none), and the next request tries again, as electrs.
 */
import { describeError, type Logger } from "../log.ts";
import type { RestNode } from "./node.ts";

/** electrs' CONF_TARGETS. */
export const FEE_TARGETS: readonly number[] = Object.freeze([
  ...Array.from({ length: 25 }, (_, i) => i + 1),
  144,
  504,
  1008,
]);

/** electrs' FEE_ESTIMATES_TTL. */
export const FEE_ESTIMATES_TTL_MS = 60_000;

/** BTC/kvB → sat/vB. */
const BTC_PER_KVB_TO_SAT_PER_VB = 100_000;

export type FeeEstimateMap = ReadonlyMap<number, number>;

export class FeeEstimates {
  private cached: { at: number; estimates: FeeEstimateMap } | null = null;
  private inflight: Promise<FeeEstimateMap> | null = null;

  constructor(
    private readonly node: RestNode,
    private readonly log: Logger,
    private readonly ttlMs = FEE_ESTIMATES_TTL_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(): Promise<FeeEstimateMap> {
    const c = this.cached;
    if (c && this.now() - c.at < this.ttlMs) return Promise.resolve(c.estimates);
    this.inflight ??= this.refresh().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async refresh(): Promise<FeeEstimateMap> {
    try {
      const rates = await this.node.estimateSmartFee(FEE_TARGETS);
      const estimates = new Map<number, number>();
      rates.forEach((rate, i) => {
        if (rate !== null) estimates.set(FEE_TARGETS[i]!, rate * BTC_PER_KVB_TO_SAT_PER_VB);
      });
      this.cached = { at: this.now(), estimates };
      return estimates;
    } catch (err) {
      this.log.warn(`failed estimating feerates: ${describeError(err)}`);
      return this.cached?.estimates ?? new Map();
    }
  }
}
