import { describe, expect, it } from 'vitest';
import { LimitGuard, type LimitHit } from '../../../../src/limits/limits.js';
import type { ExponentialBuckets, HistogramPoint } from '../../../../src/ingest/metrics/metric-model.js';
import { StreamTracker } from '../../../../src/ingest/metrics/stream-state.js';

const AGENT_START = 1_767_225_600_000; // ms
const BOUNDS = [5, 10, 25];

interface Opts {
  key?: string;
  start?: number; // ms
  time: number; // ms
  counts?: number[];
  bounds?: number[];
  temporality?: number;
  flags?: number;
  exp?: Partial<ExponentialBuckets>;
}

function point(o: Opts): HistogramPoint {
  const p: HistogramPoint = {
    resource: { service: 'checkout', version: '2.0', cohort: 'canary', key: 'r' },
    scope: 's',
    metric: 'http.server.duration',
    unit: 'ms',
    msPerUnit: 1,
    temporality: o.temporality ?? 2,
    attributes: '',
    streamKey: o.key ?? 'stream-a',
    cohort: 'canary',
    error: false,
    startMs: o.start ?? 0,
    startRem: 0,
    timeMs: o.time,
    timeRem: 0,
    count: 0,
    flags: o.flags ?? 0,
  };
  if (o.exp !== undefined) {
    const x: ExponentialBuckets = {
      scale: 3,
      zeroCount: 0,
      zeroThreshold: 0,
      positiveOffset: 0,
      positive: [],
      negativeOffset: 0,
      negative: [],
      ...o.exp,
    };
    p.exponential = x;
    p.count = x.zeroCount + x.positive.reduce((a, b) => a + b, 0) + x.negative.reduce((a, b) => a + b, 0);
  } else {
    const counts = o.counts ?? [0, 0, 0, 0];
    p.explicit = { bounds: o.bounds ?? BOUNDS, counts };
    p.count = counts.reduce((a, b) => a + b, 0);
  }
  return p;
}

function tracker(max = 100, hits: LimitHit[] = []) {
  return new StreamTracker({
    guard: new LimitGuard('metric-streams', max, (h) => hits.push(h)),
    staleAfterMs: 60_000,
    agentStartUnixMs: AGENT_START,
  });
}

const S0 = AGENT_START - 3_600_000; // a process that started before the agent
const NOW = 0;

describe('StreamTracker: cumulative → delta', () => {
  it('the first point is a baseline; later points with the same start are subtracted', () => {
    const t = tracker();
    expect(t.next(point({ start: S0, time: AGENT_START + 10_000, counts: [5, 5, 0, 0] }), NOW)).toBeUndefined();
    const d = t.next(point({ start: S0, time: AGENT_START + 20_000, counts: [7, 5, 3, 1] }), NOW)!;
    expect(d).toMatchObject({
      count: 6,
      explicit: { bounds: BOUNDS, counts: [2, 0, 3, 1] },
      startUnixMs: AGENT_START + 10_000,
      endUnixMs: AGENT_START + 20_000,
      whole: false,
    });
    expect(t.next(point({ start: S0, time: AGENT_START + 30_000, counts: [7, 5, 3, 1] }), NOW)).toBeUndefined(); // nothing new
    expect(t.counters).toMatchObject({ baselines: 1, deltas: 1 });
  });

  it('a first point whose series started after the agent counts in full', () => {
    const t = tracker();
    const d = t.next(point({ start: AGENT_START + 1000, time: AGENT_START + 10_000, counts: [1, 2, 0, 0] }), NOW)!;
    expect(d).toMatchObject({
      count: 3,
      explicit: { counts: [1, 2, 0, 0] },
      startUnixMs: AGENT_START + 1000,
      whole: true,
    });
    // start == time, or no start, is a baseline only
    expect(
      t.next(point({ key: 'b', start: AGENT_START + 5000, time: AGENT_START + 5000, counts: [1, 0, 0, 0] }), NOW),
    ).toBeUndefined();
    expect(t.next(point({ key: 'c', time: AGENT_START + 5000, counts: [1, 0, 0, 0] }), NOW)).toBeUndefined();
  });

  it('duplicates (time <= last time) are dropped', () => {
    const t = tracker();
    t.next(point({ start: S0, time: AGENT_START + 10_000, counts: [1, 0, 0, 0] }), NOW);
    t.next(point({ start: S0, time: AGENT_START + 20_000, counts: [2, 0, 0, 0] }), NOW);
    expect(t.next(point({ start: S0, time: AGENT_START + 20_000, counts: [2, 0, 0, 0] }), NOW)).toBeUndefined();
    expect(t.next(point({ start: S0, time: AGENT_START + 15_000, counts: [1, 1, 0, 0] }), NOW)).toBeUndefined();
    expect(t.counters.duplicates).toBe(2);
    expect(t.next(point({ start: S0, time: AGENT_START + 30_000, counts: [3, 0, 0, 0] }), NOW)!.count).toBe(1); // against the last kept point
  });

  it('a changed start time is a reset: the point itself is the delta', () => {
    const t = tracker();
    t.next(point({ start: S0, time: AGENT_START + 10_000, counts: [50, 0, 0, 0] }), NOW);
    const d = t.next(point({ start: AGENT_START + 12_000, time: AGENT_START + 20_000, counts: [1, 1, 0, 0] }), NOW)!;
    expect(d).toMatchObject({
      count: 2,
      explicit: { counts: [1, 1, 0, 0] },
      startUnixMs: AGENT_START + 12_000,
      whole: true,
    });
    expect(t.counters.resets).toBe(1);
    expect(
      t.next(point({ start: AGENT_START + 12_000, time: AGENT_START + 30_000, counts: [2, 1, 0, 0] }), NOW)!.count,
    ).toBe(1);
  });

  it('a decrease with the same start is a reset too', () => {
    const t = tracker();
    t.next(point({ start: S0, time: AGENT_START + 10_000, counts: [5, 5, 0, 0] }), NOW);
    expect(t.next(point({ start: S0, time: AGENT_START + 20_000, counts: [6, 1, 0, 0] }), NOW)).toMatchObject({
      count: 7,
      whole: true,
    });
    expect(t.counters.resets).toBe(1);
  });

  it('changed bounds start a new baseline without a delta', () => {
    const t = tracker();
    t.next(point({ start: S0, time: AGENT_START + 10_000, counts: [5, 5, 0, 0] }), NOW);
    expect(
      t.next(point({ start: S0, time: AGENT_START + 20_000, counts: [6, 6, 1, 0], bounds: [5, 10, 50] }), NOW),
    ).toBeUndefined();
    expect(t.counters.boundChanges).toBe(1);
    expect(
      t.next(point({ start: S0, time: AGENT_START + 30_000, counts: [6, 6, 2, 0], bounds: [5, 10, 50] }), NOW)!
        .explicit!.counts,
    ).toEqual([0, 0, 1, 0]);
  });

  it('NO_RECORDED_VALUE points are skipped and leave the state alone', () => {
    const t = tracker();
    t.next(point({ start: S0, time: AGENT_START + 10_000, counts: [5, 0, 0, 0] }), NOW);
    expect(t.next(point({ start: S0, time: AGENT_START + 20_000, flags: 1 }), NOW)).toBeUndefined();
    expect(t.next(point({ start: S0, time: AGENT_START + 30_000, counts: [8, 0, 0, 0] }), NOW)!.count).toBe(3);
    expect(t.counters.noRecordedValue).toBe(1);
  });

  it('exponential: subtracts at the same scale and after the SDK downscales', () => {
    const t = tracker();
    t.next(
      point({
        start: S0,
        time: AGENT_START + 10_000,
        exp: { scale: 3, zeroCount: 1, positiveOffset: 8, positive: [1, 2, 3, 4] },
      }),
      NOW,
    );
    const same = t.next(
      point({
        start: S0,
        time: AGENT_START + 20_000,
        exp: { scale: 3, zeroCount: 2, positiveOffset: 7, positive: [1, 1, 2, 3, 4] },
      }),
      NOW,
    )!;
    expect(same.exponential).toMatchObject({ scale: 3, zeroCount: 1, positiveOffset: 7, positive: [1, 0, 0, 0, 0] });
    // scale 3 → 2: old indices 7..11 land in 3..5 (7>>1 = 3, 8,9 → 4, 10,11 → 5)
    const down = t.next(
      point({
        start: S0,
        time: AGENT_START + 30_000,
        exp: { scale: 2, zeroCount: 2, positiveOffset: 3, positive: [2, 3, 8] },
      }),
      NOW,
    )!;
    expect(down.exponential).toMatchObject({ scale: 2, zeroCount: 0, positiveOffset: 3, positive: [1, 0, 1] });
    expect(down.count).toBe(2);
    // a finer scale than before cannot come from the same series: new baseline
    expect(
      t.next(
        point({
          start: S0,
          time: AGENT_START + 40_000,
          exp: { scale: 4, zeroCount: 2, positiveOffset: 6, positive: [4, 4, 4, 4, 4] },
        }),
        NOW,
      ),
    ).toBeUndefined();
    expect(t.counters.boundChanges).toBe(1);
  });

  it('exponential: counts outside the new range, or decreasing, are a reset', () => {
    const t = tracker();
    t.next(point({ start: S0, time: AGENT_START + 10_000, exp: { scale: 3, positiveOffset: 0, positive: [5] } }), NOW);
    expect(
      t.next(
        point({ start: S0, time: AGENT_START + 20_000, exp: { scale: 3, positiveOffset: 1, positive: [9] } }),
        NOW,
      ),
    ).toMatchObject({ whole: true, count: 9 });
    expect(t.counters.resets).toBe(1);
  });
});

describe('StreamTracker: delta streams, expiry and limits', () => {
  it('delta points are their own delta; a repeated time is a duplicate', () => {
    const t = tracker();
    const d = t.next(
      point({ temporality: 1, start: AGENT_START, time: AGENT_START + 10_000, counts: [1, 0, 0, 0] }),
      NOW,
    )!;
    expect(d).toMatchObject({ count: 1, whole: true });
    expect(
      t.next(point({ temporality: 1, start: AGENT_START, time: AGENT_START + 10_000, counts: [1, 0, 0, 0] }), NOW),
    ).toBeUndefined();
    expect(
      t.next(
        point({ temporality: 1, start: AGENT_START + 10_000, time: AGENT_START + 20_000, counts: [0, 4, 0, 0] }),
        NOW,
      )!.count,
    ).toBe(4);
    expect(t.counters.duplicates).toBe(1);
  });

  it('idle streams expire (least recently seen first) and come back as baselines', () => {
    const t = tracker();
    t.next(point({ key: 'a', start: S0, time: AGENT_START + 10_000, counts: [1, 0, 0, 0] }), 0);
    t.next(point({ key: 'b', start: S0, time: AGENT_START + 10_000, counts: [1, 0, 0, 0] }), 30_000);
    t.next(point({ key: 'a', start: S0, time: AGENT_START + 20_000, counts: [2, 0, 0, 0] }), 50_000); // a seen again
    expect(t.expire(95_000)).toBe(1); // b (seen at 30 s) is idle for more than 60 s; a is not
    expect(t.size).toBe(1);
    expect(
      t.next(point({ key: 'b', start: S0, time: AGENT_START + 90_000, counts: [9, 0, 0, 0] }), 95_000),
    ).toBeUndefined(); // baseline again
    expect(t.expire(200_000)).toBe(2);
    expect(t.counters.expired).toBe(3);
  });

  it('past the stream limit new cumulative streams are dropped (reported once), delta streams pass untracked', () => {
    const hits: LimitHit[] = [];
    const t = tracker(2, hits);
    t.next(point({ key: 'a', start: S0, time: AGENT_START + 10_000, counts: [1, 0, 0, 0] }), 0);
    t.next(point({ key: 'b', start: S0, time: AGENT_START + 10_000, counts: [1, 0, 0, 0] }), 0);
    // a second point each: neither is a one-off stream any more, so neither gives way to a new one
    t.next(point({ key: 'a', start: S0, time: AGENT_START + 15_000, counts: [1, 0, 0, 0] }), 0);
    t.next(point({ key: 'b', start: S0, time: AGENT_START + 15_000, counts: [1, 0, 0, 0] }), 0);
    expect(
      t.next(point({ key: 'c', start: AGENT_START + 1, time: AGENT_START + 10_000, counts: [1, 0, 0, 0] }), 0),
    ).toBeUndefined();
    expect(
      t.next(point({ key: 'd', start: AGENT_START + 1, time: AGENT_START + 10_000, counts: [1, 0, 0, 0] }), 0),
    ).toBeUndefined();
    expect(hits).toEqual([{ limit: 'metric-streams', max: 2 }]);
    expect(t.counters.streamLimitDrops).toBe(2);
    expect(
      t.next(
        point({ key: 'e', temporality: 1, start: AGENT_START, time: AGENT_START + 10_000, counts: [1, 0, 0, 0] }),
        0,
      )!.count,
    ).toBe(1);
    expect(t.counters.untrackedDeltas).toBe(1);
    // existing streams keep working
    expect(t.next(point({ key: 'a', start: S0, time: AGENT_START + 20_000, counts: [3, 0, 0, 0] }), 0)!.count).toBe(2);
    expect(t.size).toBe(2);
    expect(t.counters.evicted).toBe(0);
  });

  it('at the stream limit a new stream takes the place of the least recently seen one-point stream', () => {
    const hits: LimitHit[] = [];
    const t = tracker(3, hits);
    const at = (key: string, time: number, counts = [1, 0, 0, 0]) =>
      t.next(point({ key, start: S0, time: AGENT_START + time, counts }), 0);
    at('real', 10_000);
    at('real', 20_000, [2, 0, 0, 0]); // two points: holds its place
    for (let i = 0; i < 1000; i++) at(`junk-${i}`, 20_000); // a flood of one-off streams
    expect(t.size).toBe(3);
    expect(t.counters.evicted).toBe(998);
    expect(t.counters.streamLimitDrops).toBe(0);
    expect(hits).toEqual([]);
    expect(at('real', 30_000, [5, 0, 0, 0])!.count).toBe(3); // the real stream kept its state
    // a new real stream gets in at once, and keeps its place once it has sent a second point
    at('new', 30_000);
    expect(at('new', 40_000, [3, 0, 0, 0])!.count).toBe(2);
    for (let i = 0; i < 10; i++) at(`more-junk-${i}`, 40_000);
    expect(at('new', 50_000, [4, 0, 0, 0])!.count).toBe(1);
    expect(at('real', 50_000, [6, 0, 0, 0])!.count).toBe(1);
    // with only established streams left, new ones are refused as before
    at('third', 50_000);
    at('third', 60_000, [2, 0, 0, 0]);
    expect(at('late', 60_000)).toBeUndefined();
    expect(t.counters.streamLimitDrops).toBe(1);
    expect(hits).toEqual([{ limit: 'metric-streams', max: 3 }]);
  });
});

describe('StreamTracker: counters and gauge levels', () => {
  const num = (
    key: string,
    time: number,
    value: number,
    o: { start?: number; temporality?: number; flags?: number } = {},
  ) => ({
    streamKey: key,
    startMs: o.start ?? S0,
    startRem: 0,
    timeMs: AGENT_START + time,
    timeRem: 0,
    temporality: o.temporality ?? 2,
    count: value,
    flags: o.flags ?? 0,
  });

  it('a counter without buckets: difference of values, non-integer kept, decrease is a reset', () => {
    const t = tracker();
    expect(t.next(num('c', 10_000, 2.5), 0)).toBeUndefined();
    expect(t.next(num('c', 20_000, 4), 0)).toMatchObject({ count: 1.5, whole: false });
    expect(t.next(num('c', 30_000, 1), 0)).toMatchObject({ count: 1, whole: true });
    expect(t.counters).toMatchObject({ baselines: 1, deltas: 2, resets: 1 });
  });

  it('gauge levels: NO_RECORDED_VALUE and points not newer are dropped; past the limit they pass untracked', () => {
    const t = tracker(1);
    expect(t.level(num('g', 10_000, 0), 0)).toBe(true);
    expect(t.level(num('g', 10_000, 5), 0)).toBe(false);
    expect(t.level(num('g', 20_000, 5, { flags: 1 }), 0)).toBe(false);
    expect(t.level(num('g', 20_000, 5), 0)).toBe(true);
    expect(t.level(num('h', 20_000, 5), 0)).toBe(true); // 'g' has sent two points: 'h' is not tracked
    expect(t.level(num('h', 20_000, 5), 0)).toBe(true);
    expect(t.counters).toMatchObject({ levels: 4, untrackedLevels: 2, duplicates: 1, noRecordedValue: 1 });
  });
});
