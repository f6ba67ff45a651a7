/**
 * The backtest's statistics (Wilson intervals, look quantiles) against reference values, and its advice on
 * reports the built-in detectors do not produce on the fixtures (an anytime-valid metric above alpha,
 * several factors of one regression kind).
 */
import { describe, expect, it } from 'vitest';
import { recommend, type AdviceContext } from '../../src/backtest/recommend.js';
import type { MetricRow, ScenarioReport, ServiceReport } from '../../src/backtest/report.js';
import { parseInjections, scenarioLabel } from '../../src/backtest/scenarios.js';
import { lookStats, wilson } from '../../src/backtest/tally.js';

const ctx: AdviceContext = { alpha: 0.05, minSamples: 25, intervalMs: 10_000, maxDurationMs: 1_800_000 };

function metric(name: string, count: number, n: number, extra: Partial<MetricRow> = {}): MetricRow {
  return {
    metric: name,
    detector: `${name}-sequential`,
    shadow: false,
    alpha: 0.025,
    alarms: wilson(count, n),
    looksToAlarm: lookStats(
      Array.from({ length: count }, (_, i) => 10 + i),
      10_000,
    ),
    ...extra,
  };
}

function scenario(id: string, rollbacks: number, n: number, metrics: MetricRow[]): ScenarioReport {
  const injection = id === 'aa' ? undefined : parseInjections(id)[0];
  return {
    id,
    label: scenarioLabel(injection),
    ...(injection ? { injection } : {}),
    analyses: n,
    outcomes: { rollback: rollbacks, 'promote-pass': 0, 'promote-max': n - rollbacks, abandoned: 0, undecided: 0 },
    rollbacks: wilson(rollbacks, n),
    looksToRollback: lookStats(
      Array.from({ length: rollbacks }, (_, i) => 10 + (i % 20)),
      10_000,
    ),
    metrics,
  };
}

function service(scenarios: ScenarioReport[], requestsPerTrace = 1): Omit<ServiceReport, 'recommendations'> {
  return {
    service: 'checkout',
    traffic: {
      source: 'baseline',
      requests: 100_000,
      recordedMs: 7_200_000,
      coveredMs: 7_200_000,
      analysesPerTrial: 4,
      canaryShare: 0.1,
      canaryShareSource: 'recording',
      perLook: { canary: 14, baseline: 126 },
      baselineErrorRate: 0.01,
      medianMs: 40,
      p95Ms: 120,
      requestsPerTrace,
    },
    scenarios,
  };
}

describe('backtest statistics', () => {
  it('Wilson 95% intervals match reference values', () => {
    const a = wilson(5, 100);
    expect(a.rate).toBe(0.05);
    expect(a.lower).toBeCloseTo(0.02154, 4);
    expect(a.upper).toBeCloseTo(0.11175, 4);
    const b = wilson(0, 200);
    expect(b.lower).toBe(0);
    expect(b.upper).toBeCloseTo(3.8415 / 203.8415, 4);
    expect(wilson(10, 10).upper).toBe(1);
    expect(wilson(0, 0)).toMatchObject({ lower: 0, upper: 1 });
  });

  it('look quantiles are nearest-rank, in looks and event time', () => {
    expect(lookStats([], 10_000)).toBeNull();
    expect(lookStats([9, 1, 5, 3, 7, 2, 8, 4, 6, 10], 10_000)).toEqual({
      median: 5,
      p95: 10,
      medianMs: 50_000,
      p95Ms: 100_000,
    });
  });
});

describe('backtest advice', () => {
  it('names minSamples and the metric when an anytime-valid metric falsely rolls back more than alpha', () => {
    const advice = recommend(
      service([scenario('aa', 31, 400, [metric('error-rate', 2, 400), metric('latency', 29, 400)])], 3.2),
      ctx,
    );
    expect(advice[0]).toMatch(
      /^minSamples 25 is too low for this service's traffic: 7\.8% false alarms \(95% interval 5\.5%-11%\) where alpha promises at most 5\.0%; most came from latency \(7\.2%\)\. Raise analysis\.minSamples \(e\.g\. to 100\)/,
    );
    expect(advice[0]).toContain('~3.2 requests per trace');
    expect(advice.join('\n')).toContain('burn-in of minSamples 25 per cohort takes ~2 looks (20s)');
  });

  it('says within alpha, consistent with alpha, or not yet known from the interval', () => {
    expect(recommend(service([scenario('aa', 2, 800, [])]), ctx)[0]).toMatch(
      /^false alarms 0\.3% .* are within alpha 5\.0%: this config is safe/,
    );
    expect(recommend(service([scenario('aa', 2, 60, [])]), ctx)[0]).toMatch(
      /consistent with alpha 5\.0%, but 60 analyses cannot show more .*raise --trials/,
    );
    expect(recommend(service([scenario('aa', 9, 120, [])]), ctx)[0]).toMatch(
      /^7\.5% false alarms is above alpha 5\.0% but within the noise of 120 analyses/,
    );
  });

  it('reports detection speed, rare detection with the traffic that explains it, and the factor below which it fails', () => {
    const advice = recommend(
      service([
        scenario('aa', 0, 400, []),
        scenario('error=1.5', 40, 400, [metric('error-rate', 40, 400)]),
        scenario('error=3', 120, 400, [metric('error-rate', 120, 400)]),
        scenario('error=5', 390, 400, [metric('error-rate', 390, 400)]),
      ]),
      ctx,
    ).join('\n');
    expect(advice).toContain(
      'the service sees ~14 requests per look per cohort at 1.0% errors (~0.14 failed requests per look): error rate x1.5 will rarely be caught within maxDuration 30m (10% of analyses).',
    );
    expect(advice).toMatch(/error rate x5 is caught in 98% of analyses: median \d+ looks \(\d+s|m/);
    expect(advice).toContain('error-rate regressions below x5 will rarely be caught within maxDuration 30m (x3: 30%).');
  });
});
