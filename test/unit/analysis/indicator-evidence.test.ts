/**
 * Span indicators as evidence (issue 16): a request sample with `indicators` also counts in `batch.indicators[key]`,
 * added and taken back like the request itself (addEvidence), and the request grouping (analysis.requestUnit
 * `trace`) gives a request the union of its attempts' indicators.
 */
import { describe, expect, it } from 'vitest';
import { AnalysisRegistry, type LookEvent } from '../../../src/analysis/analysis-registry.js';
import type { ServiceState } from '../../../src/analysis/analysis-types.js';
import { addEvidence, keepPendingCanary } from '../../../src/analysis/open-buckets.js';
import { OpenTraces, TraceBucket } from '../../../src/analysis/open-traces.js';
import type { CohortBatch, Detector, RequestSample } from '../../../src/contracts/index.js';
import { addRequest, emptyBatch } from '../../../src/evidence/cohort-batch.js';

const T0 = 1_767_225_600_000; // a multiple of the 10 s look

function sample(over: Partial<RequestSample> = {}): RequestSample {
  return {
    service: 'pay',
    route: '/pay',
    version: '2.0',
    cohort: 'canary',
    endUnixMs: T0 + 1000,
    durationMs: 40,
    error: false,
    spanKey: undefined,
    traceKey: undefined,
    ...over,
  };
}

/** The batch of `requests` added directly: what an indicator's batch must hold. */
function direct(requests: { durationMs: number; error: boolean; route?: string; retries?: number }[]): CohortBatch {
  const b = emptyBatch();
  for (const r of requests) addRequest(b, r.durationMs, r.error, r.route, r.retries);
  return b;
}

function expectSameEvidence(got: CohortBatch | undefined, want: CohortBatch): void {
  expect(got).toBeDefined();
  expect([got!.requests, got!.errors, got!.retries, got!.latencyHistogram]).toEqual([
    want.requests,
    want.errors,
    want.retries,
    want.latencyHistogram,
  ]);
  expect(got!.logLatency.n).toBe(want.logLatency.n);
  expect(got!.logLatency.mean).toBeCloseTo(want.logLatency.mean, 12);
  expect(got!.logLatency.m2).toBeCloseTo(want.logLatency.m2, 12);
  expect(Object.keys(got!.routes ?? {}).sort()).toEqual(Object.keys(want.routes ?? {}).sort());
  for (const [route, b] of Object.entries(want.routes ?? {}))
    expect([got!.routes![route]!.requests, got!.routes![route]!.errors]).toEqual([b.requests, b.errors]);
}

describe('addEvidence: span indicators', () => {
  it('adds the request to each of its indicators, with the same duration, error, route and retries', () => {
    const b = emptyBatch();
    addEvidence(b, sample({ indicators: ['checkout', 'miss'], error: true, retries: 2 }), '/pay');
    addEvidence(b, sample({ indicators: ['miss'], durationMs: 90 }), '/cart');
    addEvidence(b, sample({ durationMs: 7 }), '/pay');
    expect(b.requests).toBe(3);
    expect(Object.keys(b.indicators!).sort()).toEqual(['checkout', 'miss']);
    expectSameEvidence(b.indicators!.checkout, direct([{ durationMs: 40, error: true, route: '/pay', retries: 2 }]));
    expectSameEvidence(
      b.indicators!.miss,
      direct([
        { durationMs: 40, error: true, route: '/pay', retries: 2 },
        { durationMs: 90, error: false, route: '/cart' },
      ]),
    );
  });

  it('takes it back with weight -1, to exactly the batch without it (an emptied indicator is removed)', () => {
    const b = emptyBatch();
    const kept = sample({ indicators: ['miss'], durationMs: 90 });
    const taken = sample({ indicators: ['checkout', 'miss'], error: true, retries: 1 });
    addEvidence(b, kept, '/cart');
    addEvidence(b, taken, '/pay');
    addEvidence(b, taken, '/pay', -1);
    const want = emptyBatch();
    addEvidence(want, kept, '/cart');
    expect(b).toEqual(want);
    addEvidence(b, kept, '/cart', -1);
    expect(b.indicators).toBeUndefined();
    expect(b.requests).toBe(0);
  });

  it('without indicators leaves batch.indicators absent', () => {
    const b = emptyBatch();
    addEvidence(b, sample());
    expect(b.indicators).toBeUndefined();
    addEvidence(b, sample(), undefined, -1);
    expect(b).toEqual(emptyBatch());
  });

  it('keeps the indicators of a canary waiting for its first baseline sample (keepPendingCanary)', () => {
    const svc = {} as ServiceState;
    const s = sample({ indicators: ['checkout'] });
    keepPendingCanary(svc, '2.0', 0, s, '/pay');
    keepPendingCanary(svc, '2.0', 0, sample({ indicators: ['checkout'], durationMs: 5 }), '/pay');
    keepPendingCanary(svc, '2.0', 0, s, '/pay', -1);
    const pending = svc.canaryPending!.get('2.0')!.spans.get(0)!;
    expect(pending.requests).toBe(1);
    expectSameEvidence(pending.indicators?.checkout, direct([{ durationMs: 5, error: false, route: '/pay' }]));
  });
});

describe('open traces: indicators of a grouped request', () => {
  it('are the union of its attempts, in order of first appearance, whichever attempt ends last', () => {
    const b = new TraceBucket(1, 0);
    b.add(10, T0 + 100, 100, true, 0, '/pay', '2.0', ['miss']);
    b.add(12, T0 + 100, 100, true, 0, '/pay', '2.0');
    expect(b.counted(0).indicators).toEqual(['miss']);
    expect(b.counted(1)).not.toHaveProperty('indicators');
    // an attempt that ended earlier (arrived late) still brings its indicators
    expect(b.merge(0, T0 + 50, 40, true, '/pay', '2.0', 1, ['checkout', 'miss']).indicators).toEqual([
      'miss',
      'checkout',
    ]);
    expect(b.merge(0, T0 + 200, 50, false, '/pay', '2.0', 1).indicators).toEqual(['miss', 'checkout']);
    expect(b.merge(1, T0 + 200, 50, false, '/pay', '2.0', 1, ['eu']).indicators).toEqual(['eu']);
    // what the table hands out is a copy: the registry may keep it on a sample
    b.counted(0).indicators!.push('x');
    expect(b.counted(0).indicators).toEqual(['miss', 'checkout']);
  });

  it('are forgotten with the bucket: a spare bucket reused for the next look starts without them', () => {
    const t = new OpenTraces(100);
    t.add(1, 0, 10, T0 + 100, 100, false, 0, '/pay', '2.0', ['miss']);
    t.closeUpTo(1, 0);
    t.add(1, 1, 10, T0 + 10_100, 100, false, 0, '/pay', '2.0');
    const next = t.bucket(1, 1)!;
    expect(next.counted(next.find(10))).not.toHaveProperty('indicators');
  });
});

const never: Detector<null> = {
  type: 'test-never',
  name: 'never',
  init: () => null,
  look: (state, input) => ({
    state,
    verdict: {
      detector: 'test-never',
      metric: 'never',
      phase: 'inconclusive',
      pValue: 1,
      samples: { baseline: input.totals.baseline.requests, canary: input.totals.canary.requests },
      summary: 'never decides',
    },
  }),
};

/** A registry grouping attempts by trace, one clock per service: a sample of look k + 1 closes look k. */
function registry() {
  const looks: LookEvent[] = [];
  const reg = new AnalysisRegistry(
    {
      intervalMs: 10_000,
      allowedLatenessMs: 0,
      sourceIdleTimeoutMs: 0,
      maxDurationMs: 600_000,
      silenceTimeoutMs: 120_000,
      alpha: 0.05,
      metrics: [{ name: 'never', shadow: false, weight: 1, detector: never }],
      planFor: () => [],
      dryRun: true,
      configHash: 'h',
      maxRollbacks: 3,
      stormWindowMs: 3_600_000,
    },
    { onDecision: () => {}, onLook: (e) => looks.push(e) },
  );
  return { reg, looks };
}

const baseline = (endMs: number): RequestSample =>
  sample({ version: '1.0', cohort: 'baseline', endUnixMs: T0 + endMs, traceKey: 1e6 + endMs });

describe('request grouping (analysis.requestUnit trace) carries indicators', () => {
  // attempts of trace 7: failed without indicators, failed with `miss`, served with `checkout`; trace 8: one attempt
  const attempts = [
    sample({ traceKey: 7, endUnixMs: T0 + 2100, durationMs: 100, error: true }),
    sample({ traceKey: 7, endUnixMs: T0 + 2250, durationMs: 100, error: true, indicators: ['miss'] }),
    sample({ traceKey: 7, endUnixMs: T0 + 2420, durationMs: 120, indicators: ['checkout', 'miss'] }),
    sample({ traceKey: 8, endUnixMs: T0 + 3100, durationMs: 60, indicators: ['checkout'] }),
  ];
  const grouped = { durationMs: 420, error: false, route: '/pay', retries: 2 };
  const single = { durationMs: 60, error: false, route: '/pay', retries: 0 };

  function lookOne(order: number[], baselineFirst: boolean): CohortBatch {
    const { reg, looks } = registry();
    if (baselineFirst) reg.ingest([baseline(1000)]);
    for (const i of order) reg.ingest([attempts[i]!]);
    if (!baselineFirst) reg.ingest([baseline(1000)]);
    reg.ingest([baseline(11_000), sample({ endUnixMs: T0 + 11_000, traceKey: 99 })]);
    const look = looks.find((e) => e.analysis.look === 1)!;
    return look.batch.canary;
  }

  it('the grouped request counts once in each indicator any of its attempts had', () => {
    for (const order of [
      [0, 1, 2, 3],
      [2, 0, 3, 1],
    ]) {
      const canary = lookOne(order, true);
      expect(canary.requests).toBe(2);
      expect(Object.keys(canary.indicators ?? {}).sort()).toEqual(['checkout', 'miss']);
      expectSameEvidence(canary.indicators!.miss, direct([grouped]));
      expectSameEvidence(canary.indicators!.checkout, direct([grouped, single]));
    }
  });

  it('so does a canary waiting for its first baseline sample', () => {
    const canary = lookOne([1, 3, 0, 2], false);
    expectSameEvidence(canary.indicators!.miss, direct([grouped]));
    expectSameEvidence(canary.indicators!.checkout, direct([grouped, single]));
  });
});
