/**
 * electrs' fee histogram and backlog stats (src/util/fees.rs make_fee_histogram, BacklogStats),
 * as pure functions of the mempool's fee infos so that they can be pinned by hand-computed tests.
 */

/** Bin width of the histogram, in vbytes (electrs' VSIZE_BIN_WIDTH). */
export const VSIZE_BIN_WIDTH = 50_000;

/** What the histogram needs of one mempool tx (electrs' TxFeeInfo). */
export interface FeeInfo {
  readonly feeSat: number;
  /** ceil(weight / 4). */
  readonly vsize: number;
  /** fee / (weight / 4) as an unrounded float: electrs divides by the fractional vsize "for more accurate sat/vB". */
  readonly feePerVbyte: number;
}

/** electrs' TxFeeInfo::new from a tx's fee and BIP141 weight. */
export function feeInfoOf(feeSat: number, weight: number): FeeInfo {
  const vsizeFloat = weight / 4;
  return { feeSat, vsize: Math.ceil(vsizeFloat), feePerVbyte: feeSat / vsizeFloat };
}

/**
 * [feerate, vsize] bins, highest feerate first. Walks the txs from the highest rate down, adding
 * each vsize to the current bin; a bin is closed once it holds more than VSIZE_BIN_WIDTH vB and the
 * next tx pays a different rate (so equal rates never straddle two bins). A bin's rate is the lowest
 * rate in it. The last, partial bin is emitted too; an empty mempool gives `[]`.
 */
export function makeFeeHistogram(entries: Iterable<FeeInfo>): [number, number][] {
  const sorted = Array.from(entries).sort((a, b) => a.feePerVbyte - b.feePerVbyte);
  const histogram: [number, number][] = [];
  let binSize = 0;
  let lastFeeRate = 0;
  for (let i = sorted.length - 1; i >= 0; i--) {
    const e = sorted[i]!;
    if (binSize > VSIZE_BIN_WIDTH && lastFeeRate !== e.feePerVbyte) {
      histogram.push([lastFeeRate, binSize]);
      binSize = 0;
    }
    lastFeeRate = e.feePerVbyte;
    binSize += e.vsize;
  }
  if (binSize > 0) histogram.push([lastFeeRate, binSize]);
  return histogram;
}

/** electrs' BacklogStats::from_feeinfo_slice (`/mempool`). */
export function backlogOf(entries: Iterable<FeeInfo>): {
  count: number;
  vsize: number;
  totalFeeSat: number;
  feeHistogram: [number, number][];
} {
  const all = Array.from(entries);
  let vsize = 0;
  let totalFeeSat = 0;
  for (const e of all) {
    vsize += e.vsize;
    totalFeeSat += e.feeSat;
  }
  return { count: all.length, vsize, totalFeeSat, feeHistogram: makeFeeHistogram(all) };
}
