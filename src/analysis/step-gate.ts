/**
 * The step gate of a promotion plan (issue 17): the analysis' own detectors, run a second time on the looks of the
 * current step only, each acting metric at the liberal level GATE_ALPHA. A rollout moves to its next share only when
 * no acting metric looks worse WITHIN the step.
 *
 * Why: the analysis' tests are cumulative, as they must be to stay valid however often they look. A regression that
 * starts at 25% after many healthy looks at 1–5% has to outweigh that history first: with the default `combine:
 * robust` bets (each look at most nearly doubles the evidence, healthy looks wear it down), errors 30x started at
 * look 15 were rolled back at look 24, after the plan had moved on to 50%. The gate sees the step alone: the same run
 * is held at 25% and rolled back there (test/integration/promotion-held.test.ts; `npm run bench:promotion`).
 *
 * What it costs and why it is safe: the gate never rolls back and never promotes: it only holds. Its level is liberal
 * and not split over the metrics (a chance hold wastes time, never a release), and a hold that lasts (the promotion
 * rule's 2 x minLooksPerStep gate looks) restarts the gate on fresh looks, so a chance alarm costs one more step's
 * looks. The decisions stay the anytime-valid tests'. A weaker regression (errors 5x at 1%, 100 requests a look) may
 * need more looks than a step has: 15 of 20 were rolled back at their step, 5 later (`npm run bench:promotion`).
 *
 * State: per analysis, O(metrics) detector states and running totals, reset when the promotion record's epoch
 * moves (a share set, a gate restart). Pure: no clock, no I/O; one more detector look per metric per look, for the
 * services with a promotion plan only.
 */
import type { CohortPair, LookInput, MetricVerdict } from '../contracts/index.js';
import { emptyPair, mergePair } from '../evidence/cohort-batch.js';
import type { AnalysisSettings } from './analysis-types.js';

/** The gate's level for each metric (not split: a chance hold costs time, never a release). */
export const GATE_ALPHA = 0.2;

export interface StepGate {
  /** The promotion record's epoch this gate's evidence belongs to. */
  epoch: number;
  /** Looks run since it (re)started. */
  looks: number;
  states: unknown[];
  /** Each metric's running totals since it (re)started (its own evidence source's, or the requests'). */
  totals: CohortPair[];
  verdicts: MetricVerdict[];
}

/** A metric's look input when it does not read the requests as a whole (look-runner.ts `metricInputs`). */
export interface GateInput {
  batch: LookInput['batch'];
}

/**
 * Runs the gate on a look: restarted when `epoch` differs from the gate's. Each metric sees this look's batch (its own
 * when it reads another source) and the totals since the gate started, at GATE_ALPHA (0 for a metric the analysis
 * gives no alpha). A detector that throws gives an `error` verdict (never a hold).
 */
export function runStepGate(
  gate: StepGate | undefined,
  epoch: number,
  settings: Pick<AnalysisSettings, 'metrics'>,
  alphas: readonly number[],
  input: LookInput,
  own: readonly (GateInput | undefined)[],
): StepGate {
  const g: StepGate =
    gate !== undefined && gate.epoch === epoch
      ? gate
      : {
          epoch,
          looks: 0,
          states: settings.metrics.map((m) => m.detector.init()),
          totals: settings.metrics.map(() => emptyPair()),
          verdicts: [],
        };
  g.looks++;
  g.verdicts = settings.metrics.map((m, i) => {
    const batch = own[i]?.batch ?? input.batch;
    const totals = g.totals[i]!;
    mergePair(totals, batch);
    const alpha = (alphas[i] ?? 0) > 0 ? GATE_ALPHA : 0;
    try {
      const r = m.detector.look(g.states[i], { ...input, look: g.looks, batch, totals }, alpha);
      g.states[i] = r.state;
      return { ...r.verdict, alpha, shadow: m.shadow };
    } catch (e) {
      const summary = `detector error: ${e instanceof Error ? e.message : String(e)}`;
      const samples = { baseline: totals.baseline.requests, canary: totals.canary.requests };
      const base = { detector: m.detector.type, metric: m.name, pValue: 1, samples, summary };
      return { ...base, phase: 'error' as const, alpha, shadow: m.shadow };
    }
  });
  return g;
}

/** The acting metrics that look worse within the step: "error-rate (error rate 12x baseline …)". */
export function gateWorse(g: StepGate | undefined): string[] {
  if (g === undefined) return [];
  return g.verdicts.filter((v) => !v.shadow && v.phase === 'fail').map((v) => `${v.metric} (${v.summary})`);
}
