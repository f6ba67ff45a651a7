import type { CohortBatch, LatencyHistogram } from '../../contracts/evidence.js';
import { emptyBatch } from '../../evidence/cohort-batch.js';
import type { HistogramDelta } from './stream-state.js';

/**
 * One histogram delta → the CohortBatch increment it stands for: `requests` = count, `errors` = count when
 * the point's attributes say failed (a point is one attribute combination, so all or none of its requests
 * failed), and the latency evidence estimated from the buckets.
 *
 * Buckets. Each bucket is a range (lo, hi] of durations, converted to ms by the metric's unit:
 * - explicit bucket i covers (b[i-1], b[i]]. A bucket that ends at or below 0 holds zero durations. The
 *   open or non-positive lower end of the first positive bucket is taken one bucket ratio below its upper
 *   bound (lo = b[i] / (b[i+1] / b[i]), ratio 2 when unknown), and the open overflow bucket one ratio above
 *   the last bound (hi = b[n-1] * b[n-1] / b[n-2]). A histogram without bounds, or an overflow bucket above
 *   a non-positive bound, says nothing about latency: its requests count, its latency does not. min/max
 *   are not used: on a cumulative point they cover the series' whole life, not the delta.
 * - exponential bucket j covers (base^j, base^(j+1)] with base = 2^(2^-scale); the zero bucket and the
 *   negative buckets hold zero durations.
 *
 * Latency histogram (Vigil's log buckets of scale 3, ~9% wide): each bucket's count is spread over the
 * Vigil buckets it overlaps in proportion to the overlap in log space (a log-uniform density within the
 * bucket), rounded to whole requests by largest remainders so every count stays an integer and the total is
 * exact. When the units align (ms, exponential scale >= 3) each bucket lands in exactly one Vigil bucket.
 * A bucket wider than 2^16 (a scale below -4) is not spread: its count goes to the bucket of its midpoint.
 *
 * Log-latency moments (what `latency-sequential` tests): every request of a bucket is put at the bucket's
 * midpoint in log space, y = (ln lo + ln hi) / 2 (the log of the geometric midpoint); zero durations at
 * ln(0.001 ms) as for spans. Consequence: the test then compares the means of BUCKETED log-latencies. It
 * stays valid for "the canary's latency distribution is the baseline's" (bucketing is the same function
 * for both cohorts), and its variance is that of the bucketed values, which is what the test needs. But the
 * effect estimate is that of the bucketed values: with coarse buckets (the semconv HTTP buckets are up to
 * 2.5x wide) a small shift of a narrow latency distribution that sits on a bucket bound looks larger than
 * it is (mass crossing the bound jumps to the next midpoint), and one inside a bucket looks smaller; so a
 * `tolerance` is honoured only approximately, and power for regressions smaller than the bucket width is
 * lower than with spans. Exponential histograms (scale 3+) make this negligible.
 *
 * Cost: O(buckets x Vigil buckets per bucket), at most 2^16 x 8 + 2 Vigil buckets per bucket and usually 1-10.
 */

/** Same floor as span ingestion (evidence/cohort-batch.ts): sub-microsecond durations are clock noise. */
const LN_MIN_DURATION = Math.log(0.001);
/** Vigil's histogram scale is read from the batch; log2 ranges are clamped to keep bucket indices sane. */
const MIN_LOG2_MS = -40;
const MAX_LOG2_MS = 60;
/** Widest log2 range spread over Vigil buckets; wider buckets go to their midpoint's bucket. */
const MAX_SPREAD_LOG2 = 16;

/** A bucket as a log2-ms range (lo, hi] and a count; lo = -Infinity marks zero durations. */
interface LogBucket {
  lo: number;
  hi: number;
  count: number;
}

export function deltaToBatch(d: HistogramDelta): CohortBatch {
  const b = emptyBatch();
  b.requests = d.count;
  b.errors = d.point.error ? d.count : 0;
  const log2Factor = Math.log2(d.point.msPerUnit);
  const buckets =
    d.explicit !== undefined
      ? explicitBuckets(d.explicit.bounds, d.explicit.counts, d.point.msPerUnit)
      : d.exponential !== undefined
        ? exponentialBuckets(d, log2Factor)
        : [];
  addBuckets(b, buckets);
  return b;
}

function explicitBuckets(bounds: readonly number[], counts: readonly number[], msPerUnit: number): LogBucket[] {
  const out: LogBucket[] = [];
  const n = bounds.length;
  if (n === 0) return out;
  const ratio = (i: number): number => {
    const r = i + 1 < n && bounds[i]! > 0 ? bounds[i + 1]! / bounds[i]! : Number.NaN;
    return r > 1 && Number.isFinite(r) ? r : 2;
  };
  for (let i = 0; i <= n; i++) {
    const c = counts[i] ?? 0;
    if (c === 0) continue;
    if (i < n && bounds[i]! <= 0) {
      out.push({ lo: -Infinity, hi: -Infinity, count: c });
      continue;
    }
    if (i === n) {
      const last = bounds[n - 1]!;
      if (!(last > 0)) continue;
      const r = n >= 2 && bounds[n - 2]! > 0 ? last / bounds[n - 2]! : 2;
      out.push({
        lo: Math.log2(last * msPerUnit),
        hi: Math.log2(last * (r > 1 && Number.isFinite(r) ? r : 2) * msPerUnit),
        count: c,
      });
      continue;
    }
    const hi = bounds[i]!;
    const lo = i > 0 && bounds[i - 1]! > 0 ? bounds[i - 1]! : hi / ratio(i);
    out.push({ lo: Math.log2(lo * msPerUnit), hi: Math.log2(hi * msPerUnit), count: c });
  }
  return out;
}

function exponentialBuckets(d: HistogramDelta, log2Factor: number): LogBucket[] {
  const x = d.exponential!;
  const out: LogBucket[] = [];
  let zero = x.zeroCount;
  for (const c of x.negative) zero += c;
  if (zero > 0) out.push({ lo: -Infinity, hi: -Infinity, count: zero });
  const width = 2 ** -x.scale;
  for (let k = 0; k < x.positive.length; k++) {
    const c = x.positive[k]!;
    if (c === 0) continue;
    const j = x.positiveOffset + k;
    out.push({ lo: j * width + log2Factor, hi: (j + 1) * width + log2Factor, count: c });
  }
  return out;
}

const clamp = (v: number): number => Math.min(MAX_LOG2_MS, Math.max(MIN_LOG2_MS, v));

/** Adds the buckets to the batch's latency histogram and log-latency moments (two passes, stable). */
function addBuckets(b: CohortBatch, buckets: readonly LogBucket[]): void {
  let n = 0;
  let sum = 0;
  const ys: number[] = [];
  for (const bucket of buckets) {
    let y: number;
    if (bucket.lo === -Infinity) {
      b.latencyHistogram.zeroCount += bucket.count;
      y = LN_MIN_DURATION;
    } else {
      const lo = clamp(bucket.lo);
      const hi = clamp(bucket.hi);
      spread(b.latencyHistogram, lo, hi, bucket.count);
      y = Math.max(LN_MIN_DURATION, ((lo + hi) / 2) * Math.LN2);
    }
    ys.push(y);
    n += bucket.count;
    sum += bucket.count * y;
  }
  if (n === 0) return;
  const mean = sum / n;
  let m2 = 0;
  for (let i = 0; i < buckets.length; i++) {
    const dy = ys[i]! - mean;
    m2 += buckets[i]!.count * dy * dy;
  }
  b.logLatency = { n, mean, m2 };
}

/**
 * Spreads `count` over the Vigil buckets overlapping the log2 range (lo, hi], in proportion to the overlap,
 * rounded by largest remainders (ties to the lower bucket). Vigil bucket j covers (j, j+1] / 2^scale.
 */
function spread(h: LatencyHistogram, lo: number, hi: number, count: number): void {
  const k = 2 ** h.scale;
  const add = (j: number, c: number): void => {
    if (c > 0) h.counts[j] = (h.counts[j] ?? 0) + c;
  };
  if (!(hi > lo) || hi - lo > MAX_SPREAD_LOG2) {
    add(Math.ceil(((lo + hi) / 2) * k) - 1, count);
    return;
  }
  const first = Math.floor(lo * k);
  const last = Math.ceil(hi * k) - 1;
  if (first >= last) {
    add(first, count);
    return;
  }
  const shares: { j: number; whole: number; rest: number }[] = [];
  let given = 0;
  for (let j = first; j <= last; j++) {
    const overlap = Math.min(hi, (j + 1) / k) - Math.max(lo, j / k);
    const exact = (count * Math.max(0, overlap)) / (hi - lo);
    const whole = Math.floor(exact);
    shares.push({ j, whole, rest: exact - whole });
    given += whole;
  }
  let left = count - given;
  if (left > 0) {
    const order = shares.map((_, i) => i).sort((a, c) => shares[c]!.rest - shares[a]!.rest || a - c);
    for (let i = 0; left > 0; i = (i + 1) % order.length, left--) shares[order[i]!]!.whole++;
  }
  for (const s of shares) add(s.j, s.whole);
}
