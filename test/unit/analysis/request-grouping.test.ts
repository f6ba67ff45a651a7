/**
 * Requests, not attempts (issue 13): the SERVER spans of one trace, service and cohort that end in the same look
 * are ONE request. Spans made by the real OpenTelemetry SDK, serialised by its OTLP serialisers and read by
 * Vigil's decoders, through a real AnalysisRegistry; what the detectors are shown is each look's batch.
 */
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { AnalysisRegistry, type AnalysisSettings, type LookEvent } from '../../../src/analysis/analysis-registry.js';
import type { CohortBatch, Detector, RequestSample } from '../../../src/contracts/index.js';
import { addRequest, emptyBatch } from '../../../src/evidence/cohort-batch.js';
import { DEFAULT_COHORT_RULES } from '../../../src/ingest/cohort.js';
import { decodeTracesProtobuf } from '../../../src/ingest/otlp/decode-traces-protobuf.js';
import { retriedSpans, type RetriedRequest } from '../../helpers/retried-spans.js';

const T0 = 1_767_225_600_000; // a multiple of the 10 s look
const BASELINE = { service: 'pay', version: '1.0', cohort: 'baseline' } as const;
const CANARY = { service: 'pay', version: '2.0', cohort: 'canary' } as const;

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

/** A registry with one clock per service (no lateness, no idle wait): a sample of look k + 1 closes look k. */
function registry(over: Partial<AnalysisSettings> = {}) {
  const looks: LookEvent[] = [];
  const evicted: number[] = [];
  const retries: number[] = [];
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
      ...over,
    },
    {
      onDecision: () => {},
      onLook: (e) => looks.push(e),
      onLimitEvicted: (limit, n) => {
        if (limit === 'open-traces') evicted.push(n);
      },
      onRetries: (_cohort, n) => retries.push(n),
    },
  );
  return { reg, looks, evicted, retries };
}

/** The spans, through the SDK's OTLP/protobuf serialiser and Vigil's decoder. */
function decode(spans: ReadableSpan[]): RequestSample[] {
  return decodeTracesProtobuf(ProtobufTraceSerializer.serializeRequest(spans)!, DEFAULT_COHORT_RULES).samples;
}

/** One request of one attempt (its own trace). */
const single = (startMs: number, endMs: number, fails = false): RetriedRequest => ({
  attempts: [{ startMs: T0 + startMs, endMs: T0 + endMs, fails }],
});

/** The batch of `requests` added directly, each as ONE request: what the merged attempts must give. */
function direct(requests: { durationMs: number; error: boolean; route: string; retries: number }[]): CohortBatch {
  const b = emptyBatch();
  for (const r of requests) addRequest(b, r.durationMs, r.error, r.route, r.retries);
  return b;
}

function expectSameEvidence(got: CohortBatch, want: CohortBatch): void {
  expect(got.requests).toBe(want.requests);
  expect(got.errors).toBe(want.errors);
  expect(got.retries).toBe(want.retries);
  expect(got.latencyHistogram).toEqual(want.latencyHistogram);
  expect(got.logLatency.n).toBe(want.logLatency.n);
  expect(got.logLatency.mean).toBeCloseTo(want.logLatency.mean, 12);
  expect(got.logLatency.m2).toBeCloseTo(want.logLatency.m2, 12);
  expect(Object.keys(got.routes ?? {}).sort()).toEqual(Object.keys(want.routes ?? {}).sort());
  for (const [route, b] of Object.entries(want.routes ?? {})) {
    const g = got.routes![route]!;
    expect([g.requests, g.errors, g.retries, g.latencyHistogram]).toEqual([
      b.requests,
      b.errors,
      b.retries,
      b.latencyHistogram,
    ]);
    expect(g.logLatency.mean).toBeCloseTo(b.logLatency.mean, 12);
  }
}

/** The look events by look number (1 = the analysis's first look). */
const byLook = (looks: LookEvent[]) => new Map(looks.map((e) => [e.analysis.look, e]));

describe('requests, not attempts', () => {
  // R1: failed, failed, then served (3 attempts, the last on another route); R2: failed twice
  const r1: RetriedRequest = {
    attempts: [
      { startMs: T0 + 2000, endMs: T0 + 2100, fails: true },
      { startMs: T0 + 2150, endMs: T0 + 2250, fails: true },
      { startMs: T0 + 2300, endMs: T0 + 2420, fails: false, route: '/pay/confirm' },
    ],
  };
  const r2: RetriedRequest = {
    attempts: [
      { startMs: T0 + 3000, endMs: T0 + 3030, fails: false },
      { startMs: T0 + 3040, endMs: T0 + 3100, fails: true },
    ],
  };
  const merged = [
    { durationMs: 420, error: false, route: '/pay/confirm', retries: 2 },
    { durationMs: 100, error: true, route: '/pay', retries: 1 },
  ];

  it('counts the attempts of one trace as one request: outcome of the last, duration from first start to last end, retries', () => {
    const { reg, looks, retries } = registry();
    reg.ingest(decode(retriedSpans(BASELINE, [single(1000, 1040)])));
    reg.ingest(decode(retriedSpans(CANARY, [r1, r2])));
    // a sample of look 1 closes look 0
    reg.ingest(
      decode([...retriedSpans(BASELINE, [single(11_000, 11_050)]), ...retriedSpans(CANARY, [single(11_000, 11_050)])]),
    );
    const look1 = byLook(looks).get(1)!;
    expect(look1.batch.canary.requests).toBe(2);
    expectSameEvidence(look1.batch.canary, direct(merged));
    expect(reg.counters.samples).toBe(1 + 5 + 2); // spans
    expect(reg.counters.retriedAttempts).toBe(3);
    expect(retries).toEqual([3]);
    expect(reg.list()[0]!.totals.canary).toEqual({ requests: 2, errors: 1, retries: 3 });
  });

  it('groups attempts that arrive out of order and in separate exports the same way', () => {
    const { reg, looks } = registry();
    reg.ingest(decode(retriedSpans(BASELINE, [single(1000, 1040)])));
    const spans = retriedSpans(CANARY, [r1, r2]);
    // the last attempts first (another pod exported sooner), one span per export
    for (const i of [4, 2, 3, 0, 1]) reg.ingest(decode([spans[i]!]));
    reg.ingest(
      decode([...retriedSpans(BASELINE, [single(11_000, 11_050)]), ...retriedSpans(CANARY, [single(11_000, 11_050)])]),
    );
    expectSameEvidence(byLook(looks).get(1)!.batch.canary, direct(merged));
  });

  it('takes the attempts back from a canary waiting for its first baseline sample', () => {
    const { reg, looks } = registry();
    reg.ingest(decode(retriedSpans(CANARY, [r1, r2])));
    expect(reg.list()).toHaveLength(0);
    reg.ingest(decode(retriedSpans(BASELINE, [single(4000, 4040)])));
    reg.ingest(
      decode([...retriedSpans(BASELINE, [single(11_000, 11_050)]), ...retriedSpans(CANARY, [single(11_000, 11_050)])]),
    );
    expectSameEvidence(byLook(looks).get(1)!.batch.canary, direct(merged));
  });

  it('counts the attempts of one trace in two looks as two requests (one per look)', () => {
    const { reg, looks } = registry();
    reg.ingest(decode(retriedSpans(BASELINE, [single(1000, 1040), single(11_000, 11_040)])));
    reg.ingest(
      decode(
        retriedSpans(CANARY, [
          {
            attempts: [
              { startMs: T0 + 9800, endMs: T0 + 9900, fails: true },
              { startMs: T0 + 9950, endMs: T0 + 10_050, fails: false },
            ],
          },
        ]),
      ),
    );
    reg.ingest(
      decode([...retriedSpans(BASELINE, [single(21_000, 21_050)]), ...retriedSpans(CANARY, [single(21_000, 21_050)])]),
    );
    const looked = byLook(looks);
    expectSameEvidence(
      looked.get(1)!.batch.canary,
      direct([{ durationMs: 100, error: true, route: '/pay', retries: 0 }]),
    );
    expectSameEvidence(
      looked.get(2)!.batch.canary,
      direct([{ durationMs: 100, error: false, route: '/pay', retries: 0 }]),
    );
    expect(reg.counters.retriedAttempts).toBe(0);
  });

  it('a retry that arrives after its look closed is a late request of its own; the look kept the earlier attempt', () => {
    const { reg, looks } = registry();
    const spans = retriedSpans(CANARY, [
      {
        attempts: [
          { startMs: T0 + 2000, endMs: T0 + 2100, fails: true },
          { startMs: T0 + 2200, endMs: T0 + 2300, fails: false },
        ],
      },
    ]);
    reg.ingest(decode([...retriedSpans(BASELINE, [single(1000, 1040)]), spans[0]!]));
    reg.ingest(
      decode([...retriedSpans(BASELINE, [single(11_000, 11_050)]), ...retriedSpans(CANARY, [single(11_000, 11_050)])]),
    );
    reg.ingest(decode([spans[1]!]));
    expectSameEvidence(
      byLook(looks).get(1)!.batch.canary,
      direct([{ durationMs: 100, error: true, route: '/pay', retries: 0 }]),
    );
    expect(reg.list()[0]!.late).toEqual({ baseline: 0, canary: 1 });
    expect(reg.counters.retriedAttempts).toBe(0);
  });

  it('at limits.maxOpenTraces evicts the oldest look (counted): its later attempts count as new requests', () => {
    const { reg, looks, evicted } = registry({ limits: { maxOpenTraces: 4 } });
    const CART_BASELINE = { ...BASELINE, service: 'cart' };
    const CART_CANARY = { ...CANARY, service: 'cart' };
    const retried = (startMs: number): RetriedRequest => ({
      attempts: [
        { startMs: T0 + startMs, endMs: T0 + startMs + 100, fails: true },
        { startMs: T0 + startMs + 200, endMs: T0 + startMs + 300, fails: false },
      ],
    });
    const [y1, y2] = retriedSpans(CART_CANARY, [retried(1000)]);
    const [a1, a2] = retriedSpans(CANARY, [retried(1000)]);
    // cart's look 0 first (2 requests), then pay's (2): the table is full
    reg.ingest(decode([...retriedSpans(CART_BASELINE, [single(500, 540)]), y1!]));
    reg.ingest(decode([...retriedSpans(BASELINE, [single(500, 540)]), a1!]));
    expect(reg.openTraces).toBe(4);
    // a new pay request evicts the oldest look remembered: cart's (its 2 requests counted)
    reg.ingest(decode(retriedSpans(CANARY, [single(1500, 1600)])));
    expect(evicted).toEqual([2]);
    // pay's retry still folds into its request; cart's counts as a new one
    reg.ingest(decode([a2!, y2!]));
    expect(evicted).toEqual([2]);
    expect(reg.counters.evictedOpenTraces).toBe(2);
    // samples of look 1 (without trace ids: they take no room) close look 0, whose requests leave uncounted
    const closing = (service: string): RequestSample[] =>
      (['baseline', 'canary'] as const).map((cohort) => ({
        service,
        version: cohort === 'canary' ? '2.0' : '1.0',
        cohort,
        endUnixMs: T0 + 11_000,
        durationMs: 20,
        error: false,
      }));
    reg.ingest([...closing('pay'), ...closing('cart')]);
    expect(reg.openTraces).toBe(0);
    expect(evicted).toEqual([2]);
    const canaryOf = (service: string) =>
      looks.find((e) => e.analysis.service === service && e.analysis.look === 1)!.batch.canary;
    expectSameEvidence(
      canaryOf('pay'),
      direct([
        { durationMs: 300, error: false, route: '/pay', retries: 1 }, // a1 + a2
        { durationMs: 100, error: false, route: '/pay', retries: 0 },
      ]),
    );
    expectSameEvidence(
      canaryOf('cart'),
      direct([
        { durationMs: 100, error: true, route: '/pay', retries: 0 }, // y1, evicted before its retry
        { durationMs: 100, error: false, route: '/pay', retries: 0 }, // y2, counted on its own
      ]),
    );
  });

  it('analysis.requestUnit span counts every span as a request', () => {
    const { reg, looks, retries } = registry({ requestUnit: 'span' });
    reg.ingest(decode(retriedSpans(BASELINE, [single(1000, 1040)])));
    reg.ingest(decode(retriedSpans(CANARY, [r1, r2])));
    reg.ingest(
      decode([...retriedSpans(BASELINE, [single(11_000, 11_050)]), ...retriedSpans(CANARY, [single(11_000, 11_050)])]),
    );
    const canary = byLook(looks).get(1)!.batch.canary;
    expect([canary.requests, canary.errors, canary.retries]).toEqual([5, 3, undefined]);
    expect(reg.counters.retriedAttempts).toBe(0);
    expect(retries).toEqual([]);
    expect(reg.openTraces).toBe(0);
  });
});
