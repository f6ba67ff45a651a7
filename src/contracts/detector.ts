import type { CohortPair } from './evidence.js';

/**
 * Input of one look. Detectors contrast the cohorts WITHIN each look (`batch`) and accumulate across looks
 * (STATISTICS.md: cumulative comparisons break during progressive rollouts). `totals` are for display.
 */
export interface LookInput {
  analysisId: string;
  /** 1-based look number. */
  look: number;
  /** Event time of the end of the look (unix ms). */
  atUnixMs: number;
  batch: CohortPair;
  totals: CohortPair;
  expectedCanaryShare?: number;
}

/**
 * An attribute filter (`where:` in config): every key must be present on the span / data point (for metrics: the
 * point's attributes, else the resource's) with a value whose string form equals the given one (`false` matches a
 * boolean false and the string "false"), or, for a list, any of them.
 */
export type Where = Readonly<Record<string, string | number | boolean | readonly (string | number | boolean)[]>>;

/** `where` in a short form for messages: `http.route=/checkout, tier=gold|silver`; '' without a filter. */
export function whereText(where: Where | undefined): string {
  return Object.entries(where ?? {})
    .map(([k, v]) => `${k}=${Array.isArray(v) ? (v as readonly unknown[]).map(String).join('|') : String(v)}`)
    .join(', ');
}

/** A counter a `ratio-sequential` detector reads: an OTLP monotonic Sum by name, or request spans (`source: spans`). */
export type CounterSelector =
  { readonly metric: string; readonly where?: Where } | { readonly source: 'spans'; readonly where?: Where };

/**
 * What a detector reads when it is not the service's requests (issue 16). The look runner gives it, as `batch` and
 * `totals`, that evidence: `ratio` counts (ratio), `instances` (gauge), or a request-like batch of the named histogram's
 * observations (histogram).
 */
export type DetectorReads =
  | { readonly kind: 'ratio'; readonly numerator: CounterSelector; readonly denominator: CounterSelector }
  | { readonly kind: 'gauge'; readonly metric: string; readonly where?: Where }
  | { readonly kind: 'histogram'; readonly metric: string; readonly where?: Where };

/** Which way is worse for a business or resource metric. */
export type WorseDirection = 'higher' | 'lower';

/** pass: bounds exclude harm; fail: canary is worse; inconclusive: not enough evidence yet; error: cannot compute. */
export type Phase = 'pass' | 'fail' | 'inconclusive' | 'error';

export interface Verdict {
  detector: string;
  metric: string;
  phase: Phase;
  /** Always-valid p-value: non-increasing over looks (not always-valid when `anytimeValid` is false). */
  pValue: number;
  /**
   * Effect estimate (a canary/baseline ratio for every built-in detector) and its anytime-valid bounds: each side is
   * one-sided at the alpha `look` was given (it holds at every look with probability >= 1 - alpha), so [lower, upper]
   * is a 1 - 2 alpha confidence sequence. A side the detector cannot bound is left out (an unbounded upper bound
   * too: JSON has no Infinity).
   */
  estimate?: number;
  lower?: number;
  upper?: number;
  /** What the effect is, for humans: e.g. "error-rate ratio canary/baseline". */
  effect?: string;
  samples: { baseline: number; canary: number };
  /** One line a human understands in chat. It names bounds without a confidence level: the level depends on the
   *  whole alpha split, so explanations state it once per decision (connectors/shared/explain.ts). */
  summary: string;
  /**
   * Why promotion is held (e.g. 'srm': the traffic split is broken, so no comparison can be trusted). The
   * analysis must not be promoted while any acting verdict holds: neither on all-pass nor at maxDuration; it
   * keeps running (a `fail` still rolls back). Absent when nothing holds.
   */
  hold?: string;
  /**
   * When the looks are compared within routes: the route that weighs most toward harm (e.g. the most canary
   * failures beyond the null's expectation), named in decisions and chat ("POST /checkout: errors 4.1x").
   * Absent when one route or none was compared, and on `pass`.
   */
  route?: string;
  /**
   * false when the detector is not anytime-valid (its factory says `anytimeValid: false`, e.g. kayenta-mann-whitney:
   * a fixed-horizon test re-run at every look): its pValue is not an always-valid p-value and its false alarms grow
   * with the number of looks, so alpha does not bound them. Explanations of decisions say so. Absent otherwise.
   */
  anytimeValid?: false;
  /**
   * Which way of the estimate is worse, when the detector is configured with one (`worse: lower` for conversion):
   * explanations, chat and the dashboard say it ("conversion 0.83x baseline: lower is worse"). Absent: higher.
   */
  worse?: WorseDirection;
  /** Gauges: the exporting instances compared, per cohort (few instances mean little power). */
  instances?: { baseline: number; canary: number };
}

export interface DetectorLookResult<S> {
  state: S;
  verdict: Verdict;
}

/** A detector is pure and synchronous: no clock, no I/O, no randomness. */
export interface Detector<S = unknown> {
  readonly type: string;
  /** The metric name this instance is configured for. */
  readonly name: string;
  /**
   * The effect (on the scale of the verdicts' `estimate`) beyond which the canary counts as worse, when the method
   * has one: 1 + tolerance for the ratio detectors. Plots draw it under the confidence band; nothing decides on it.
   */
  readonly threshold?: number;
  /** What it reads when not the service's requests (ratio / gauge / named histogram); absent: requests. */
  readonly reads?: DetectorReads;
  init(): S;
  look(state: S, input: LookInput, alpha: number): DetectorLookResult<S>;
}

/** Builds a detector from its config entry; validates `options` and throws VIGIL_ERR_DETECTOR_OPTIONS. */
export interface DetectorFactory {
  readonly type: string;
  /**
   * Whether the detector is anytime-valid: its `fail` has probability at most alpha over ALL looks of an analysis
   * under H0, however many there are (Ville's inequality), and its pValue is always-valid. Only `true` counts: a
   * factory that says false, or says nothing (a plug-in written without this key, in plain JavaScript), is taken as
   * not anytime-valid, and config loading refuses an ACTING metric with it unless the metric says
   * `acknowledgeNotAnytimeValid: true` (`shadow: true` metrics never act, so they need no acknowledgement).
   * A detector that is not anytime-valid marks its verdicts `anytimeValid: false` (detectors/lib/detector-kit.ts does).
   */
  readonly anytimeValid: boolean;
  create(metricName: string, options: unknown, ctx: { minSamples: number }): Detector;
}
