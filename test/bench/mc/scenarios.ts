import type { LatencyDist } from './traffic.js';
import { logNormal, pareto, scaled, tailOnly } from './traffic.js';

/**
 * The benchmark's scenarios (issue 3): 100 looks each. A look is described by what each cohort serves:
 * requests, failure probability and latency distribution. Splits are either fixed request counts or a
 * realised Binomial(total, share) split per look (a router assigns requests independently; used while the
 * share ramps).
 *
 * `truth` states what is really different, so every method knows whether its own null hypothesis holds
 * (a false alarm) or not (a detection): the canary/baseline error-rate ratio, the geometric-mean latency
 * ratio and the p99 latency ratio.
 */

export interface LookPlan {
  /** Requests per cohort, or a total and the canary's share (realised split drawn per look). */
  canary?: number;
  baseline?: number;
  total?: number;
  share?: number;
  errCanary: number;
  errBaseline: number;
  latCanary: LatencyDist;
  latBaseline: LatencyDist;
}

export interface ScenarioTruth {
  /** Canary / baseline error-rate ratio. */
  errorRatio: number;
  /** Canary / baseline geometric-mean latency ratio. */
  gmRatio: number;
  /** Canary / baseline p99 latency ratio. */
  p99Ratio: number;
  /** The canary is stochastically at most `stRatio` x the baseline (the latency-quantile null uses this). */
  stRatio: number;
}

export interface Scenario {
  id: string;
  title: string;
  /** Spans per cohort per look (for the table). */
  traffic: string;
  looks: number;
  truth: ScenarioTruth;
  /** Replicates = this x the run's base count (the scenarios behind the delay goals need a precise median). */
  weight?: number;
  plan(look: number): LookPlan;
}

export const LOOKS = 100;
const BASE = logNormal(100, 0.5);
const HEAVY = pareto(50, 1.5);
const NULL_TRUTH: ScenarioTruth = { errorRatio: 1, gmRatio: 1, p99Ratio: 1, stRatio: 1 };
const Z95 = 1.6448536269514722;
const Z99 = 2.3263478740408408;

function fixed(n: number, err: number, lat: LatencyDist, errCanary = err, latCanary = lat): LookPlan {
  return { canary: n, baseline: n, errCanary, errBaseline: err, latCanary, latBaseline: lat };
}

function errorScenario(ratio: number): Scenario {
  return {
    id: `errors-${ratio}x`,
    title: `errors ${ratio}x (1% base)`,
    traffic: '1000',
    looks: LOOKS,
    truth: { ...NULL_TRUTH, errorRatio: ratio },
    weight: ratio === 1.5 ? 3 : 1,
    plan: () => fixed(1000, 0.01, BASE, 0.01 * ratio),
  };
}

function latencyScenario(factor: number, heavy: boolean): Scenario {
  const d = heavy ? HEAVY : BASE;
  const pct = Math.round((factor - 1) * 100);
  return {
    id: `latency+${pct}%-${heavy ? 'heavy' : 'lognormal'}`,
    title: `latency +${pct}% (${heavy ? 'Pareto 1.5' : 'log-normal'})`,
    traffic: '20',
    looks: LOOKS,
    truth: { errorRatio: 1, gmRatio: factor, p99Ratio: factor, stRatio: factor },
    weight: factor === 1.1 && !heavy ? 3 : 1,
    plan: () => fixed(20, 0.01, d, 0.01, scaled(d, factor)),
  };
}

const TAIL_Q95 = 100 * Math.exp(0.5 * Z95);
/** p99 of the tail-only canary: its 99th percentile is 2 x the baseline's (the top 5% doubled). */
const TAIL_ONLY: Scenario = {
  id: 'tail-only',
  title: 'tail-only: slowest 5% twice as slow',
  traffic: '200',
  looks: LOOKS,
  truth: { errorRatio: 1, gmRatio: Math.exp(0.05 * Math.LN2), p99Ratio: 2, stRatio: 2 },
  plan: () => fixed(200, 0.01, BASE, 0.01, tailOnly(BASE, TAIL_Q95, 2)),
};

const ramp = (look: number): number => 0.05 + (0.45 * (look - 1)) / (LOOKS - 1);

/** Every scenario of the default run, in table order. */
export const SCENARIOS: readonly Scenario[] = [
  { id: 'aa', title: 'A/A', traffic: '1000', looks: LOOKS, truth: NULL_TRUTH, plan: () => fixed(1000, 0.01, BASE) },
  errorScenario(1.5),
  errorScenario(2),
  errorScenario(5),
  latencyScenario(1.1, false),
  latencyScenario(1.5, false),
  latencyScenario(1.1, true),
  latencyScenario(1.5, true),
  {
    id: 'aa-heavy',
    title: 'A/A heavy-tailed (Pareto 1.5)',
    traffic: '20',
    looks: LOOKS,
    truth: NULL_TRUTH,
    plan: () => fixed(20, 0.01, HEAVY),
  },
  TAIL_ONLY,
  {
    id: 'share-10%',
    title: 'A/A, 10% canary share',
    traffic: '2000 in all',
    looks: LOOKS,
    truth: NULL_TRUTH,
    plan: () => ({
      canary: 200,
      baseline: 1800,
      errCanary: 0.01,
      errBaseline: 0.01,
      latCanary: BASE,
      latBaseline: BASE,
    }),
  },
  {
    id: 'ramp',
    title: 'A/A, share ramps 5% → 50%',
    traffic: '2000 in all',
    looks: LOOKS,
    truth: NULL_TRUTH,
    plan: (look) => ({
      total: 2000,
      share: ramp(look),
      errCanary: 0.01,
      errBaseline: 0.01,
      latCanary: BASE,
      latBaseline: BASE,
    }),
  },
  {
    id: 'ramp-drift',
    title: "A/A, ramp 5% → 50% while both cohorts' errors 1% → 2% and latency +20% (Simpson's trap)",
    traffic: '2000 in all',
    looks: LOOKS,
    truth: NULL_TRUTH,
    plan: (look) => {
      const f = (look - 1) / (LOOKS - 1);
      const err = 0.01 * (1 + f);
      const lat = scaled(BASE, 1 + 0.2 * f);
      return { total: 2000, share: ramp(look), errCanary: err, errBaseline: err, latCanary: lat, latBaseline: lat };
    },
  },
  {
    id: 'diurnal',
    title: 'A/A, diurnal volume (200 → 1800 → 200 per cohort)',
    traffic: '200-1800',
    looks: LOOKS,
    truth: NULL_TRUTH,
    plan: (look) => {
      const n = Math.round(1000 * (1 - 0.8 * Math.cos((2 * Math.PI * (look - 1)) / LOOKS)));
      return { canary: n, baseline: n, errCanary: 0.01, errBaseline: 0.01, latCanary: BASE, latBaseline: BASE };
    },
  },
  {
    id: 'base-10%',
    title: 'A/A, 10% base error rate',
    traffic: '1000',
    looks: LOOKS,
    truth: NULL_TRUTH,
    plan: () => fixed(1000, 0.1, BASE),
  },
  {
    id: 'base-30%',
    title: 'A/A, 30% base error rate',
    traffic: '1000',
    looks: LOOKS,
    truth: NULL_TRUTH,
    plan: () => fixed(1000, 0.3, BASE),
  },
  {
    id: 'low-traffic',
    title: 'A/A, low traffic',
    traffic: '20',
    looks: LOOKS,
    truth: NULL_TRUTH,
    plan: () => fixed(20, 0.01, BASE),
  },
];

/** The p99 multiplier of the base log-normal (for documentation and tests). */
export const BASE_P99 = 100 * Math.exp(0.5 * Z99);

export function scenarioById(id: string): Scenario {
  const s = SCENARIOS.find((x) => x.id === id);
  if (s === undefined) throw new Error(`unknown scenario ${id} (known: ${SCENARIOS.map((x) => x.id).join(', ')})`);
  return s;
}
