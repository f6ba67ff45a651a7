import type { z } from 'zod';
import type { Detector, DetectorFactory, DetectorReads, Phase, Verdict } from '../../src/contracts/detector.js';
import { checkMinSamples, parseDetectorOptions } from './options.js';

/**
 * What every detector file shares, so that each keeps only its method: the factory wrapper (`defineDetector`,
 * which also declares whether the method is anytime-valid and marks the verdicts of one that is not),
 * the alpha check, the verdict builders (one per detector instance, `verdictWriter`), the phase rule of the
 * one-sided sequential tests (`sequentialPhase`) and the estimate/lower/upper tail (`withEffect`). Pure, O(1).
 */

/** A detector's own part: its two methods for one metric. */
export type DetectorMethods<S> = Pick<Detector<S>, 'init' | 'look'>;

export interface DetectorDefinition<S, O extends z.ZodType> {
  /** The config `type`, also the verdicts' `detector`. */
  readonly type: string;
  /**
   * Whether the method is anytime-valid (DetectorFactory.anytimeValid): true for the sequential tests; false for a
   * fixed-horizon test re-run at every look, whose every verdict is then marked `anytimeValid: false`.
   */
  readonly anytimeValid: boolean;
  /** zod schema of `options` (undefined / null = all defaults). */
  readonly options: O;
  /** Detector.threshold for these options (the effect beyond which the canary counts as worse), if the method has
   *  one: 1 + tolerance for a ratio detector. */
  threshold?(options: z.output<O>): number | undefined;
  /** Detector.reads for these options (what it reads when not the service's requests), if anything. */
  reads?(options: z.output<O>): DetectorReads | undefined;
  /** The methods for `metricName`, given the parsed options and the validated burn-in (minSamples). */
  methods(metricName: string, options: z.output<O>, minSamples: number): DetectorMethods<S>;
}

export interface DefinedDetector<S> {
  /**
   * Builds one detector: validates `options` against the schema, then `minSamples` (integer >= 0), each
   * throwing VIGIL_ERR_DETECTOR_OPTIONS, then calls `methods`. For tests and direct use (typed state).
   */
  readonly create: (metricName: string, options: unknown, minSamples: number) => Detector<S>;
  /** The same, as the DetectorFactory the registry (detectors/index.ts) lists. */
  readonly factory: DetectorFactory;
}

export function defineDetector<S, O extends z.ZodType>(def: DetectorDefinition<S, O>): DefinedDetector<S> {
  const { type, anytimeValid } = def;
  const create = (metricName: string, options: unknown, minSamples: number): Detector<S> => {
    const opts = parseDetectorOptions(def.options, type, metricName, options);
    const burnIn = checkMinSamples(type, metricName, minSamples);
    const methods = def.methods(metricName, opts, burnIn);
    const t = def.threshold?.(opts);
    const threshold = t !== undefined && Number.isFinite(t) ? { threshold: t } : {};
    const r = def.reads?.(opts);
    const reads = r === undefined ? {} : { reads: r };
    if (anytimeValid) return { type, name: metricName, ...threshold, ...reads, ...methods };
    return {
      type,
      name: metricName,
      ...threshold,
      ...reads,
      init: methods.init,
      look: (state, input, alpha) => {
        const r = methods.look(state, input, alpha);
        return { state: r.state, verdict: { ...r.verdict, anytimeValid: false } };
      },
    };
  };
  return {
    create,
    factory: { type, anytimeValid, create: (metricName, options, ctx) => create(metricName, options, ctx.minSamples) },
  };
}

/**
 * Why `alpha` (the engine's share of the error budget for this metric) cannot be used at this look, or undefined.
 * It must be finite and in (0, `below`): `below` is 1, or 0.5 for a method that needs 2 alpha < 1. A detector
 * answers a bad alpha with an `error` verdict for the look (state unchanged); it does not throw.
 */
export function alphaProblem(alpha: number, below = 1): string | undefined {
  if (Number.isFinite(alpha) && alpha > 0 && alpha < below) return undefined;
  return `alpha must be in (0, ${below}), got ${alpha}`;
}

/** A detector instance's constant part of every verdict. */
export interface VerdictSubject {
  readonly detector: string;
  readonly metric: string;
  /** What the effect is, for humans; left out of the verdict when undefined. */
  readonly effect?: string;
}

export interface VerdictWriter<S> {
  /** A verdict without estimate and bounds (add them with `withEffect`): pValue from the state. */
  verdict(state: S, phase: Phase, summary: string): Verdict;
  /** The `error` verdict of a look that cannot be used: "cannot use this look: <why>". */
  errorVerdict(state: S, why: string): Verdict;
}

/** Verdict builders for one detector instance; `samplesOf` reads the per-cohort sample counts off its state. */
export function verdictWriter<S extends { pValue: number }>(
  subject: VerdictSubject,
  samplesOf: (state: S) => Verdict['samples'],
): VerdictWriter<S> {
  const verdict = (state: S, phase: Phase, summary: string): Verdict => ({
    detector: subject.detector,
    metric: subject.metric,
    phase,
    pValue: state.pValue,
    ...(subject.effect === undefined ? {} : { effect: subject.effect }),
    samples: samplesOf(state),
    summary,
  });
  return { verdict, errorVerdict: (state, why) => verdict(state, 'error', `cannot use this look: ${why}`) };
}

/** The two e-values (log units) of a one-sided sequential test at one look. */
export interface SequentialEvidence {
  /** log M_t of the test of H0 "canary within tolerance": reaching log(1/alpha) fails the canary. */
  logM: number;
  /** log M_t of the mirrored test of H0 "canary beyond tolerance": reaching log(1/alpha) passes it. */
  passEvidence: number;
}

/**
 * The phase rule of the one-sided sequential detectors: `inconclusive` during burn-in; else `fail` when
 * M_t >= 1/alpha, else `pass` when the mirrored M_t >= 1/alpha (fail wins when both reject), else `inconclusive`.
 */
export function sequentialPhase(e: SequentialEvidence, alpha: number, burnIn: boolean): Phase {
  if (burnIn) return 'inconclusive';
  const logInv = Math.log(1 / alpha);
  if (e.logM >= logInv) return 'fail';
  if (e.passEvidence >= logInv) return 'pass';
  return 'inconclusive';
}

/** An effect estimate and its confidence bounds; undefined = not reported. */
export interface Effect {
  estimate?: number | undefined;
  lower?: number | undefined;
  upper?: number | undefined;
}

/** What a one-sided sequential detector evaluates at a look: its two e-values and the effect it reports. */
export type SequentialEvaluation = SequentialEvidence & Effect;

/**
 * Adds estimate, lower and upper to the verdict (in that order), each only when defined; returns the verdict.
 * JSON has no Infinity or NaN: map a side you do not report (unbounded, not estimable) to undefined, e.g. with
 * `finiteOrUndefined`.
 */
export function withEffect(verdict: Verdict, e: Effect): Verdict {
  if (e.estimate !== undefined) verdict.estimate = e.estimate;
  if (e.lower !== undefined) verdict.lower = e.lower;
  if (e.upper !== undefined) verdict.upper = e.upper;
  return verdict;
}

/** x when it is a finite number, else undefined. */
export function finiteOrUndefined(x: number | undefined): number | undefined {
  return x !== undefined && Number.isFinite(x) ? x : undefined;
}
