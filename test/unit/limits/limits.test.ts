import { describe, expect, it } from 'vitest';
import {
  AnalysisRegistry,
  type AnalysisSettings,
  type RegistryHooks,
} from '../../../src/analysis/analysis-registry.js';
import type { Detector, RequestSample } from '../../../src/contracts/index.js';
import { LimitGuard, limitMessage, upperMedian, type LimitHit, type LimitName } from '../../../src/limits/limits.js';

/** Fails as soon as the canary has `failAt` errors in total (the statistics are not under test here). */
function detector(failAt = Infinity): Detector<null> {
  return {
    type: 'test',
    name: 'errors',
    init: () => null,
    look: (_s, input) => {
      const fail = input.totals.canary.errors >= failAt;
      return {
        state: null,
        verdict: {
          detector: 'test',
          metric: 'errors',
          phase: fail ? 'fail' : 'inconclusive',
          pValue: fail ? 0.001 : 1,
          samples: { baseline: input.totals.baseline.requests, canary: input.totals.canary.requests },
          summary: '',
        },
      };
    },
  };
}

function settings(limits: AnalysisSettings['limits'], failAt = Infinity): AnalysisSettings {
  return {
    intervalMs: 10_000,
    allowedLatenessMs: 0,
    maxDurationMs: 24 * 3_600_000,
    silenceTimeoutMs: 24 * 3_600_000,
    alpha: 0.05,
    metrics: [{ name: 'errors', shadow: false, weight: 1, detector: detector(failAt) }],
    planFor: () => [],
    dryRun: true,
    configHash: 'h',
    maxRollbacks: 100,
    stormWindowMs: 3_600_000,
    limits,
  };
}

interface Seen {
  reached: LimitHit[];
  refused: [LimitName, number][];
  expired: string[];
  evicted: [LimitName, number][];
}

function registry(limits: AnalysisSettings['limits'], failAt = Infinity): { reg: AnalysisRegistry; seen: Seen } {
  const seen: Seen = { reached: [], refused: [], expired: [], evicted: [] };
  const hooks: RegistryHooks = {
    onDecision: () => undefined,
    onLimitReached: (h) => seen.reached.push(h),
    onLimitRefused: (l, n) => seen.refused.push([l, n]),
    onServiceExpired: (s) => seen.expired.push(s),
    onLimitEvicted: (l, n) => seen.evicted.push([l, n]),
  };
  return { reg: new AnalysisRegistry(settings(limits, failAt), hooks), seen };
}

const T0 = 1_767_225_600_000;
const sample = (
  service: string,
  cohort: RequestSample['cohort'],
  t: number,
  version = cohort === 'canary' ? '2' : '1',
  error = false,
): RequestSample => ({ service, version, cohort, endUnixMs: T0 + t, durationMs: 10, error });
const pair = (service: string, t: number, version = '2', error = false): RequestSample[] => [
  sample(service, 'baseline', t),
  sample(service, 'canary', t, version, error),
];

describe('LimitGuard', () => {
  it('refuses at the limit, reports the first refusal of each saturation only, and re-arms below the limit', () => {
    const hits: LimitHit[] = [];
    const g = new LimitGuard('services', 2, (h) => hits.push(h));
    expect([g.allow(0), g.allow(1), g.allow(2), g.allow(3), g.allow(2)]).toEqual([true, true, false, false, false]);
    expect(hits).toEqual([{ limit: 'services', max: 2 }]);
    expect(g.refused).toBe(3);
    expect(g.allow(1)).toBe(true);
    expect(g.allow(2)).toBe(false);
    expect(hits).toHaveLength(2);
  });

  it('names the config key in its log message', () => {
    expect(limitMessage({ limit: 'analyses', max: 5 })).toMatch(/limit reached: 5 analyses.*limits\.maxAnalyses/);
    expect(limitMessage({ limit: 'metric-streams', max: 9 })).toMatch(/limits\.maxMetricStreams/);
  });
});

describe('upperMedian', () => {
  it('is the upper median, robust to one outlier, NaN when empty', () => {
    expect(upperMedian([5])).toBe(5);
    expect(upperMedian([1, 9])).toBe(9);
    expect(upperMedian([3, 1, 1e15])).toBe(3);
    expect(upperMedian([4, 1, 3, 2])).toBe(3);
    expect(upperMedian([])).toBeNaN();
  });
});

describe('AnalysisRegistry limits', () => {
  it('maxServices: telemetry of further services is dropped and counted; known services keep working', () => {
    const { reg, seen } = registry({ maxServices: 2 });
    reg.ingest([...pair('a', 1000), ...pair('b', 1000), ...pair('c', 1000), sample('d', 'baseline', 1000)]);
    reg.ingest([...pair('a', 2000), ...pair('c', 2000)]);
    expect(
      reg
        .list()
        .map((a) => a.service)
        .sort(),
    ).toEqual(['a', 'b']);
    expect(reg.list().find((a) => a.service === 'a')!.totals.canary.requests).toBe(0); // looks not closed yet
    expect(reg.counters.limitedSamples).toBe(5);
    expect(seen.reached).toEqual([{ limit: 'services', max: 2 }]);
    expect(seen.refused).toEqual([
      ['services', 3],
      ['services', 2],
    ]);
  });

  it('maxAnalyses: a further canary waits until a running analysis finishes, then starts', () => {
    const { reg, seen } = registry({ maxAnalyses: 1 }, 1);
    reg.ingest([...pair('a', 1000), ...pair('b', 1000)]);
    expect(reg.analysisCount).toEqual({ running: 1, decided: 0 });
    expect(seen.reached).toEqual([{ limit: 'analyses', max: 1 }]);
    // a's canary fails in its first look, which closes at t=10s (+ lateness 0)
    reg.ingest([...pair('a', 5000, '2', true), ...pair('a', 11_000)]);
    expect(reg.analysisCount).toEqual({ running: 0, decided: 1 });
    reg.ingest([...pair('b', 12_000)]);
    expect(
      reg
        .list()
        .map((a) => `${a.service}:${a.phase}`)
        .sort(),
    ).toEqual(['a:rollback', 'b:running']);
    expect(reg.counters.limitedSamples).toBe(1);
  });

  it('maxVersionsPerService bounds the pending canary versions seen before any baseline', () => {
    const { reg } = registry({ maxVersionsPerService: 2 });
    reg.ingest(['2', '3', '4', '5'].map((v) => sample('a', 'canary', 10, v)));
    expect(reg.counters.limitedSamples).toBe(2);
    reg.ingest([sample('a', 'baseline', 20)]);
    expect(reg.list().map((a) => a.canaryVersion)).toEqual(['2', '3']);
  });

  it('maxVersionsPerService bounds running canary and unknown-cohort versions of one service', () => {
    const { reg, seen } = registry({ maxVersionsPerService: 2 });
    reg.ingest([sample('a', 'baseline', 0), ...['2', '3', '4', '5'].map((v) => sample('a', 'canary', 10, v))]);
    reg.ingest(['x', 'y', 'z'].map((v) => sample('a', 'unknown', 20, v)));
    expect(reg.list().map((a) => a.canaryVersion)).toEqual(['2', '3']);
    expect(reg.unknownCohorts().map((u) => u.version)).toEqual(['x', 'y']);
    expect(reg.counters.limitedSamples).toBe(3);
    expect(seen.refused).toEqual([
      ['versions', 2],
      ['versions', 1],
    ]);
  });
});

describe('AnalysisRegistry: services on probation give way to new ones at maxServices', () => {
  const junk = (from: number, n: number, t: number): RequestSample[] =>
    Array.from({ length: n }, (_, i) => sample(`junk-${from + i}`, 'baseline', t));
  const traffic = (service: string, t: number, n = 30, error = false): RequestSample[] =>
    Array.from({ length: n }, (_, i) => pair(service, t + i, '2', error)).flat();

  it('a flood of one-span services does not lock a real service out; running analyses are never evicted', () => {
    const { reg, seen } = registry({ maxServices: 100, serviceProbation: 20 }, 1);
    reg.ingest(traffic('running', 0)); // an analysis runs before the flood
    for (let k = 0; k < 100; k++) reg.ingest(junk(k * 1000, 1000, 1000 + k)); // 100,000 one-span services
    expect(reg.counters.evictedServices).toBe(100_000 - 99);
    expect(reg.counters.limitedSamples).toBe(0);
    expect(seen.reached).toEqual([]);
    expect(reg.hasService('running')).toBe(true);
    expect(reg.list().map((a) => `${a.service}:${a.phase}`)).toEqual(['running:running']);
    // a real service arriving in the flood gets in at once, starts its analysis and decides
    reg.ingest([...junk(200_000, 500, 2000), ...traffic('real', 2000), ...junk(300_000, 500, 2000)]);
    expect(reg.list().map((a) => `${a.service}:${a.phase}`)).toEqual(['running:running', 'real:running']);
    for (let k = 0; k < 10; k++) reg.ingest(junk(400_000 + k * 1000, 1000, 3000 + k));
    reg.ingest([...traffic('real', 5000, 30, true), ...traffic('real', 11_000)]);
    expect(reg.list().find((a) => a.service === 'real')!.phase).toBe('rollback');
    expect(reg.hasService('running')).toBe(true);
    // evictions are reported once per ingest call, with their count
    expect(seen.evicted.slice(0, 2)).toEqual([
      ['services', 1000 - 99],
      ['services', 1000],
    ]);
    expect(seen.evicted.reduce((n, [, c]) => n + c, 0)).toBe(reg.counters.evictedServices);
  });

  it('the least recently active service on probation goes first; one past its probation stays', () => {
    const { reg } = registry({ maxServices: 3, serviceProbation: 5 });
    reg.ingest([sample('a', 'baseline', 0), sample('b', 'baseline', 0), sample('c', 'baseline', 0)]);
    reg.ingest([sample('a', 'baseline', 1)]); // a is now more recent than b and c
    reg.ingest([sample('d', 'baseline', 2)]);
    expect(['a', 'b', 'c', 'd'].map((s) => reg.hasService(s))).toEqual([true, false, true, true]);
    reg.ingest(Array.from({ length: 5 }, (_, i) => sample('c', 'baseline', 3 + i))); // c passes its probation
    reg.ingest([sample('e', 'baseline', 10), sample('f', 'baseline', 10)]);
    // e took a's place (a: least recently active on probation), f took d's; c is past its probation
    expect(['a', 'c', 'd', 'e', 'f'].map((s) => reg.hasService(s))).toEqual([false, true, false, true, true]);
    expect(reg.counters.evictedServices).toBe(3);
  });

  it('past probation everywhere, new services are refused as before (and with serviceProbation 0)', () => {
    for (const serviceProbation of [0, 2]) {
      const { reg, seen } = registry({ maxServices: 2, serviceProbation });
      reg.ingest([...traffic('a', 0, 2), ...traffic('b', 0, 2), sample('c', 'baseline', 10)]);
      expect(reg.hasService('c')).toBe(false);
      expect(reg.counters.evictedServices).toBe(0);
      expect(seen.refused).toEqual([['services', 1]]);
    }
  });

  it('is deterministic (arrival order only): the same samples evict the same services', () => {
    const run = () => {
      const { reg, seen } = registry({ maxServices: 50, serviceProbation: 3 }, 2);
      for (let i = 0; i < 3000; i++) {
        const t = i * 10;
        reg.ingest(
          i % 3 === 0 ? pair(`s${i % 20}`, t, '2', i % 13 === 0) : [sample(`j${(i * 7919) % 4001}`, 'baseline', t)],
        );
      }
      return {
        counters: { ...reg.counters },
        evicted: seen.evicted,
        list: reg.list().map((a) => `${a.id}:${a.phase}`),
      };
    };
    const a = run();
    expect(a.counters.evictedServices).toBeGreaterThan(1000);
    expect(run()).toEqual(a);
  });

  it('services on probation with skewed clocks do not move the fleet clock that expires the others', () => {
    const HOUR = 3_600_000;
    const { reg, seen } = registry({ serviceIdleMs: HOUR, maxServices: 1000, serviceProbation: 20 });
    reg.ingest([...traffic('a', 0, 20), ...traffic('b', 0, 20)]);
    // 500 one-span services two hours ahead: before probation, their upper median made a and b idle
    reg.ingest(junk(0, 500, 2 * HOUR));
    reg.sweep();
    expect(seen.expired).toEqual([]);
    expect(reg.analysisCount.running).toBe(2);
  });
});

describe('AnalysisRegistry expiry (event time)', () => {
  const HOUR = 3_600_000;

  it('forgets a service idle for serviceIdleMs behind the fleet clock, with its running analysis', () => {
    const { reg, seen } = registry({ serviceIdleMs: HOUR, maxServices: 3 });
    reg.ingest([...pair('gone', 0), ...pair('b', 0), ...pair('c', 0)]);
    reg.ingest([...pair('b', HOUR), ...pair('c', HOUR)]);
    reg.sweep();
    expect(seen.expired).toEqual([]); // exactly the idle time: kept
    reg.ingest([...pair('b', HOUR + 1), ...pair('c', HOUR + 1)]);
    reg.sweep();
    expect(seen.expired).toEqual(['gone']);
    expect(reg.counters.expiredServices).toBe(1);
    expect(
      reg
        .list()
        .map((a) => a.service)
        .sort(),
    ).toEqual(['b', 'c']);
    expect(reg.analysisCount.running).toBe(2);
    // the freed slot is usable: a fourth service fits under maxServices: 3
    reg.ingest(pair('d', HOUR + 2));
    expect(reg.counters.limitedSamples).toBe(0);
  });

  it('one service with a far-future clock does not make the others idle', () => {
    const { reg, seen } = registry({ serviceIdleMs: HOUR });
    reg.ingest([...pair('a', 0), ...pair('b', 0), ...pair('skewed', 1000 * HOUR)]);
    reg.sweep();
    expect(seen.expired).toEqual([]);
  });

  it('sweeps by itself every max(10000, 10 x services) samples', () => {
    const { reg, seen } = registry({ serviceIdleMs: HOUR });
    reg.ingest(pair('gone', 0));
    const batch: RequestSample[] = [];
    for (let i = 0; i < 5000; i++) batch.push(...pair('live', 2 * HOUR + i));
    reg.ingest(batch.slice(0, 9996)); // 9998 samples so far: no sweep yet
    expect(seen.expired).toEqual([]);
    reg.ingest(batch.slice(9996, 9998));
    expect(seen.expired).toEqual(['gone']);
  });

  it('a finished analysis leaves the list after finishedRetentionMs; its version stays decided and can be resumed', () => {
    const { reg } = registry({ finishedRetentionMs: HOUR }, 1);
    reg.ingest([...pair('a', 5000, '2', true), ...pair('a', 11_000)]);
    expect(reg.list().map((a) => a.phase)).toEqual(['rollback']);
    const decidedAt = T0 + 10_000;
    reg.ingest([sample('a', 'baseline', decidedAt - T0 + HOUR)]);
    reg.sweep();
    expect(reg.list()).toHaveLength(1); // exactly the retention: kept
    reg.ingest([sample('a', 'baseline', decidedAt - T0 + HOUR + 1)]);
    reg.sweep();
    expect(reg.list()).toHaveLength(0);
    expect(reg.counters.expiredAnalyses).toBe(1);
    const before = reg.counters.decidedVersionSamples;
    reg.ingest([sample('a', 'canary', decidedAt - T0 + HOUR + 2)]);
    expect(reg.counters.decidedVersionSamples).toBe(before + 1);
    expect(reg.analysisCount.running).toBe(0);
    expect(reg.resume('a', '2')).toBe(true);
    expect(reg.resume('a', '2')).toBe(false);
    reg.ingest([sample('a', 'canary', decidedAt - T0 + HOUR + 3)]);
    expect(reg.analysisCount.running).toBe(1);
  });

  it('keeps at most maxVersionsPerService finished outcomes per service, oldest dropped first', () => {
    const { reg } = registry({ finishedRetentionMs: 0, maxVersionsPerService: 2 }, 1);
    let t = 0;
    for (const v of ['2', '3', '4']) {
      reg.ingest([...pair('a', t + 5000, v, true), ...pair('a', t + 11_000, v)]);
      t += 20_000;
      reg.ingest([sample('a', 'baseline', t)]);
      reg.sweep();
    }
    expect(reg.list()).toHaveLength(0);
    // '2' was forgotten: its canary is analysed again; '3' and '4' are still decided
    const decided = reg.counters.decidedVersionSamples;
    reg.ingest([
      sample('a', 'canary', t + 1, '3'),
      sample('a', 'canary', t + 1, '4'),
      sample('a', 'canary', t + 1, '2'),
    ]);
    expect(reg.counters.decidedVersionSamples).toBe(decided + 2);
    expect(reg.list().map((a) => `${a.canaryVersion}:${a.phase}`)).toEqual(['2:running']);
  });

  it('is deterministic: the same samples give the same expiries', () => {
    const run = () => {
      const { reg, seen } = registry({ serviceIdleMs: 60_000, finishedRetentionMs: 30_000 }, 3);
      for (let i = 0; i < 6000; i++) {
        const svc = `s${i % 7 === 0 && i < 3000 ? 'old' : i % 5}`;
        reg.ingest(pair(svc, i * 100, '2', i % 11 === 0));
      }
      return { expired: seen.expired, counters: { ...reg.counters }, list: reg.list().map((a) => a.id) };
    };
    const a = run();
    expect(a.expired).toEqual(['sold']);
    expect(run()).toEqual(a);
  });
});
