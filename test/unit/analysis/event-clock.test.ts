import { describe, expect, it } from 'vitest';
import { AnalysisRegistry } from '../../../src/analysis/analysis-registry.js';
import type { Decision, RequestSample } from '../../../src/contracts/index.js';
import { seededRandom } from '../../../src/demo/traffic-generator.js';
import { eventTimeSettings } from '../../helpers/fleet-stream.js';

/**
 * Event time per source (src/analysis/event-clock.ts): a look closes when every active cohort has passed it,
 * or when a cohort has been idle (no progress while the most advanced one moved the idle timeout on), however
 * far behind an active cohort is (a backfill of the canary's past included). Streams are built the
 * way real exporters deliver them: each pod's SDK exports its finished spans on its own 5 s timer (random
 * phase), each cohort's batches in order, the canary's behind an extra delay (a slower Collector tier).
 */

const INTERVAL = 10_000;
const T0 = 1_767_225_600_000;

const settings = eventTimeSettings;

interface Stream {
  /** OTLP requests in the order they reach the agent. */
  deliveries: RequestSample[][];
  /** Every canary sample sent (to measure the share counted). */
  canary: RequestSample[];
}

/**
 * `pods` pods per cohort, each serving 10 requests/s and exporting every 5 s at its own phase; a canary
 * batch reaches the agent `canaryDelayMs` after it was exported (plus up to 200 ms of network jitter for
 * every batch). The canary stops serving at `canaryStopsAtMs` when given.
 */
function exporters(opts: {
  seed: number;
  pods?: number;
  durationMs: number;
  canaryDelayMs: number;
  canaryErrorRate: number;
  canaryStopsAtMs?: number;
  /** The canary's pipeline delivers nothing in [fromMs, toMs) (export time), then the backlog, in order, at toMs. */
  canaryPause?: { fromMs: number; toMs: number };
}): Stream {
  const rnd = seededRandom(opts.seed);
  const batches: { at: number; samples: RequestSample[] }[] = [];
  const canary: RequestSample[] = [];
  for (const cohort of ['baseline', 'canary'] as const) {
    for (let pod = 0; pod < (opts.pods ?? 4); pod++) {
      const phase = rnd() * 5_000;
      let pending: RequestSample[] = [];
      let nextExport = phase;
      const stopAt = cohort === 'canary' ? (opts.canaryStopsAtMs ?? Infinity) : Infinity;
      for (let t = rnd() * 100; t < opts.durationMs + 5_000; t += 100) {
        while (t > nextExport) {
          let at = nextExport + (cohort === 'canary' ? opts.canaryDelayMs : 0);
          const pause = cohort === 'canary' ? opts.canaryPause : undefined;
          if (pause && at >= pause.fromMs && at < pause.toMs) at = pause.toMs + (at - pause.fromMs) / 1_000;
          else at += rnd() * 200;
          if (pending.length > 0) batches.push({ at, samples: pending });
          pending = [];
          nextExport += 5_000;
        }
        if (t >= opts.durationMs || t >= stopAt) continue;
        const errorRate = cohort === 'canary' ? opts.canaryErrorRate : 0.01;
        const s: RequestSample = {
          service: 'checkout',
          version: cohort === 'canary' ? '2.0' : '1.0',
          cohort,
          endUnixMs: T0 + Math.floor(t),
          durationMs: 20 * Math.exp(0.3 * (rnd() - 0.5)),
          error: rnd() < errorRate,
        };
        pending.push(s);
        if (cohort === 'canary') canary.push(s);
      }
    }
  }
  batches.sort((a, b) => a.at - b.at);
  return { deliveries: batches.map((b) => b.samples), canary };
}

function feed(reg: AnalysisRegistry, stream: Stream): void {
  for (const d of stream.deliveries) reg.ingest(d.map((s) => ({ ...s })));
}

/** Share of the canary samples inside the looks the analysis compared that it counted. */
function canaryShare(reg: AnalysisRegistry, stream: Stream, until: number): { counted: number; sent: number } {
  const a = reg.get('checkout:2.0')!;
  const sent = stream.canary.filter((s) => s.endUnixMs >= a.startedAtUnixMs && s.endUnixMs < until).length;
  return { counted: a.totals.canary.requests, sent };
}

describe('event time per source', () => {
  it('a canary 15 s behind the baseline is compared, not dropped: >= 99% counted, the 15x regression rolled back', () => {
    const stream = exporters({ seed: 7, durationMs: 140_000, canaryDelayMs: 15_000, canaryErrorRate: 0.15 });
    const decisions: Decision[] = [];
    const reg = new AnalysisRegistry(settings(), { onDecision: (d) => decisions.push(d) });
    feed(reg, stream);
    expect(decisions.map((d) => d.outcome)).toEqual(['rollback']);
    const { counted, sent } = canaryShare(reg, stream, decisions[0]!.eventTimeUnixMs);
    expect(sent).toBeGreaterThanOrEqual(400);
    expect(counted / sent).toBeGreaterThanOrEqual(0.99);
    expect(reg.get('checkout:2.0')!.late).toEqual({ baseline: 0, canary: 0 });
    expect(reg.counters.lateSamples).toBe(0);
  });

  it('a healthy canary 15 s behind: every canary request of the 14 looks is counted, none late', () => {
    const stream = exporters({ seed: 8, durationMs: 140_000, canaryDelayMs: 15_000, canaryErrorRate: 0.01 });
    const reg = new AnalysisRegistry(settings(), { onDecision: () => {} });
    feed(reg, stream);
    const before = reg.get('checkout:2.0')!;
    expect(before.look).toBeGreaterThanOrEqual(10); // looks kept closing while the canary lagged
    reg.flush();
    const { counted, sent } = canaryShare(reg, stream, Infinity);
    expect(counted).toBe(sent);
    expect(reg.get('checkout:2.0')!.late).toEqual({ baseline: 0, canary: 0 });
  });

  it('is the same whichever cohort lags (the baseline 15 s behind the canary)', () => {
    const stream = exporters({ seed: 9, durationMs: 140_000, canaryDelayMs: -15_000, canaryErrorRate: 0.15 });
    const decisions: Decision[] = [];
    const reg = new AnalysisRegistry(settings(), { onDecision: (d) => decisions.push(d) });
    feed(reg, stream);
    expect(decisions.map((d) => d.outcome)).toEqual(['rollback']);
    // the canary's requests sent before the first baseline one are kept for its analysis, not dropped
    expect(reg.get('checkout:2.0')!.startedAtUnixMs).toBe(T0);
    const { counted, sent } = canaryShare(reg, stream, decisions[0]!.eventTimeUnixMs);
    expect(counted / sent).toBeGreaterThanOrEqual(0.99);
    expect(reg.get('checkout:2.0')!.late).toEqual({ baseline: 0, canary: 0 });
    expect(reg.counters.preAnalysisSamples).toBe(0);
  });

  it('a canary that stops holds the baseline looks back by at most the idle timeout, then is abandoned', () => {
    const idle = 30_000;
    const stream = exporters({
      seed: 10,
      durationMs: 200_000,
      canaryDelayMs: 0,
      canaryErrorRate: 0.01,
      canaryStopsAtMs: 60_000,
    });
    const decisions: Decision[] = [];
    const looksAt: { baselineAt: number; look: number }[] = [];
    const reg = new AnalysisRegistry(settings({ sourceIdleTimeoutMs: idle, silenceTimeoutMs: 60_000 }), {
      onDecision: (d) => decisions.push(d),
    });
    let baselineAt = -Infinity;
    for (const d of stream.deliveries) {
      reg.ingest(d.map((s) => ({ ...s })));
      for (const s of d) if (s.cohort === 'baseline') baselineAt = Math.max(baselineAt, s.endUnixMs - T0);
      const a = reg.get('checkout:2.0');
      if (a?.phase === 'running') looksAt.push({ baselineAt, look: a.look });
    }
    for (const { baselineAt: at, look } of looksAt) {
      // while the canary is active the looks wait for it (up to its last span at ~60 s) ...
      if (at < 60_000 + idle) expect(look).toBeLessThanOrEqual(6);
      // ... once idle, the baseline alone closes them (lateness 5 s, plus one export period of slack)
      if (at > 60_000 + idle + 10_000) expect(look).toBeGreaterThanOrEqual(Math.floor((at - 5_000) / INTERVAL) - 1);
    }
    expect(looksAt.some(({ look }) => look > 6)).toBe(true);
    expect(decisions.map((d) => d.outcome)).toEqual(['abandoned']);
    // the canary's last sample is at ~60 s: abandoned at the first look that ends 60 s of silence later
    expect(decisions[0]!.eventTimeUnixMs - T0).toBe(120_000);
  });

  it('a canary far behind that keeps delivering is compared, whatever the lag (45 s here)', () => {
    const stream = exporters({ seed: 11, durationMs: 140_000, canaryDelayMs: 45_000, canaryErrorRate: 0.01 });
    const reg = new AnalysisRegistry(settings({ sourceIdleTimeoutMs: 30_000 }), { onDecision: () => {} });
    feed(reg, stream);
    reg.flush();
    const { counted, sent } = canaryShare(reg, stream, Infinity);
    expect(counted).toBe(sent);
    expect(reg.get('checkout:2.0')!.late).toEqual({ baseline: 0, canary: 0 });
    expect(reg.counters.idleClosedLooks).toBe(0);
  });

  it('a canary pipeline that pauses longer than the idle timeout: its looks close without it, the backlog is counted late per cohort', () => {
    const stream = exporters({
      seed: 11,
      durationMs: 140_000,
      canaryDelayMs: 0,
      canaryErrorRate: 0.01,
      canaryPause: { fromMs: 40_000, toMs: 100_000 },
    });
    const reported = { baseline: 0, canary: 0 };
    let idleReported = 0;
    const reg = new AnalysisRegistry(settings({ sourceIdleTimeoutMs: 30_000 }), {
      onDecision: () => {},
      onLate: (cohort, n) => (reported[cohort] += n), // the agent's vigil_late_requests_total{cohort}
      onIdleClosed: () => idleReported++, // vigil_looks_idle_closed_total{cohort}
    });
    feed(reg, stream);
    const a = reg.get('checkout:2.0')!;
    expect(a.late.baseline).toBe(0);
    expect(a.late.canary).toBeGreaterThan(1000);
    expect(reported).toEqual(a.late);
    expect(reg.counters.lateSamples).toBe(a.late.canary);
    expect(a.idleClosedLooks.baseline).toBe(0);
    expect(a.idleClosedLooks.canary).toBeGreaterThanOrEqual(2);
    expect(idleReported).toBe(a.idleClosedLooks.canary);
    expect(reg.counters.idleClosedLooks).toBe(idleReported);
    expect(a.used.canary).toBeCloseTo(a.totals.canary.requests / (a.totals.canary.requests + a.late.canary), 12);
    expect(a.used.canary).toBeLessThan(0.9);
    expect(a.used.baseline).toBe(1);
    // every canary sample sent is either compared, late, or in a look still open (none lost without a count)
    const sentInAnalysis = stream.canary.filter((s) => s.endUnixMs >= a.startedAtUnixMs).length;
    expect(a.totals.canary.requests + a.late.canary).toBeLessThanOrEqual(sentInAnalysis);
    // a larger idle timeout (the documented fix: above the longest pause) compares them
    const patient = new AnalysisRegistry(settings({ sourceIdleTimeoutMs: 90_000 }), { onDecision: () => {} });
    feed(patient, stream);
    expect(patient.get('checkout:2.0')!.late).toEqual({ baseline: 0, canary: 0 });
    expect(patient.get('checkout:2.0')!.used).toEqual({ baseline: 1, canary: 1 });
  });

  it("a canary backfilled after the baseline's 14 looks is compared with the baseline looks that match", () => {
    // the baseline's whole stream first, then the canary's (a Collector tier that held the canary back)
    const stream = exporters({ seed: 21, durationMs: 140_000, canaryDelayMs: 0, canaryErrorRate: 0.15 });
    const deliveries = [
      ...stream.deliveries.filter((d) => d[0]!.cohort === 'baseline'),
      ...stream.deliveries.filter((d) => d[0]!.cohort === 'canary'),
    ];
    const decisions: Decision[] = [];
    const reg = new AnalysisRegistry(settings(), { onDecision: (d) => decisions.push(d) });
    for (const d of deliveries) reg.ingest(d.map((s) => ({ ...s })));
    expect(decisions.map((d) => d.outcome)).toEqual(['rollback']);
    const a = reg.get('checkout:2.0')!;
    expect(a.startedAtUnixMs).toBe(T0);
    const { counted, sent } = canaryShare(reg, stream, decisions[0]!.eventTimeUnixMs);
    expect(counted / sent).toBeGreaterThanOrEqual(0.99);
    expect(a.late).toEqual({ baseline: 0, canary: 0 });
    expect(decisions[0]!.used).toEqual({ baseline: 1, canary: 1 });
    // every baseline request of the compared looks was there for the canary to be compared with
    const baselineSent = stream.deliveries
      .flat()
      .filter((s) => s.cohort === 'baseline' && s.endUnixMs < decisions[0]!.eventTimeUnixMs).length;
    expect(a.totals.baseline.requests).toBe(baselineSent);
  });

  it('an idle timeout of 0 is the single clock per service (any cohort closes the looks)', () => {
    const stream = exporters({ seed: 12, durationMs: 100_000, canaryDelayMs: 15_000, canaryErrorRate: 0.01 });
    const reg = new AnalysisRegistry(settings({ sourceIdleTimeoutMs: 0 }), { onDecision: () => {} });
    feed(reg, stream);
    const a = reg.get('checkout:2.0')!;
    expect(a.late.canary).toBeGreaterThan(a.totals.canary.requests);
  });

  it('keeps a canary without baseline only within the baseline history, counting what it drops as pre-analysis', () => {
    const reg = new AnalysisRegistry(settings(), { onDecision: () => {} });
    const canary = (t: number): RequestSample => ({
      service: 'checkout',
      version: '2.0',
      cohort: 'canary',
      endUnixMs: T0 + t,
      durationMs: 20,
      error: false,
    });
    for (let t = 0; t < 400_000; t += 100) reg.ingest([canary(t)]);
    expect(reg.list()).toEqual([]);
    // horizon: 400 s - 300 s of history (the default) = 100 s, so looks up to [80 s, 90 s) are dropped
    expect(reg.counters.preAnalysisSamples).toBe(900);
    reg.ingest([{ ...canary(399_950), cohort: 'baseline', version: '1.0' }]);
    const a = reg.get('checkout:2.0')!;
    expect(a.startedAtUnixMs).toBe(T0 + 90_000);
    reg.flush();
    expect(reg.get('checkout:2.0')!.totals.canary.requests).toBe(3100);
  });

  it('a decision tells how many requests arrived too late to compare', () => {
    const stream = exporters({
      seed: 13,
      durationMs: 140_000,
      canaryDelayMs: 0,
      canaryErrorRate: 0.01,
      canaryPause: { fromMs: 20_000, toMs: 60_000 },
    });
    const decisions: Decision[] = [];
    const reg = new AnalysisRegistry(settings({ maxDurationMs: 90_000 }), { onDecision: (d) => decisions.push(d) });
    feed(reg, stream);
    expect(decisions).toHaveLength(1);
    const late = decisions[0]!.late!;
    expect(late.canary).toBeGreaterThan(0);
    expect(late.baseline).toBe(0);
    expect(decisions[0]!.reason).toContain(`(${late.canary} canary requests arrived too late to compare)`);
    expect(reg.get('checkout:2.0')!.late).toEqual(late);
    const { requests } = reg.get('checkout:2.0')!.totals.canary;
    expect(decisions[0]!.used!.canary).toBeCloseTo(requests / (requests + late.canary), 12);
  });
});
