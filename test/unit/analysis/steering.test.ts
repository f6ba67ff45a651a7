import { describe, expect, it } from 'vitest';
import { AnalysisRegistry, type AnalysisSettings } from '../../../src/analysis/analysis-registry.js';
import type { Decision, RequestSample } from '../../../src/contracts/index.js';
import { seededRandom } from '../../../src/demo/traffic-generator.js';
import { eventTimeSettings } from '../../helpers/fleet-stream.js';

/**
 * Event time a sender cannot steer (the issue "No sender can crash, stall or steer Vigil"): with the receive time
 * (the agent), a sample dated more than maxClockSkew in the future is refused and counted, no sample moves a clock
 * past the receive time, and closing looks is bounded work per call whatever the clock does (a replay has no
 * receive time). Each attack runs beside an honest fleet whose decisions must not change.
 */

const T0 = 1_767_225_600_000;
const YEAR_2500 = Date.UTC(2500, 0, 1);

const settings = (): AnalysisSettings =>
  eventTimeSettings({ maxDurationMs: 600_000, silenceTimeoutMs: 120_000, limits: { serviceIdleMs: 600_000 } });

/** One second of traffic (t ms after T0) of `services`, 10 requests per cohort: 'bad-*' canaries fail 5x. */
function second(t: number, services: readonly string[], rnd: () => number): RequestSample[] {
  const out: RequestSample[] = [];
  for (const service of services) {
    for (const cohort of ['baseline', 'canary'] as const) {
      for (let i = 0; i < 10; i++) {
        const rate = cohort === 'canary' && service.startsWith('bad') ? 0.1 : 0.02;
        out.push({
          service,
          version: cohort === 'canary' ? '2.0' : '1.0',
          cohort,
          endUnixMs: T0 + t + i * 100,
          durationMs: 20 * Math.exp(0.3 * (rnd() - 0.5)),
          error: rnd() < rate,
        });
      }
    }
  }
  return out;
}

const span = (service: string, endUnixMs: number, cohort: 'baseline' | 'canary' = 'canary'): RequestSample => ({
  service,
  version: cohort === 'canary' ? '2.0' : '1.0',
  cohort,
  endUnixMs,
  durationMs: 20,
  error: false,
});

interface Run {
  decisions: Decision[];
  reg: AnalysisRegistry;
  maxPending: number;
}

/** 300 s of the honest fleet, received in real time (receive time = the second's end), plus `attack` at second 60. */
function run(attack: (t: number) => RequestSample[], opts: { receiveTime: boolean } = { receiveTime: true }): Run {
  const decisions: Decision[] = [];
  const reg = new AnalysisRegistry(settings(), { onDecision: (d) => decisions.push(d) }, { deferLooks: true });
  const rnd = seededRandom(5);
  let maxPending = 0;
  for (let t = 0; t < 300_000; t += 1000) {
    const now = opts.receiveTime ? T0 + t + 1000 : undefined;
    reg.ingest(second(t, ['bad-checkout', 'good-search', 'good-cart'], rnd), now);
    if (t === 60_000) reg.ingest(attack(t), now);
    maxPending = Math.max(maxPending, reg.pendingLooks);
    reg.runPendingLooks();
  }
  return { decisions, reg, maxPending };
}

const honest = run(() => []);
const outcomes = (r: Run) => r.decisions.map((d) => `${d.analysis} ${d.outcome} look ${d.look} ${d.id}`);

describe('event time a sender cannot steer', () => {
  it('the honest fleet: the 5x canary rolled back, the healthy ones keep running', () => {
    expect(honest.decisions.map((d) => [d.service, d.outcome])).toEqual([['bad-checkout', 'rollback']]);
    expect(honest.reg.analysisCount.running).toBe(2);
  });

  it('two spans dated year 2500: refused as future, no clock moves, the same decisions', () => {
    const attacked = run(() => [span('good-search', YEAR_2500), span('good-search', YEAR_2500 + 1)]);
    expect(outcomes(attacked)).toEqual(outcomes(honest));
    expect(attacked.reg.counters.futureSamples).toBe(2);
    expect(attacked.reg.refusedByService()).toEqual([{ service: 'good-search', future: 2, tooOld: 0 }]);
    expect(attacked.reg.list().map((a) => [a.id, a.look])).toEqual(honest.reg.list().map((a) => [a.id, a.look]));
    expect(attacked.maxPending).toBe(honest.maxPending);
  });

  it('one span 10 minutes ahead for the 5x canary: refused; the canary is still rolled back, not abandoned', () => {
    const attacked = run((t) => [span('bad-checkout', T0 + t + 600_000)]);
    expect(outcomes(attacked)).toEqual(outcomes(honest));
    expect(attacked.reg.counters.futureSamples).toBe(1);
  });

  it('a span a minute ahead (within the skew) counts in its look but closes no look early', () => {
    const attacked = run((t) => [span('good-search', T0 + t + 60_000), span('good-search', T0 + t + 61_000)]);
    expect(outcomes(attacked)).toEqual(outcomes(honest));
    expect(attacked.reg.counters.futureSamples).toBe(0);
    const search = (r: Run) => r.reg.get('good-search:2.0')!;
    expect(search(attacked).look).toBe(search(honest).look);
    expect(search(attacked).totals.canary.requests).toBe(search(honest).totals.canary.requests + 2);
  });

  it('more fake services than real ones, each with a year-2500 span: no real service expires', () => {
    const attacked = run(() => Array.from({ length: 10 }, (_, k) => span(`fake-${k}`, YEAR_2500, 'baseline')));
    expect(outcomes(attacked)).toEqual(outcomes(honest));
    attacked.reg.sweep();
    expect(attacked.reg.counters.expiredServices).toBe(0);
    expect(attacked.reg.analysisCount).toEqual(honest.reg.analysisCount);
    expect(attacked.reg.counters.futureSamples).toBe(10);
  });

  it('without a receive time (a replay), a clock jumped to year 2500 closes a bounded number of looks', () => {
    const attacked = run(() => [span('good-search', YEAR_2500), span('good-search', YEAR_2500 + 1)], {
      receiveTime: false,
    });
    // maxDuration 600 s / 10 s + 2 looks per analysis at most, instead of one per 10 s up to year 2500
    expect(attacked.maxPending).toBeLessThanOrEqual(3 * 62);
    expect(attacked.reg.counters.skippedLooks).toBeGreaterThan(1e9);
  });

  it('a sample behind every look its service keeps is refused as too old (and still counted late)', () => {
    const attacked = run((t) => [span('good-search', T0 + t - 400_000)]);
    expect(attacked.reg.counters.tooOldSamples).toBe(1);
    expect(attacked.reg.refusedByService()).toEqual([{ service: 'good-search', future: 0, tooOld: 1 }]);
  });
});
