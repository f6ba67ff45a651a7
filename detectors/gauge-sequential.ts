import { z } from 'zod';
import type {
  DetectorFactory,
  DetectorLookResult,
  LookInput,
  Phase,
  WorseDirection,
} from '../src/contracts/detector.js';
import type { CohortBatch } from '../src/contracts/evidence.js';
import { INSTANCE_SERIES_SEPARATOR } from '../src/contracts/evidence.js';
import type { DetectorMethods, SequentialEvaluation } from './lib/detector-kit.js';
import { alphaProblem, defineDetector, sequentialPhase, verdictWriter, withEffect } from './lib/detector-kit.js';
import { formatBounds, formatCohortBurnIn, formatLooks, formatP, formatRatio, formatTolerance } from './lib/format.js';
import { logSumExp } from './lib/log-sum-exp.js';
import { howardTau2, normalMixtureLogM } from './lib/normal-mixture.js';
import { alwaysValidPValue } from './lib/p-value.js';
import { brent } from './lib/root-finding.js';
import { directedThreshold, whereOption } from './lib/options.js';

/**
 * `gauge-sequential`: is the canary's level of a resource (memory, CPU utilisation, connections, queue depth) per
 * instance worse than the baseline's by more than the tolerance, in the configured direction?
 *
 * The unit is the exporting INSTANCE, not the data point: an instance's level in a look is the sum over its series
 * of each series' mean (jvm.memory.used by pool adds up); a sample is one instance's level in one look, so the
 * burn-in (`minSamples`) counts instance-looks per cohort. Levels are on the linear scale; zeros are allowed.
 *
 * Method: per look j where both cohorts reported at least one instance, levels y_ij, instance counts n_c, n_b,
 * w_j = n_c n_b / (n_c + n_b), W = sum w_j, and for a null ratio r (canary mean / baseline mean)
 *   T(r) = sum_j w_j (ybar_c,j - r ybar_b,j) / W = sum_i sum_j a_ij(r) y_ij,
 *   a_ij = w_j / (W n_c,j) for a canary instance, -r w_j / (W n_b,j) for a baseline one.
 * Instances persist across looks (an instance that runs hot stays hot), so their looks are NOT independent: the
 * variance of T is CLUSTER-ROBUST with the instance as the cluster (Liang & Zeger, Biometrika 1986; the CR1
 * small-sample factor G / (G - 1)), residuals e_ij = y_ij - ybar_cohort(i),j:
 *   V(r) = (Vc + r^2 Vb) / W^2,  Vc = Gc/(Gc - 1) sum_{i canary} (sum_j (w_j / n_c,j) e_ij)^2 (Vb alike),
 * G = the cohort's distinct instances so far. A cohort with ONE instance has no residuals (its Vc would be 0): it
 * borrows the other cohort's pooled within-look variance between instances s2_w as if all of it were a persistent
 * offset, Vc = s2_w sum_{i canary} (sum_j w_j / n_c,j)^2 (conservative for noise that does not persist). With one
 * instance in each cohort nothing estimates the variance: the detector stays inconclusive.
 * FLOOR: each cohort's part is at least the variance of independent instance-looks, s2_w sum_j w_j^2 / n_j (s2_w
 * its pooled within-look variance between instances, many degrees of freedom). The cluster sum rests on G clusters
 * whatever the number of looks (about G - 1 degrees of freedom for ever): without the floor, 3 canary pods with
 * plain look-to-look noise false-alarmed in 15% of A/A runs over 100 looks; with it, the cluster sum only adds
 * what persistent offsets add. (CR1 alone is kept when it is larger: offsets that persist.)
 * Test (worse: higher): H0 canary mean <= r0 x baseline mean, r0 = 1 + tolerance; a SCALE MIXTURE of the one-sided
 * normal mixtures of latency-sequential: the equal-weight average over k = -2..2 of the mixtures with prior variance
 * tau2 x 4^k (tau2 / 16 to 16 tau2),
 *   log M = log( (1/5) sum_k exp(normalMixtureLogM(T(r0), V(r0), tau2 4^k, one-sided)) )  (log-sum-exp - log 5);
 * an average of e-values (test martingales) is one, so Ville's bound holds as for a single tau2. `fail` when
 * log M >= log(1/alpha) after burn-in; `pass` when the mirrored average (on -T(r0)) reaches it;
 * p_t = min(p_{t-1}, 1/M_t). worse: lower mirrors it: H0 canary mean >= (1 - tolerance) x baseline mean, log M on
 * -T(r0), r0 = 1 - tolerance.
 * tau2 = V_plan (2 ln(1/a) + ln(1 + 2 ln(1/a))) / nOpt, a = 2 alpha, V_plan = `planningVariance` (the variance of
 * one canary-minus-baseline pair of instance levels, metric units squared) or, once both cohorts reach the burn-in,
 * 2 x the pooled within-look variance between instances of both cohorts; fixed ONCE, kept in state (the four other
 * scales are derived from it). Why several scales: tau2 is in the metric's units, and a canary level that grows
 * many-fold (a leak left running) makes V(r0) outgrow a single tau2, whose evidence then fades; the wider scales keep
 * it growing (measured: +5% per look, 3 vs 10 pods, 9-11% of runs never failed in 100 looks with one tau2; with five
 * all 1000 failed within 20 looks). The average costs at most log 5 of evidence against its best single scale.
 * Estimate: r^ solving T(r^) = 0, the ratio of the look-weighted means sum w ybar_c / sum w ybar_b. Bounds: by
 * inverting the two averaged mixtures over r (Brent's method): lower = the crossing of log M(T(r), V(r)) =
 * log(1/alpha) below r^, upper = the crossing of the mirrored one above r^ (the crossing nearest r^; left out when
 * none within 2^30 r^). One-sided at alpha each; `fail` and `pass` are decided on the averaged mixtures at r0.
 *
 * Reference: Howard, Ramdas, McAuliffe & Sekhon, Ann. Statist. 2021 (one-sided normal mixture, tau2 tuning; mixtures
 * of test martingales are test martingales);
 * Cameron & Miller, "A practitioner's guide to cluster-robust inference", J. Human Resources 2015 (few clusters).
 * Assumptions: ASYMPTOTIC, like latency-sequential: T is approximately normal and the plug-in V(r0) is consistent,
 * which needs MANY INSTANCES. Per-instance persistent offsets are handled by the cluster variance, but with few
 * instances (3 canary pods) that variance is estimated from few clusters: the level is approximate and the power
 * small (a persistent offset of one canary pod is indistinguishable from a regression until more pods report).
 * Instances of different cohorts are independent; levels are >= 0 for the ratio to mean anything.
 * Complexity: O(instances in the look) per look (per-instance running sums, sums of their squares updated
 * incrementally) plus 2 x 5 O(1) mixture terms for fail / pass; O(instances ever seen) state; the bounds ~2 x 20-60
 * evaluations of the averaged mixture, 5 O(1) terms each.
 */

export const GAUGE_SEQUENTIAL = 'gauge-sequential';

const optionsSchema = z
  .strictObject({
    /** The OTLP gauge (or non-monotonic Sum) by name. */
    metric: z.string().min(1),
    /** Attribute filter on its points (or their resource). */
    where: whereOption.optional(),
    /** Which direction of the level is a regression. */
    worse: z.enum(['higher', 'lower']).default('higher'),
    /** H0 (higher): canary mean <= (1 + tolerance) x baseline; (lower): canary mean >= (1 - tolerance) x baseline. */
    tolerance: z.number().min(0).default(0),
    /** Instance-looks per cohort at which power matters most (tunes tau2). */
    nOpt: z.number().int().min(2).default(60),
    /** Variance of one canary-minus-baseline pair of instance levels (metric units squared); else from burn-in. */
    planningVariance: z.number().positive().optional(),
  })
  .refine((o) => o.worse === 'higher' || o.tolerance < 1, {
    message: 'must be < 1 with worse: lower (a level cannot drop by 100% or more)',
    path: ['tolerance'],
  });

export type GaugeOptions = z.output<typeof optionsSchema>;

/** One instance's running sums: s = sum_j (w_j / n_j) e_ij, c = sum_j w_j / n_j. */
export interface InstanceSums {
  s: number;
  c: number;
}

/** One cohort's clusters and within-look spread. */
export interface CohortClusters {
  instances: Record<string, InstanceSums>;
  /** sum_i s_i^2 and sum_i c_i^2, updated incrementally. */
  sumSqS: number;
  sumSqC: number;
  /** Within-look sum of squared residuals and its degrees of freedom (sum n_j - 1). */
  ss: number;
  df: number;
  /** sum_j w_j^2 / n_j: the variance factor of independent instance-looks. */
  sumW2OverN: number;
  /** Instance-looks compared. */
  samples: number;
}

/** Plain JSON state: O(instances). */
export interface GaugeState {
  looks: number;
  canary: CohortClusters;
  baseline: CohortClusters;
  /** W, sum w ybar_c, sum w ybar_b. */
  sumW: number;
  sumWCanary: number;
  sumWBaseline: number;
  planningVariance: number | null;
  tau2: number | null;
  pValue: number;
}

const EFFECT = 'level ratio canary/baseline (mean per instance, stratified by look)';

function emptyClusters(): CohortClusters {
  return { instances: {}, sumSqS: 0, sumSqC: 0, ss: 0, df: 0, sumW2OverN: 0, samples: 0 };
}

/** Each instance's level in the look (sum over its series of sum/count), or why the cells cannot be used. */
export function instanceLevels(cohort: string, b: CohortBatch): Map<string, number> | string {
  const levels = new Map<string, number>();
  for (const [key, cell] of Object.entries(b.instances ?? {})) {
    if (!(Number.isFinite(cell.count) && cell.count > 0))
      return `${cohort} gauge cell ${JSON.stringify(key)}: count must be finite and > 0, got ${cell.count}`;
    if (!Number.isFinite(cell.sum)) return `${cohort} gauge cell ${JSON.stringify(key)}: sum is not finite`;
    const cut = key.indexOf(INSTANCE_SERIES_SEPARATOR);
    const instance = cut < 0 ? key : key.slice(0, cut);
    levels.set(instance, (levels.get(instance) ?? 0) + cell.sum / cell.count);
  }
  return levels;
}

/** Adds one look's levels of a cohort with look weight w: new clusters and the cohort's mean. */
function addCohort(c: CohortClusters, levels: Map<string, number>, w: number): { next: CohortClusters; mean: number } {
  const n = levels.size;
  let mean = 0;
  for (const y of levels.values()) mean += y / n;
  const next: CohortClusters = { ...c, instances: { ...c.instances } };
  const k = w / n;
  for (const [id, y] of levels) {
    const e = y - mean;
    const old = next.instances[id] ?? { s: 0, c: 0 };
    const ds = k * e;
    next.sumSqS += 2 * old.s * ds + ds * ds;
    next.sumSqC += 2 * old.c * k + k * k;
    next.instances[id] = { s: old.s + ds, c: old.c + k };
    next.ss += e * e;
  }
  next.df += n - 1;
  next.sumW2OverN += (w * w) / n;
  next.samples += n;
  return { next, mean };
}

/** The cohort's pooled within-look variance between instances (the other cohort's when it has no df yet). */
function withinVariance(own: CohortClusters, other: CohortClusters): number | undefined {
  if (own.df > 0) return own.ss / own.df;
  return other.df > 0 ? other.ss / other.df : undefined;
}

/**
 * Vc (or Vb): the larger of the CR1 cluster sum (with one instance: the other cohort's within-look variance x
 * sum c^2) and the variance of independent instance-looks, s2_w sum_j w_j^2 / n_j (the floor; see the file comment).
 */
function cohortVariance(own: CohortClusters, other: CohortClusters): number | undefined {
  const g = Object.keys(own.instances).length;
  const within = withinVariance(own, other);
  if (within === undefined) return undefined;
  const iid = within * own.sumW2OverN;
  if (g >= 2) return Math.max((Math.max(0, own.sumSqS) * g) / (g - 1), iid);
  if (g === 1 && other.df > 0) return Math.max((other.ss / other.df) * Math.max(0, own.sumSqC), iid);
  return undefined;
}

/** T(r) and V(r) as functions of r, or undefined before anything estimates them. */
export function gaugeStatistic(
  s: GaugeState,
): { t: (r: number) => number; v: (r: number) => number; estimate?: number } | undefined {
  const vc = cohortVariance(s.canary, s.baseline);
  const vb = cohortVariance(s.baseline, s.canary);
  if (!(s.sumW > 0) || vc === undefined || vb === undefined) return undefined;
  const w2 = s.sumW * s.sumW;
  return {
    t: (r) => (s.sumWCanary - r * s.sumWBaseline) / s.sumW,
    v: (r) => (vc + r * r * vb) / w2,
    ...(s.sumWBaseline > 0 ? { estimate: s.sumWCanary / s.sumWBaseline } : {}),
  };
}

/** The prior scales of the mixture, as powers of 4 of the tuned tau2 (see the file comment). */
export const GAUGE_TAU2_SCALES: readonly number[] = [-2, -1, 0, 1, 2].map((k) => 4 ** k);

/**
 * log of the equal-weight average of the one-sided normal mixtures at tau2 x 4^k, k = -2..2: log-sum-exp of the
 * five log M minus log 5. An average of e-values (test martingales) is one, so the test stays valid.
 */
export function gaugeMixtureLogM(d: number, s2: number, tau2: number): number {
  const logs = GAUGE_TAU2_SCALES.map((f) => normalMixtureLogM(d, s2, tau2 * f, 'one-sided'));
  return logSumExp(logs) - Math.log(GAUGE_TAU2_SCALES.length);
}

/** Bounds on r by inverting the two mixtures from the estimate outwards (see the file comment). */
function gaugeBounds(
  t: (r: number) => number,
  v: (r: number) => number,
  tau2: number,
  alpha: number,
  est: number,
): { lower?: number; upper?: number } {
  const bar = Math.log(1 / alpha);
  const out: { lower?: number; upper?: number } = {};
  const worse = (r: number): number => gaugeMixtureLogM(t(r), v(r), tau2) - bar;
  const better = (r: number): number => gaugeMixtureLogM(-t(r), v(r), tau2) - bar;
  if (est > 0 && worse(0) >= 0) out.lower = brent(worse, 0, est, est * 1e-12);
  let lo = est;
  for (let k = 1; k <= 30; k++) {
    const hi = est * 2 ** k;
    if (better(hi) >= 0) {
      out.upper = brent(better, lo, hi, est * 1e-12);
      break;
    }
    lo = hi;
  }
  return out;
}

function evaluate(s: GaugeState, r0: number, worse: WorseDirection, alpha: number): SequentialEvaluation {
  const stat = gaugeStatistic(s);
  if (stat === undefined || s.tau2 === null) return { logM: 0, passEvidence: 0 };
  const sign = worse === 'higher' ? 1 : -1;
  const d = stat.t(r0);
  const s2 = stat.v(r0);
  if (!(s2 > 0)) return { logM: 0, passEvidence: 0 };
  const e: SequentialEvaluation = {
    logM: gaugeMixtureLogM(sign * d, s2, s.tau2),
    passEvidence: gaugeMixtureLogM(-sign * d, s2, s.tau2),
  };
  if (stat.estimate === undefined || !(stat.v(stat.estimate) > 0)) return e;
  return { ...e, estimate: stat.estimate, ...gaugeBounds(stat.t, stat.v, s.tau2, alpha, stat.estimate) };
}

interface Wording {
  name: string;
  worse: WorseDirection;
  tolerance: number;
  minSamples: number;
}

function summarize(phase: Phase, s: GaugeState, e: SequentialEvaluation, w: Wording, burnIn: boolean): string {
  const g = { canary: Object.keys(s.canary.instances).length, baseline: Object.keys(s.baseline.instances).length };
  const counts = `${g.canary} canary vs ${g.baseline} baseline instances`;
  if (burnIn) {
    const samples = { canary: s.canary.samples, baseline: s.baseline.samples };
    return `${formatCohortBurnIn(samples, w.minSamples, 'instance-looks', s.looks, formatP(s.pValue))}; ${counts}`;
  }
  const tail = `${w.worse} is worse; ${counts}, ${s.canary.samples} vs ${s.baseline.samples} instance-looks; ${formatP(s.pValue)} ${formatLooks(s.looks)}`;
  if (e.estimate === undefined) {
    const why =
      g.canary < 2 && g.baseline < 2 ? 'one instance per cohort cannot measure the spread' : 'no baseline level';
    return `${w.name} not comparable yet (${why}): ${tail}`;
  }
  const tol = w.tolerance > 0 ? `, tolerance ${formatTolerance(w.tolerance).slice(1)}` : '';
  const claimed = w.worse === 'higher' ? 'lower' : 'upper';
  const side = phase === 'fail' ? claimed : phase === 'pass' ? (claimed === 'lower' ? 'upper' : 'lower') : 'both';
  return `${w.name} ${formatRatio(e.estimate)}x baseline (${formatBounds(e.lower, e.upper, side)}${tol}): ${tail}`;
}

function initialState(): GaugeState {
  return {
    looks: 0,
    canary: emptyClusters(),
    baseline: emptyClusters(),
    sumW: 0,
    sumWCanary: 0,
    sumWBaseline: 0,
    planningVariance: null,
    tau2: null,
    pValue: 1,
  };
}

/** The state after one look's levels (only looks where both cohorts reported count). */
function withLook(state: GaugeState, c: Map<string, number>, b: Map<string, number>): GaugeState {
  const s = { ...state, looks: state.looks + 1 };
  if (c.size === 0 || b.size === 0) return s;
  const w = (c.size * b.size) / (c.size + b.size);
  const cc = addCohort(state.canary, c, w);
  const bb = addCohort(state.baseline, b, w);
  return {
    ...s,
    canary: cc.next,
    baseline: bb.next,
    sumW: state.sumW + w,
    sumWCanary: state.sumWCanary + w * cc.mean,
    sumWBaseline: state.sumWBaseline + w * bb.mean,
  };
}

function gaugeMethods(name: string, opts: GaugeOptions, burnInSamples: number): DetectorMethods<GaugeState> {
  const r0 = directedThreshold(opts);
  const wording: Wording = { name, worse: opts.worse, tolerance: opts.tolerance, minSamples: burnInSamples };
  const out = verdictWriter<GaugeState>({ detector: GAUGE_SEQUENTIAL, metric: name, effect: EFFECT }, (s) => ({
    baseline: s.baseline.samples,
    canary: s.canary.samples,
  }));
  const instancesOf = (s: GaugeState): { baseline: number; canary: number } => ({
    baseline: Object.keys(s.baseline.instances).length,
    canary: Object.keys(s.canary.instances).length,
  });
  return {
    init: initialState,
    look(state: GaugeState, input: LookInput, alpha: number): DetectorLookResult<GaugeState> {
      const c = instanceLevels('canary', input.batch.canary);
      const b = instanceLevels('baseline', input.batch.baseline);
      // tau2 is tuned at level 2 alpha, which must stay below 1
      const problem = alphaProblem(alpha, 0.5) ?? (typeof c === 'string' ? c : typeof b === 'string' ? b : undefined);
      if (problem !== undefined || typeof c === 'string' || typeof b === 'string') {
        const v = out.errorVerdict(state, problem ?? 'invalid gauge cells');
        return { state, verdict: { ...v, worse: opts.worse, instances: instancesOf(state) } };
      }
      const s = withLook(state, c, b);
      const burnIn = s.canary.samples < burnInSamples || s.baseline.samples < burnInSamples;
      if (s.tau2 === null) {
        const df = s.canary.df + s.baseline.df;
        const vPlan = opts.planningVariance ?? (!burnIn && df > 0 ? (2 * (s.canary.ss + s.baseline.ss)) / df : 0);
        if (vPlan > 0) {
          s.planningVariance = vPlan;
          s.tau2 = howardTau2(vPlan, opts.nOpt, 2 * alpha);
        }
      }
      const e = evaluate(s, r0, opts.worse, alpha);
      s.pValue = alwaysValidPValue(state.pValue, e.logM);
      const phase = sequentialPhase(e, alpha, burnIn);
      const verdict = out.verdict(s, phase, summarize(phase, s, e, wording, burnIn));
      verdict.worse = opts.worse;
      verdict.instances = instancesOf(s);
      return { state: s, verdict: withEffect(verdict, e) };
    },
  };
}

const definition = defineDetector({
  type: GAUGE_SEQUENTIAL,
  anytimeValid: true,
  options: optionsSchema,
  threshold: directedThreshold,
  reads: (o) => ({ kind: 'gauge', metric: o.metric, ...(o.where === undefined ? {} : { where: o.where }) }),
  methods: gaugeMethods,
});
/** Builds one gauge detector; exported for tests and direct use. */
export const createGaugeSequential = definition.create;
export const gaugeSequential: DetectorFactory = definition.factory;
