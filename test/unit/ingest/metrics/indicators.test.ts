import { describe, expect, it } from 'vitest';
import type { MetricIndicatorSpec } from '../../../../src/contracts/telemetry.js';
import type { CohortRules } from '../../../../src/ingest/cohort.js';
import { MetricsIngest } from '../../../../src/ingest/metrics-ingest.js';
import { compileMetricIndicators } from '../../../../src/ingest/metrics/indicators.js';
import { decodeMetricsJson } from '../../../../src/ingest/otlp/decode-metrics-json.js';

/**
 * Metric indicators (issue 16) through MetricsIngest, from hand-written OTLP/JSON requests: counters (cumulative →
 * delta like histograms), gauges and UpDownCounters (per-instance levels), histograms by name, and `where`.
 */

const RULES: CohortRules = { attribute: 'vigil.cohort', podLabels: ['track'], canaryVersion: null };
const T0 = 1_767_225_600_000; // agent start, ms
const OLD = T0 - 3_600_000; // a series that started before the agent

type Attrs = Record<string, string | number | boolean>;
interface Pt {
  attrs?: Attrs;
  start?: number;
  time: number;
  value?: number;
  int?: boolean;
  flags?: number;
  counts?: number[];
  bounds?: number[];
}
interface M {
  name: string;
  unit?: string;
  kind: 'counter' | 'updown' | 'gauge' | 'histogram';
  temporality?: number;
  points: Pt[];
}

const ns = (ms: number): string => (BigInt(Math.round(ms)) * 1_000_000n).toString();
const anyValue = (v: string | number | boolean) =>
  typeof v === 'string'
    ? { stringValue: v }
    : typeof v === 'boolean'
      ? { boolValue: v }
      : Number.isInteger(v)
        ? { intValue: String(v) }
        : { doubleValue: v };
const attributes = (a: Attrs = {}) => Object.entries(a).map(([key, v]) => ({ key, value: anyValue(v) }));

function point(p: Pt, histogram: boolean): object {
  const base = {
    attributes: attributes(p.attrs),
    startTimeUnixNano: ns(p.start ?? OLD),
    timeUnixNano: ns(p.time),
    ...(p.flags !== undefined ? { flags: p.flags } : {}),
  };
  if (histogram) {
    const counts = p.counts ?? [];
    return { ...base, count: counts.reduce((a, b) => a + b, 0), bucketCounts: counts, explicitBounds: p.bounds };
  }
  return {
    ...base,
    ...(p.int === false
      ? { asDouble: Number.isNaN(p.value) ? 'NaN' : (p.value ?? 0) }
      : { asInt: String(p.value ?? 0) }),
  };
}

function metric(m: M): object {
  const dataPoints = m.points.map((p) => point(p, m.kind === 'histogram'));
  const aggregationTemporality = m.temporality ?? 2;
  const data =
    m.kind === 'gauge'
      ? { gauge: { dataPoints } }
      : m.kind === 'histogram'
        ? { histogram: { aggregationTemporality, dataPoints } }
        : { sum: { aggregationTemporality, isMonotonic: m.kind === 'counter', dataPoints } };
  return { name: m.name, unit: m.unit ?? '', ...data };
}

function body(resources: { attrs: Attrs; metrics: M[] }[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      resourceMetrics: resources.map((r) => ({
        resource: { attributes: attributes(r.attrs) },
        scopeMetrics: [{ scope: { name: 'app' }, metrics: r.metrics.map(metric) }],
      })),
    }),
  );
}

const CANARY: Attrs = { 'service.name': 'shop', 'service.version': '2.0', 'vigil.cohort': 'canary' };

function ingestWith(indicators: MetricIndicatorSpec[], opts: { maxStreams?: number } = {}) {
  const ingest = new MetricsIngest({ rules: RULES, indicators, agentStartUnixMs: T0, ...opts });
  return {
    ingest,
    send: (metrics: M[], attrs: Attrs = CANARY) => ingest.ingest(body([{ attrs, metrics }]), 'json', T0),
  };
}

/** The indicator `key`'s events per increment time (counters). */
function events(r: ReturnType<MetricsIngest['ingest']>, key: string): Record<number, number> {
  const out: Record<number, number> = {};
  for (const inc of r.increments) {
    const b = inc.batch.indicators?.[key];
    if (b !== undefined) out[inc.endUnixMs - T0] = b.requests;
  }
  return out;
}

const CONV: MetricIndicatorSpec = { key: 'conv', kind: 'counter', metric: 'checkout.completed', where: {} };
const counter = (points: Pt[], temporality = 2): M => ({
  name: 'checkout.completed',
  kind: 'counter',
  temporality,
  points,
});

describe('metric indicators: counters', () => {
  it('cumulative → delta: baseline, difference, reset, duplicate; the increments carry only indicators', () => {
    const { ingest, send } = ingestWith([CONV]);
    expect(send([counter([{ time: T0 + 10_000, value: 100 }])]).increments).toEqual([]); // baseline
    const second = send([counter([{ time: T0 + 20_000, value: 107 }])]);
    expect(second.increments).toHaveLength(1);
    expect(second.increments[0]).toMatchObject({
      service: 'shop',
      version: '2.0',
      cohort: 'canary',
      endUnixMs: T0 + 20_000,
      batch: { requests: 0, errors: 0, indicators: { conv: { requests: 7, errors: 0 } } },
    });
    // a restart: a new start time, the point is the delta
    expect(events(send([counter([{ start: T0 + 25_000, time: T0 + 30_000, value: 4 }])]), 'conv')).toEqual({
      30_000: 4,
    });
    // the same start with a smaller value: a reset too
    expect(events(send([counter([{ start: T0 + 25_000, time: T0 + 40_000, value: 3 }])]), 'conv')).toEqual({
      40_000: 3,
    });
    // a retried export (time not newer): dropped
    expect(send([counter([{ start: T0 + 25_000, time: T0 + 40_000, value: 3 }])]).increments).toEqual([]);
    expect(ingest.tracker.counters).toMatchObject({ baselines: 1, resets: 2, duplicates: 1 });
    expect(ingest.counters.indicatorPoints).toBe(5);
  });

  it('a series started after the agent counts in full; delta temporality is used as it is (repeats dropped)', () => {
    const { send } = ingestWith([CONV]);
    const fresh = send([counter([{ start: T0 + 1_000, time: T0 + 10_000, value: 5 }])]);
    expect(events(fresh, 'conv')).toEqual({ 10_000: 5 });
    const delta = (time: number, value: number) =>
      send([counter([{ start: time - 10_000, time, value, attrs: { d: 1 } }], 1)]);
    expect(events(delta(T0 + 20_000, 3), 'conv')).toEqual({ 20_000: 3 });
    expect(events(delta(T0 + 30_000, 2), 'conv')).toEqual({ 30_000: 2 });
    expect(delta(T0 + 30_000, 2).increments).toEqual([]);
  });

  it('a double counter keeps a non-integer increase; NO_RECORDED_VALUE points are skipped', () => {
    const { send } = ingestWith([CONV]);
    send([counter([{ time: T0 + 10_000, value: 1.25, int: false }])]);
    expect(send([counter([{ time: T0 + 15_000, value: 9, flags: 1 }])]).increments).toEqual([]);
    expect(events(send([counter([{ time: T0 + 20_000, value: 3.75, int: false }])]), 'conv')).toEqual({
      20_000: 2.5,
    });
  });

  it('where: point attributes first, else resource attributes; lists; numbers and booleans by their string', () => {
    const { send } = ingestWith([
      { key: 'eu', kind: 'counter', metric: 'checkout.completed', where: { region: 'eu' } },
      { key: 'web', kind: 'counter', metric: 'checkout.completed', where: { channel: ['web', 'app'], 'x.n': 2 } },
      { key: 'paid', kind: 'counter', metric: 'checkout.completed', where: { paid: true } },
      { key: 'all', kind: 'counter', metric: 'checkout.completed', where: {} },
    ]);
    const pts = (t: number, k: number): Pt[] => [
      { start: T0 + 1, time: t, value: 1 * k, attrs: { channel: 'web', 'x.n': 2 } },
      { start: T0 + 1, time: t, value: 10 * k, attrs: { channel: 'app', region: 'us', paid: true } },
      { start: T0 + 1, time: t, value: 100 * k, attrs: { channel: 'pos', paid: 'true' } },
    ];
    const r = send([counter(pts(T0 + 10_000, 1))], { ...CANARY, region: 'eu', 'x.n': 2.5 });
    // the resource says region=eu, the second point overrides it with us; x.n=2 on the point, 2.5 on the resource
    expect(r.increments).toHaveLength(1);
    const ind = r.increments[0]!.batch.indicators!;
    expect(Object.fromEntries(Object.entries(ind).map(([k, b]) => [k, b.requests]))).toEqual({
      eu: 101,
      web: 1,
      paid: 110,
      all: 111,
    });
    expect(r.decoded.ignoredDataPoints).toBe(0);
  });

  it('several indicators with the same where on one metric each get the point; unmatched points are ignored', () => {
    const { send } = ingestWith([
      { key: 'a', kind: 'counter', metric: 'checkout.completed', where: { route: '/x' } },
      { key: 'b', kind: 'counter', metric: 'checkout.completed', where: { route: '/x' } },
    ]);
    const r = send([
      counter([
        { start: T0 + 1, time: T0 + 10_000, value: 4, attrs: { route: '/x' } },
        { start: T0 + 1, time: T0 + 10_000, value: 9, attrs: { route: '/y' } },
      ]),
    ]);
    expect(events(r, 'a')).toEqual({ 10_000: 4 });
    expect(events(r, 'b')).toEqual({ 10_000: 4 });
    expect(r.decoded).toMatchObject({ dataPoints: 2, ignoredDataPoints: 1 });
  });

  it('rejects time 0, an unknown temporality and a negative monotonic value; other metrics stay ignored', () => {
    const { send } = ingestWith([CONV]);
    const r = send([
      counter([{ time: 0, value: 1 }]),
      counter([{ time: T0 + 10_000, value: 1, attrs: { t: 0 } }], 0),
      counter([{ time: T0 + 10_000, value: -2, attrs: { n: 1 } }]),
      { name: 'other.counter', kind: 'counter', points: [{ time: T0 + 10_000, value: 1 }] },
      { name: 'checkout.completed', kind: 'gauge', points: [{ time: T0 + 10_000, value: 1 }] },
    ]);
    expect(r.rejected).toBe(3);
    expect(r.message).toBe(
      'rejected 3 data point(s): 1 with time_unix_nano 0, 1 with an unspecified or unknown aggregation_temporality, ' +
        '1 with inconsistent buckets (first: checkout.completed: monotonic sum value -2 is negative)',
    );
    expect(r.decoded.ignoredDataPoints).toBe(2);
  });

  it('counter streams count against limits.maxMetricStreams like histogram streams', () => {
    const { ingest, send } = ingestWith([CONV], { maxStreams: 1 });
    const pt = (route: string, t: number, value: number): Pt => ({ start: T0 + 1, time: t, value, attrs: { route } });
    expect(events(send([counter([pt('/a', T0 + 10_000, 2)])]), 'conv')).toEqual({ 10_000: 2 });
    // '/a' has sent its second point: it keeps its place, the new stream '/b' is refused
    const r = send([counter([pt('/a', T0 + 20_000, 5), pt('/b', T0 + 20_000, 3)])]);
    expect(events(r, 'conv')).toEqual({ 20_000: 3 });
    expect(ingest.guard.refused).toBe(1);
    expect(ingest.tracker.counters.streamLimitDrops).toBe(1);
  });
});

const MEM: MetricIndicatorSpec = { key: 'mem', kind: 'gauge', metric: 'process.memory.usage', where: {} };
const POD: Attrs = { ...CANARY, 'service.instance.id': 'pod-1' };

/** The indicator's instance cells of every increment, keyed by time (ms after T0). */
function cells(r: ReturnType<MetricsIngest['ingest']>, key: string) {
  const out: Record<number, Record<string, { sum: number; count: number }>> = {};
  for (const inc of r.increments) {
    const b = inc.batch.indicators?.[key];
    if (b?.instances !== undefined) out[inc.endUnixMs - T0] = b.instances;
  }
  return out;
}

describe('metric indicators: gauges and UpDownCounters', () => {
  it('each series of an instance gets its cell (the detector sums them); points are placed at their time', () => {
    const { send } = ingestWith([MEM]);
    const gauge = (points: Pt[]): M => ({ name: 'process.memory.usage', kind: 'gauge', unit: 'By', points });
    const r = send(
      [
        gauge([
          { time: T0 + 10_000, value: 300, attrs: { pool: 'heap' } },
          { time: T0 + 10_000, value: 20, attrs: { pool: 'stack' } },
          { time: T0 + 12_000, value: 310, attrs: { pool: 'heap' } },
        ]),
      ],
      POD,
    );
    expect(r.increments.map((i) => [i.endUnixMs - T0, i.batch.requests])).toEqual([
      [10_000, 0],
      [12_000, 0],
    ]);
    expect(cells(r, 'mem')).toEqual({
      10_000: { 'pod-1\n"pool"="heap"': { sum: 300, count: 1 }, 'pod-1\n"pool"="stack"': { sum: 20, count: 1 } },
      12_000: { 'pod-1\n"pool"="heap"': { sum: 310, count: 1 } },
    });
    // a retried export: not newer than each stream's last point, dropped
    expect(send([gauge([{ time: T0 + 12_000, value: 310, attrs: { pool: 'heap' } }])], POD).increments).toEqual([]);
    // two points of one series in one increment add up (the detector takes sum / count)
    const twice = send(
      [
        gauge([
          { time: T0 + 20_000, value: 1.5, int: false },
          { time: T0 + 20_000, value: 2.5, int: false, attrs: { 'vigil.cohort': 'canary' } },
        ]),
      ],
      POD,
    );
    expect(Object.values(cells(twice, 'mem')[20_000]!)).toEqual([
      { sum: 1.5, count: 1 },
      { sum: 2.5, count: 1 },
    ]);
  });

  it('the instance is service.instance.id, else a short stable hash of the resource', () => {
    const { send } = ingestWith([MEM]);
    const g = (time: number): M => ({ name: 'process.memory.usage', kind: 'gauge', points: [{ time, value: 1 }] });
    const keyOf = (r: ReturnType<MetricsIngest['ingest']>) => Object.keys(Object.values(cells(r, 'mem'))[0]!)[0]!;
    const a1 = keyOf(send([g(T0 + 1_000)], { ...CANARY, host: 'a' }));
    const a2 = keyOf(send([g(T0 + 2_000)], { ...CANARY, host: 'a' }));
    const b = keyOf(send([g(T0 + 3_000)], { ...CANARY, host: 'b' }));
    expect(a1).toMatch(/^#[A-Za-z0-9_-]{12}\n$/);
    expect(a2).toBe(a1);
    expect(b).not.toBe(a1);
    expect(keyOf(send([g(T0 + 4_000)], POD))).toBe('pod-1\n');
  });

  it('a cumulative non-monotonic Sum (UpDownCounter) is a level; a delta one is ignored and counted', () => {
    const { ingest, send } = ingestWith([{ ...MEM, metric: 'db.connections' }]);
    const updown = (temporality: number, time: number, value: number): M => ({
      name: 'db.connections',
      kind: 'updown',
      temporality,
      points: [{ time, value }],
    });
    expect(cells(send([updown(2, T0 + 10_000, -3)], POD), 'mem')).toEqual({
      10_000: { 'pod-1\n': { sum: -3, count: 1 } },
    });
    const r = send([updown(1, T0 + 20_000, 4)], POD);
    expect(r.increments).toEqual([]);
    expect(r.decoded).toMatchObject({ ignoredDataPoints: 1, deltaUpDownPoints: 1, rejectedDataPoints: 0 });
    expect(ingest.counters.deltaUpDownPoints).toBe(1);
    // a monotonic Sum is no gauge, a Gauge has no temporality to reject
    expect(send([{ ...updown(2, T0 + 30_000, 1), kind: 'counter' }], POD).decoded.ignoredDataPoints).toBe(1);
    expect(send([{ ...updown(0, T0 + 30_000, 1), kind: 'gauge' }], POD).rejected).toBe(0);
  });

  it('a gauge value of 0 counts, a NaN is rejected', () => {
    const { send } = ingestWith([MEM]);
    const r = send(
      [
        {
          name: 'process.memory.usage',
          kind: 'gauge',
          points: [
            { time: T0 + 1_000, value: 0 },
            { time: T0 + 1_000, value: Number.NaN, int: false, attrs: { k: 1 } },
          ],
        },
      ],
      POD,
    );
    expect(cells(r, 'mem')).toEqual({ 1_000: { 'pod-1\n': { sum: 0, count: 1 } } });
    expect(r.rejected).toBe(1);
  });
});

const hist = (name: string, unit: string, points: Pt[], temporality = 1): M => ({
  name,
  unit,
  kind: 'histogram',
  temporality,
  points,
});

describe('metric indicators: histograms by name', () => {
  it('a time unit becomes ms, another unit is used as it is; error.type marks failures', () => {
    const { send } = ingestWith([
      { key: 'queue', kind: 'histogram', metric: 'queue.wait', where: {} },
      { key: 'size', kind: 'histogram', metric: 'payload.size', where: {} },
    ]);
    const t = T0 + 10_000;
    const r = send([
      hist('queue.wait', 's', [
        { start: t - 10_000, time: t, bounds: [0.1, 1], counts: [2, 3, 0] },
        { start: t - 10_000, time: t, bounds: [0.1, 1], counts: [0, 1, 0], attrs: { 'error.type': 'timeout' } },
      ]),
      hist('payload.size', 'By', [{ start: t - 10_000, time: t, bounds: [100, 1000], counts: [2, 3, 0] }]),
    ]);
    expect(r.increments).toHaveLength(1);
    const { batch } = r.increments[0]!;
    expect(batch.requests).toBe(0);
    const queue = batch.indicators!.queue!;
    const size = batch.indicators!.size!;
    expect([queue.requests, queue.errors, size.requests, size.errors]).toEqual([6, 1, 5, 0]);
    // (10, 100] (the open first bucket is taken one bound ratio wide) and (100, 1000]: ms for seconds, bytes as they are
    const y = (lo: number, hi: number) => Math.log(Math.sqrt(lo * hi));
    expect(size.logLatency.mean).toBeCloseTo((2 * y(10, 100) + 3 * y(100, 1000)) / 5, 12);
    expect(queue.logLatency.mean).toBeCloseTo((2 * y(10, 100) + 4 * y(100, 1000)) / 6, 12);
  });

  it('a request histogram named by an indicator feeds the requests AND the indicator (one delta, used twice)', () => {
    const { ingest, send } = ingestWith([
      {
        key: 'checkout',
        kind: 'histogram',
        metric: 'http.server.request.duration',
        where: { 'http.route': '/checkout' },
      },
    ]);
    const pts = (t: number, k: number): Pt[] => [
      { time: t, bounds: [0.1, 1], counts: [k, 0, 0], attrs: { 'http.route': '/checkout' } },
      {
        time: t,
        bounds: [0.1, 1],
        counts: [0, k, 0],
        attrs: { 'http.route': '/cart', 'http.response.status_code': 503 },
      },
    ];
    send([hist('http.server.request.duration', 's', pts(T0 + 10_000, 1), 2)]);
    const r = send([hist('http.server.request.duration', 's', pts(T0 + 20_000, 4), 2)]);
    const plain = new MetricsIngest({ rules: RULES, agentStartUnixMs: T0 });
    plain.ingest(
      body([{ attrs: CANARY, metrics: [hist('http.server.request.duration', 's', pts(T0 + 10_000, 1), 2)] }]),
      'json',
      T0,
    );
    const without = plain.ingest(
      body([{ attrs: CANARY, metrics: [hist('http.server.request.duration', 's', pts(T0 + 20_000, 4), 2)] }]),
      'json',
      T0,
    );
    const { indicators, ...requests } = r.increments[0]!.batch;
    expect(requests).toEqual(without.increments[0]!.batch); // the request evidence is what it was
    expect(requests).toMatchObject({ requests: 6, errors: 3 });
    expect(indicators!.checkout).toMatchObject({ requests: 3, errors: 0, logLatency: { n: 3 } });
    expect(ingest.tracker.counters.deltas).toBe(2); // one per stream, not one per use
  });

  it('the legacy HTTP metric of a dual-emitting resource still feeds an indicator that names it', () => {
    const { ingest, send } = ingestWith([{ key: 'old', kind: 'histogram', metric: 'http.server.duration', where: {} }]);
    const t = T0 + 10_000;
    const r = send([
      hist('http.server.request.duration', 's', [{ start: t - 1, time: t, bounds: [0.1], counts: [1, 0] }]),
      hist('http.server.duration', 'ms', [{ start: t - 1, time: t, bounds: [100], counts: [1, 0] }]),
    ]);
    expect(r.increments[0]!.batch).toMatchObject({ requests: 1, indicators: { old: { requests: 1 } } });
    expect(ingest.counters.legacyDuplicates).toBe(1);
  });
});

describe('metric indicators: decoding', () => {
  it('without indicators the decoders read what they read before; compiled indicators group by metric', () => {
    const b = body([{ attrs: POD, metrics: [counter([{ time: T0 + 1, value: 1 }])] }]);
    expect(decodeMetricsJson(b, RULES)).toEqual({
      points: [],
      dataPoints: 1,
      ignoredDataPoints: 1,
      rejectedDataPoints: 0,
    });
    expect(compileMetricIndicators([])).toBeUndefined();
    const c = compileMetricIndicators([CONV, { ...CONV, key: 'g', kind: 'gauge' }])!;
    expect(c.of('checkout.completed', 'counter')!.map((i) => i.key)).toEqual(['conv']);
    expect(c.of('checkout.completed', 'histogram')).toBeUndefined();
    expect(c.of('other', 'counter')).toBeUndefined();
  });
});
