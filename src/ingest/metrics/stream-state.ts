import type { LimitGuard } from '../../limits/limits.js';
import { ProbationList } from '../../limits/limits.js';
import type { ExplicitBuckets, ExponentialBuckets, HistogramPoint, TrackedPoint } from './metric-model.js';
import { FLAG_NO_RECORDED_VALUE, TEMPORALITY_CUMULATIVE, compareTimes } from './metric-model.js';

/**
 * Cumulative → delta conversion per metric stream (OTLP.md "Metrics"), with duplicate detection for delta
 * streams too. A stream is a resource + scope + name + type + unit + temporality + point attributes
 * (HistogramPoint.streamKey).
 *
 * Rules, in order, for a CUMULATIVE point:
 * - flagged NO_RECORDED_VALUE: skipped, the stream's state is kept;
 * - no state (first point, or the stream expired): it becomes the baseline; it is ALSO a delta when
 *   0 < start < time and the start is after the agent started (the whole series is new to Vigil);
 * - time <= the last time: a duplicate (or reordered) point, dropped;
 * - start time changed: a reset, the point itself is the delta (it covers (start, time]);
 * - bounds changed (explicit bounds, exponential zero threshold, or a finer exponential scale): a new
 *   baseline, no delta; a COARSER exponential scale (the SDK downscales as the range grows) is handled by
 *   downscaling the previous buckets (index i → i >> shift) and subtracting;
 * - same start: count and buckets are subtracted; any decrease is a reset (the point is the delta).
 * A DELTA point is its own delta; one whose time is <= its stream's last time is a duplicate, dropped.
 *
 * Counters (monotonic Sums: NumberPoint, `count` = the value) follow the same rules without buckets: same start →
 * the difference of the values, a decrease or a new start → a reset. A non-integer value (a double counter) gives a
 * non-integer delta, kept as it is. Gauge points (`level`) are levels, not deltas: only NO_RECORDED_VALUE and
 * duplicates (time not newer than the stream's last) are dropped; they are tracked like delta streams (the same map
 * and limit, untracked when it is full).
 *
 * Memory: at most `guard.max` streams (limits.maxMetricStreams), each holding its last point's buckets and
 * its key (at most MAX_IDENTITY_CHARS: attributes.ts). The map is kept in least-recently-seen order (a stream
 * is re-inserted on every point), so expiring the streams idle for `staleAfterMs` is O(expired). When the map
 * is full, a new stream takes the place of the least recently seen stream that has sent ONE point so far (a
 * flood of one-off streams cannot lock real ones out until it expires; a real stream evicted after its first
 * point starts again from its next one); with none such, points of new cumulative streams are dropped (the
 * guard counts them and reports the limit once per episode) and new delta streams pass untracked (no
 * duplicate detection, nothing else is lost).
 * Every operation is O(1) apart from the O(buckets) subtraction.
 */
export interface StreamDelta<P extends TrackedPoint = HistogramPoint> {
  /** The point the delta came from (resource, metric, cohort, error); its buckets are NOT the delta. */
  point: P;
  count: number;
  explicit?: ExplicitBuckets;
  exponential?: ExponentialBuckets;
  /** Start of the window the delta covers, unix ms. */
  startUnixMs: number;
  /** Event time: the point's time, unix ms. */
  endUnixMs: number;
  /** The point's own content (delta temporality, a fresh series, a reset), not a subtraction. */
  whole: boolean;
}

/** The delta of a histogram point. */
export type HistogramDelta = StreamDelta<HistogramPoint>;

export interface StreamCounters {
  baselines: number;
  deltas: number;
  resets: number;
  duplicates: number;
  boundChanges: number;
  noRecordedValue: number;
  expired: number;
  /** Points of new cumulative streams dropped because the stream limit was reached. */
  streamLimitDrops: number;
  /** Delta points passed without duplicate detection because the map was full. */
  untrackedDeltas: number;
  /** Streams that had sent one point, forgotten to make room for a new stream. */
  evicted: number;
  /** Gauge points passed (not NO_RECORDED_VALUE, not duplicates). */
  levels: number;
  /** Of `levels`: passed without duplicate detection because the map was full. */
  untrackedLevels: number;
}

export interface StreamTrackerOptions {
  /** The `metric-streams` limit: asked before a new cumulative stream is tracked. */
  guard: LimitGuard;
  staleAfterMs: number;
  /** Unix ms the agent started: a first cumulative point whose series started later counts in full. */
  agentStartUnixMs: number;
}

interface Stream {
  startMs: number;
  startRem: number;
  timeMs: number;
  timeRem: number;
  count: number;
  explicit?: ExplicitBuckets;
  exponential?: ExponentialBuckets;
  seenAt: number;
}

const toMs = (ms: number, rem: number): number => ms + rem / 1e6;

export class StreamTracker {
  readonly counters: StreamCounters = {
    baselines: 0,
    deltas: 0,
    resets: 0,
    duplicates: 0,
    boundChanges: 0,
    noRecordedValue: 0,
    expired: 0,
    streamLimitDrops: 0,
    untrackedDeltas: 0,
    evicted: 0,
    levels: 0,
    untrackedLevels: 0,
  };
  private readonly streams = new Map<string, Stream>();
  /** The streams that have sent one point so far, least recently seen first. */
  private readonly once = new ProbationList<true>();

  constructor(private readonly opts: StreamTrackerOptions) {}

  get size(): number {
    return this.streams.size;
  }

  /** Forgets the streams not seen for `staleAfterMs`; returns how many. O(expired). */
  expire(nowMs: number): number {
    const cutoff = nowMs - this.opts.staleAfterMs;
    let n = 0;
    for (const [key, s] of this.streams) {
      if (s.seenAt >= cutoff) break;
      this.streams.delete(key);
      this.once.delete(key);
      n++;
    }
    this.counters.expired += n;
    return n;
  }

  /** The delta a point contributes, or undefined (baseline, duplicate, skipped, dropped, empty). */
  next<P extends TrackedPoint>(p: P, nowMs: number): StreamDelta<P> | undefined {
    if ((p.flags & FLAG_NO_RECORDED_VALUE) !== 0) {
      this.counters.noRecordedValue++;
      return undefined;
    }
    const s = this.streams.get(p.streamKey);
    if (s !== undefined && compareTimes(p.timeMs, p.timeRem, s.timeMs, s.timeRem) <= 0) {
      this.counters.duplicates++;
      return undefined;
    }
    if (s === undefined && this.streams.size >= this.opts.guard.max) this.evictOnce();
    if (p.temporality !== TEMPORALITY_CUMULATIVE) {
      if (s === undefined && this.streams.size >= this.opts.guard.max) this.counters.untrackedDeltas++;
      else this.store(p, nowMs, false);
      return this.whole(p);
    }
    if (s === undefined) {
      if (!this.opts.guard.allow(this.streams.size)) {
        this.counters.streamLimitDrops++;
        return undefined;
      }
      this.store(p, nowMs, true);
      this.counters.baselines++;
      const fresh =
        (p.startMs > 0 || p.startRem > 0) &&
        compareTimes(p.startMs, p.startRem, p.timeMs, p.timeRem) < 0 &&
        toMs(p.startMs, p.startRem) > this.opts.agentStartUnixMs;
      return fresh ? this.whole(p) : undefined;
    }
    if (p.startMs !== s.startMs || p.startRem !== s.startRem) return this.reset(p, nowMs);
    const diff = subtract(p, s);
    if (diff === 'layout') {
      this.counters.boundChanges++;
      this.store(p, nowMs, true);
      return undefined;
    }
    if (diff === 'decrease') return this.reset(p, nowMs);
    const startUnixMs = toMs(s.timeMs, s.timeRem);
    this.store(p, nowMs, true);
    if (diff.count === 0) return undefined;
    this.counters.deltas++;
    return { ...diff, point: p, startUnixMs, endUnixMs: toMs(p.timeMs, p.timeRem), whole: false };
  }

  /**
   * Whether a gauge point is new: not flagged NO_RECORDED_VALUE and newer than its stream's last point (a retried
   * export must not count twice). Its time is remembered like a delta stream's. O(1).
   */
  level(p: TrackedPoint, nowMs: number): boolean {
    if ((p.flags & FLAG_NO_RECORDED_VALUE) !== 0) {
      this.counters.noRecordedValue++;
      return false;
    }
    const s = this.streams.get(p.streamKey);
    if (s !== undefined && compareTimes(p.timeMs, p.timeRem, s.timeMs, s.timeRem) <= 0) {
      this.counters.duplicates++;
      return false;
    }
    if (s === undefined && this.streams.size >= this.opts.guard.max) this.evictOnce();
    if (s === undefined && this.streams.size >= this.opts.guard.max) this.counters.untrackedLevels++;
    else this.store(p, nowMs, false);
    this.counters.levels++;
    return true;
  }

  private reset<P extends TrackedPoint>(p: P, nowMs: number): StreamDelta<P> | undefined {
    this.counters.resets++;
    this.store(p, nowMs, true);
    return this.whole(p);
  }

  /** The point's own content as the delta (delta temporality, fresh series, reset). */
  private whole<P extends TrackedPoint>(p: P): StreamDelta<P> | undefined {
    if (p.count === 0) return undefined;
    this.counters.deltas++;
    const d: StreamDelta<P> = {
      point: p,
      count: p.count,
      startUnixMs: toMs(p.startMs, p.startRem),
      endUnixMs: toMs(p.timeMs, p.timeRem),
      whole: true,
    };
    if (p.explicit !== undefined) d.explicit = p.explicit;
    if (p.exponential !== undefined) d.exponential = p.exponential;
    return d;
  }

  /** Forgets the least recently seen stream that has sent one point, if any. O(1). */
  private evictOnce(): void {
    const oldest = this.once.oldest();
    if (oldest === undefined) return;
    this.once.delete(oldest[0]);
    this.streams.delete(oldest[0]);
    this.counters.evicted++;
  }

  /** Re-inserts the stream (least-recently-seen order); keeps buckets only for cumulative streams. */
  private store(p: TrackedPoint, nowMs: number, buckets: boolean): void {
    if (this.streams.delete(p.streamKey)) this.once.delete(p.streamKey);
    else this.once.touch(p.streamKey, true);
    const s: Stream = {
      startMs: p.startMs,
      startRem: p.startRem,
      timeMs: p.timeMs,
      timeRem: p.timeRem,
      count: p.count,
      seenAt: nowMs,
    };
    if (buckets && p.explicit !== undefined) s.explicit = p.explicit;
    if (buckets && p.exponential !== undefined) s.exponential = p.exponential;
    this.streams.set(p.streamKey, s);
  }
}

type Diff = { count: number; explicit?: ExplicitBuckets; exponential?: ExponentialBuckets };

/** cur - prev for two points of one stream with the same start: a diff, a decrease, or a layout change. */
function subtract(cur: TrackedPoint, prev: Stream): Diff | 'decrease' | 'layout' {
  const count = cur.count - prev.count;
  if (cur.explicit !== undefined && prev.explicit !== undefined) {
    const e = subtractExplicit(cur.explicit, prev.explicit);
    if (typeof e === 'string') return e;
    return count < 0 ? 'decrease' : { count, explicit: e };
  }
  if (cur.exponential !== undefined && prev.exponential !== undefined) {
    const x = subtractExponential(cur.exponential, prev.exponential);
    if (typeof x === 'string') return x;
    return count < 0 ? 'decrease' : { count, exponential: x };
  }
  return count < 0 ? 'decrease' : { count };
}

function subtractExplicit(cur: ExplicitBuckets, prev: ExplicitBuckets): ExplicitBuckets | 'decrease' | 'layout' {
  if (cur.bounds.length !== prev.bounds.length || cur.counts.length !== prev.counts.length) return 'layout';
  for (let i = 0; i < cur.bounds.length; i++) if (cur.bounds[i] !== prev.bounds[i]) return 'layout';
  const counts = new Array<number>(cur.counts.length);
  for (let i = 0; i < counts.length; i++) {
    const c = cur.counts[i]! - prev.counts[i]!;
    if (c < 0) return 'decrease';
    counts[i] = c;
  }
  return { bounds: cur.bounds, counts };
}

function subtractExponential(
  cur: ExponentialBuckets,
  prev: ExponentialBuckets,
): ExponentialBuckets | 'decrease' | 'layout' {
  if (cur.zeroThreshold !== prev.zeroThreshold || cur.scale > prev.scale) return 'layout';
  const shift = prev.scale - cur.scale;
  const zeroCount = cur.zeroCount - prev.zeroCount;
  if (zeroCount < 0) return 'decrease';
  const positive = subtractBuckets(cur.positive, cur.positiveOffset, prev.positive, prev.positiveOffset, shift);
  const negative = subtractBuckets(cur.negative, cur.negativeOffset, prev.negative, prev.negativeOffset, shift);
  if (positive === undefined || negative === undefined) return 'decrease';
  return {
    scale: cur.scale,
    zeroCount,
    zeroThreshold: cur.zeroThreshold,
    positiveOffset: cur.positiveOffset,
    positive,
    negativeOffset: cur.negativeOffset,
    negative,
  };
}

/**
 * cur - prev, prev's bucket i (at a scale `shift` finer) landing in cur's bucket floor(i / 2^shift).
 * Undefined when any bucket would decrease (including prev counts outside cur's range). O(|cur| + |prev|).
 */
function subtractBuckets(
  cur: readonly number[],
  curOffset: number,
  prev: readonly number[],
  prevOffset: number,
  shift: number,
): number[] | undefined {
  const out = cur.slice();
  const div = 2 ** shift;
  for (let k = 0; k < prev.length; k++) {
    const c = prev[k]!;
    if (c === 0) continue;
    const idx = Math.floor((prevOffset + k) / div) - curOffset;
    if (idx < 0 || idx >= out.length) return undefined;
    const v = out[idx]! - c;
    if (v < 0) return undefined;
    out[idx] = v;
  }
  return out;
}
