import type { CohortBatch } from '../../../src/contracts/evidence.js';
import type { LatencyDist, Rand } from './traffic.js';
import { binomial, gaussian, logNormal, pareto, scaled, tailOnly } from './traffic.js';

/**
 * The benchmark's scenarios (issue 3): 100 looks each. A look is described by what each cohort serves:
 * requests, failure probability and latency distribution. Splits are either fixed request counts or a
 * realised Binomial(total, share) split per look (a router assigns requests independently; used while the
 * share ramps).
 *
 * `truth` states what is really different, so every method knows whether its own null hypothesis holds
 * (a false alarm) or not (a detection): the canary/baseline error-rate ratio, the geometric-mean latency
 * ratio and the p99 latency ratio.
 *
 * The real-traffic rows (issue 13) draw part of their plan per look (`plan(look, rand)`: a pod shock, a burst),
 * split a cohort's requests over routes, or make failures sticky (retried on the same cohort). Their truth is
 * what a request of a given route costs in each cohort, averaged over looks: a canary that differs from the
 * baseline only in its route mix, or in shocks that hit either cohort equally often, is healthy.
 */

/** Requests per cohort, or a total and the canary's share (realised split drawn per look). */
export interface SplitPlan {
  canary?: number;
  baseline?: number;
  total?: number;
  share?: number;
}

/** Failure probability and latency of each cohort's requests (one pool, no route breakdown). */
export interface PooledPlan {
  errCanary: number;
  errBaseline: number;
  latCanary: LatencyDist;
  latBaseline: LatencyDist;
}

/** One route: its share of each cohort's requests (0: the cohort does not serve it) and what it costs there. */
export interface RoutePlan extends PooledPlan {
  /** The stratum key, as production keys `CohortBatch.routes` (e.g. 'GET /fast'). */
  route: string;
  shareCanary: number;
  shareBaseline: number;
}

export type LookPlan = SplitPlan &
  (PooledPlan | { routes: readonly RoutePlan[] }) & {
    /**
     * Sticky failures: a failed request is retried on the same cohort and fails again, Geometric attempts in all
     * with this mean (1 or absent: nothing is retried).
     */
    meanFailedAttempts?: number;
  };

/**
 * With routes, each ratio holds on every route both cohorts serve (the pooled ratios may differ through the
 * route mix); with pod shocks or bursts, it is the ratio of the cohorts' averages over looks.
 */
export interface ScenarioTruth {
  /** Canary / baseline error-rate ratio. */
  errorRatio: number;
  /** Canary / baseline geometric-mean latency ratio. */
  gmRatio: number;
  /** Canary / baseline p99 latency ratio. */
  p99Ratio: number;
  /** The canary is stochastically at most `stRatio` x the baseline (the latency-quantile null uses this). */
  stRatio: number;
  /** Issue 16 rows: canary / baseline rate per exposure (ratio) or mean level per instance (gauge). */
  indicatorRatio?: number;
}

/** What an issue-16 row adds to each cohort's batch of a look: `ratio` counts or gauge `instances`. */
export type IndicatorEvidence = Pick<CohortBatch, 'ratio' | 'instances'>;

/**
 * Issue 16: the evidence of a business or resource indicator, drawn per look after the requests. `memo` is the
 * replicate's own (empty at look 1): what persists across its looks, e.g. each instance's offset.
 */
export interface IndicatorPlan {
  kind: 'ratio' | 'gauge';
  draw(
    look: number,
    rand: Rand,
    memo: Record<string, number[]>,
  ): { canary: IndicatorEvidence; baseline: IndicatorEvidence };
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
  /** The issue whose goals the row serves (3 when absent; 13: real traffic and its delay cost). */
  issue?: number;
  /** The look's plan; `rand` (the replicate's stream) draws what varies from look to look, e.g. a pod shock. */
  plan(look: number, rand: Rand): LookPlan;
  /** Issue 16 rows: the indicator's evidence. Such a row is run only by the methods that list it (`scenarios`). */
  indicator?: IndicatorPlan;
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

function errorScenario(ratio: number, issue?: number): Scenario {
  return {
    id: `errors-${ratio}x`,
    title: `errors ${ratio}x (1% base)`,
    traffic: '1000',
    looks: LOOKS,
    truth: { ...NULL_TRUTH, errorRatio: ratio },
    weight: ratio === 1.5 ? 3 : 1,
    ...(issue === undefined ? {} : { issue }),
    plan: () => fixed(1000, 0.01, BASE, 0.01 * ratio),
  };
}

function latencyScenario(factor: number, heavy: boolean, issue?: number): Scenario {
  const d = heavy ? HEAVY : BASE;
  const pct = Math.round((factor - 1) * 100);
  return {
    id: `latency+${pct}%-${heavy ? 'heavy' : 'lognormal'}`,
    title: `latency +${pct}% (${heavy ? 'Pareto 1.5' : 'log-normal'})`,
    traffic: '20',
    looks: LOOKS,
    truth: { errorRatio: 1, gmRatio: factor, p99Ratio: factor, stRatio: factor },
    weight: factor === 1.1 && !heavy ? 3 : 1,
    ...(issue === undefined ? {} : { issue }),
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

/** Pod shocks: the probability that a look is hit, and then either cohort equally often. */
export const SHOCK_PROBABILITY = 0.2;

/** Which cohort a pod shock hits in this look, if any (draws 1 or 2 numbers). */
function podShock(rand: Rand): 'canary' | 'baseline' | null {
  if (!(rand() < SHOCK_PROBABILITY)) return null;
  return rand() < 0.5 ? 'canary' : 'baseline';
}

/** A bad node or a cold cache: 10x errors in one cohort for the whole look; healthy on average. */
const POD_SHOCK_ERRORS: Scenario = {
  id: 'pod-shock-errors',
  title: 'A/A, pod shocks: 10x errors in one cohort (either) in 20% of looks',
  traffic: '1000',
  looks: LOOKS,
  truth: NULL_TRUTH,
  issue: 13,
  plan: (_look, rand) => {
    const hit = podShock(rand);
    return fixed(1000, hit === 'baseline' ? 0.1 : 0.01, BASE, hit === 'canary' ? 0.1 : 0.01);
  },
};

/** One cohort (either) 1.3x slower for the whole look; healthy on average. */
const POD_SHOCK_LATENCY: Scenario = {
  id: 'pod-shock-latency',
  title: 'A/A, pod shocks: one cohort (either) 1.3x slower in 20% of looks',
  traffic: '20',
  looks: LOOKS,
  truth: NULL_TRUTH,
  issue: 13,
  plan: (_look, rand) => {
    const hit = podShock(rand);
    const slow = scaled(BASE, 1.3);
    return fixed(20, 0.01, hit === 'baseline' ? slow : BASE, 0.01, hit === 'canary' ? slow : BASE);
  },
};

/** Canary-only bursts: a regression that comes and goes. Its error-rate ratio is the average over looks. */
export const BURST_RATIO = 1 - SHOCK_PROBABILITY + SHOCK_PROBABILITY * 10;
const CANARY_BURSTS: Scenario = {
  id: 'canary-bursts',
  title: `canary alone bursts 10x errors in 20% of looks (errors ${BURST_RATIO}x on average)`,
  traffic: '1000',
  looks: LOOKS,
  truth: { ...NULL_TRUTH, errorRatio: BURST_RATIO },
  issue: 13,
  plan: (_look, rand) => fixed(1000, 0.01, BASE, rand() < SHOCK_PROBABILITY ? 0.1 : 0.01),
};

/** Mean attempts of a failed request in sticky-retries (Geometric: 1, 2, ... with P(k) = 2^-k). */
export const STICKY_MEAN_ATTEMPTS = 2;
const STICKY_RETRIES: Scenario = {
  id: 'sticky-retries',
  title: 'A/A, sticky retries: a failed request is retried on its cohort and fails again (attempts Geometric, mean 2)',
  traffic: '1000 requests + retries',
  looks: LOOKS,
  truth: NULL_TRUTH,
  issue: 13,
  plan: () => ({ ...fixed(1000, 0.01, BASE), meanFailedAttempts: STICKY_MEAN_ATTEMPTS }),
};

/** Two routes identical in both cohorts: a fast one and a slow, more failing one. */
const FAST = logNormal(50, 0.5);
const SLOW = logNormal(400, 0.5);
const NEW_ROUTE = logNormal(300, 0.5);
function route(key: string, shareCanary: number, shareBaseline: number, err: number, lat: LatencyDist): RoutePlan {
  return { route: key, shareCanary, shareBaseline, errCanary: err, errBaseline: err, latCanary: lat, latBaseline: lat };
}

/** Same routes, same cost per route; only the mix differs (the canary gets more of the slow route). */
const ROUTE_MIX: Scenario = {
  id: 'route-mix',
  title: 'A/A per route, route mix differs: slow route (8x slower, 6x errors) 30% of canary, 10% of baseline',
  traffic: '1000, 2 routes',
  looks: LOOKS,
  truth: NULL_TRUTH,
  issue: 13,
  plan: () => ({
    canary: 1000,
    baseline: 1000,
    routes: [route('GET /fast', 0.7, 0.9, 0.005, FAST), route('POST /slow', 0.3, 0.1, 0.03, SLOW)],
  }),
};

/** The shared routes unchanged; the canary adds a route of its own (10% of its requests, slower, more errors). */
const NEW_ENDPOINT: Scenario = {
  id: 'new-endpoint',
  title: 'A/A on the shared routes, plus a route only the canary serves (10% of it, median 300 ms, 2% errors)',
  traffic: '1000, 2 + 1 routes',
  looks: LOOKS,
  truth: NULL_TRUTH,
  issue: 13,
  plan: () => ({
    canary: 1000,
    baseline: 1000,
    routes: [
      route('GET /fast', 0.9 * 0.9, 0.9, 0.005, FAST),
      route('POST /slow', 0.9 * 0.1, 0.1, 0.03, SLOW),
      route('GET /new', 0.1, 0, 0.02, NEW_ROUTE),
    ],
  }),
};

// issue 16: business and resource indicators (their own rows; the request methods do not run there)
/** Checkout starts per cohort per look and the baseline's conversion. */
export const RATIO_STARTS = 200;
export const RATIO_BASE = 0.02;

function conversionScenario(id: string, title: string, ratio: number): Scenario {
  return {
    id,
    title,
    traffic: `${RATIO_STARTS} starts, ${100 * RATIO_BASE}% conversion`,
    looks: LOOKS,
    truth: { ...NULL_TRUTH, indicatorRatio: ratio },
    issue: 16,
    plan: () => fixed(0, 0, BASE),
    indicator: {
      kind: 'ratio',
      draw: (_look, rand) => ({
        canary: { ratio: { numerator: binomial(rand, RATIO_STARTS, RATIO_BASE * ratio), denominator: RATIO_STARTS } },
        baseline: { ratio: { numerator: binomial(rand, RATIO_STARTS, RATIO_BASE), denominator: RATIO_STARTS } },
      }),
    },
  };
}

/** Gauge rows: instances per cohort, the level (MB), each instance's persistent offset (uniform +-) and look noise (sd). */
export const GAUGE_PLAN = { canary: 3, baseline: 10, level: 500, offset: 0.15, noise: 0.03, pointsPerLook: 6 };

function gaugeCells(
  prefix: string,
  offsets: readonly number[],
  factor: number,
  rand: Rand,
): NonNullable<CohortBatch['instances']> {
  const out: NonNullable<CohortBatch['instances']> = {};
  offsets.forEach((o, i) => {
    const level = GAUGE_PLAN.level * o * factor * (1 + GAUGE_PLAN.noise * gaussian(rand));
    out[`${prefix}-${i}\n`] = { sum: GAUGE_PLAN.pointsPerLook * level, count: GAUGE_PLAN.pointsPerLook };
  });
  return out;
}

/** `growth`: the canary's level is multiplied by it at every look (a leak: 1.05 = +5% per look). */
function memoryScenario(id: string, title: string, factor: number, growth = 1): Scenario {
  const offsets = (rand: Rand, n: number): number[] =>
    Array.from({ length: n }, () => 1 + GAUGE_PLAN.offset * (2 * rand() - 1));
  return {
    id,
    title,
    traffic: `${GAUGE_PLAN.canary} vs ${GAUGE_PLAN.baseline} instances`,
    looks: LOOKS,
    truth: { ...NULL_TRUTH, indicatorRatio: factor * growth },
    issue: 16,
    plan: () => fixed(0, 0, BASE),
    indicator: {
      kind: 'gauge',
      draw: (look, rand, memo) => {
        memo.canary ??= offsets(rand, GAUGE_PLAN.canary);
        memo.baseline ??= offsets(rand, GAUGE_PLAN.baseline);
        return {
          canary: { instances: gaugeCells('canary', memo.canary, factor * growth ** (look - 1), rand) },
          baseline: { instances: gaugeCells('baseline', memo.baseline, 1, rand) },
        };
      },
    },
  };
}

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
  // issue 13: real traffic, then the delay cost (regressions that must still be caught)
  POD_SHOCK_ERRORS,
  POD_SHOCK_LATENCY,
  CANARY_BURSTS,
  STICKY_RETRIES,
  ROUTE_MIX,
  NEW_ENDPOINT,
  errorScenario(3, 13),
  latencyScenario(1.2, false, 13),
  conversionScenario('ratio-aa', 'A/A conversion (2%, 200 starts per look per cohort)', 1),
  conversionScenario('conversion-10%', 'conversion -10% (2% base, 200 starts per look per cohort)', 0.9),
  memoryScenario('gauge-aa', 'A/A memory, 3 vs 10 instances with persistent offsets (+-15%)', 1),
  memoryScenario('memory+20%', 'memory +20%, 3 vs 10 instances with persistent offsets (+-15%)', 1.2),
  memoryScenario('memory-leak', 'memory leak +5% per look, 3 vs 10 instances with persistent offsets (+-15%)', 1, 1.05),
];

/** The p99 multiplier of the base log-normal (for documentation and tests). */
export const BASE_P99 = 100 * Math.exp(0.5 * Z99);

export function scenarioById(id: string): Scenario {
  const s = SCENARIOS.find((x) => x.id === id);
  if (s === undefined) throw new Error(`unknown scenario ${id} (known: ${SCENARIOS.map((x) => x.id).join(', ')})`);
  return s;
}
