/**
 * The judge: one canary version's verdict in the vocabulary of rollout controllers (Argo Rollouts' `web` metric
 * provider, Flagger's webhooks; see docs/argo-rollouts.md and docs/flagger.md). Pure: no clock, no I/O; the routes
 * (judge-routes.ts) hand it the registry's analyses and the audit log's recent decisions.
 *
 * Verdicts:
 *  - `fail`: Vigil decided rollback for that version: the controller must abort. Also for an `abandoned` analysis
 *    (the canary went silent while the baseline reported, src/decide/engine.ts `abandon`): Vigil runs no plan of its
 *    own for it, but the controller that owns the traffic must not promote a canary with no evidence ("no evidence is
 *    not evidence of health", src/analysis/look-runner.ts), and the likeliest cause of a silent canary is that it
 *    crashed or lost its traffic. Aborting is what an SRE expects and is reversible (retry the rollout, after a
 *    `resume`); `unknown` instead would keep Flagger's rollout gate open and Argo's run inconclusive while the canary
 *    keeps taking traffic. The answer's `reason` says it was abandoned.
 *  - `pass`: Vigil would promote (phase `promote`).
 *  - `running`: the analysis is running: no acting metric has failed (a failure rolls back at once).
 *  - `unknown`: no analysis of that version exists (yet), nor a decision about it in the audit log's memory; also
 *    once an operator resumed the version, until its new analysis starts (its old decision no longer holds).
 *
 * Without a canary version, the service's newest analysis is judged. A decided analysis that the registry no
 * longer lists (reduced to its outcome after the retention) is judged from its decision in the audit log, when that
 * decision is newer than anything the registry lists for the same version.
 */
import type { AnalysisSnapshot } from '../analysis/analysis-registry.js';
import type { Decision, MetricVerdict, Outcome } from '../contracts/index.js';
import { synthetic } from '../decide/audit-replay.js';

export type JudgeVerdict = 'running' | 'pass' | 'fail' | 'unknown';

/** One metric's verdict as the judge reports it. */
export type JudgeMetric = Pick<
  MetricVerdict,
  'metric' | 'detector' | 'phase' | 'pValue' | 'alpha' | 'shadow' | 'summary'
> &
  Partial<Pick<MetricVerdict, 'estimate' | 'lower' | 'upper' | 'effect' | 'hold' | 'route'>>;

export interface JudgeAnswer {
  verdict: JudgeVerdict;
  service: string;
  /** The version judged (the newest one when none was asked for); null when none is known. */
  canaryVersion: string | null;
  /** The analysis id, or null when there is none. */
  analysis: string | null;
  /** The decision id, or null while undecided. */
  decision: string | null;
  /** Why, in one sentence: the analysis's `why` or the decision's reason. */
  reason: string;
  /** The smallest always-valid p-value among the acting (non-shadow) metrics; null before any verdict. */
  pValue: number | null;
  metrics: JudgeMetric[];
}

const OUTCOME_VERDICT: Readonly<Record<Outcome, JudgeVerdict>> = {
  rollback: 'fail',
  abandoned: 'fail',
  promote: 'pass',
};

function metricsOf(verdicts: readonly MetricVerdict[]): JudgeMetric[] {
  return verdicts.map((v) => {
    const m: JudgeMetric = {
      metric: v.metric,
      detector: v.detector,
      phase: v.phase,
      pValue: v.pValue,
      alpha: v.alpha,
      shadow: v.shadow,
      summary: v.summary,
    };
    for (const k of ['estimate', 'lower', 'upper', 'effect', 'hold', 'route'] as const) {
      if (v[k] !== undefined) Object.assign(m, { [k]: v[k] });
    }
    return m;
  });
}

function smallestPValue(verdicts: readonly MetricVerdict[]): number | null {
  const acting = verdicts.filter((v) => !v.shadow);
  return acting.length === 0 ? null : Math.min(...acting.map((v) => v.pValue));
}

function fromAnalysis(a: AnalysisSnapshot): JudgeAnswer {
  const verdict: JudgeVerdict = a.phase === 'running' ? 'running' : OUTCOME_VERDICT[a.phase];
  const abandoned = a.phase === 'abandoned' ? 'abandoned: ' : '';
  return {
    verdict,
    service: a.service,
    canaryVersion: a.canaryVersion,
    analysis: a.id,
    decision: a.decisionId ?? null,
    reason: `${abandoned}${a.why}`,
    pValue: smallestPValue(a.verdicts),
    metrics: metricsOf(a.verdicts),
  };
}

function fromDecision(d: Decision): JudgeAnswer {
  const abandoned = d.outcome === 'abandoned' ? 'abandoned: ' : '';
  return {
    verdict: OUTCOME_VERDICT[d.outcome],
    service: d.service,
    canaryVersion: d.canaryVersion,
    analysis: d.analysis,
    decision: d.id,
    reason: `${abandoned}${d.reason}`,
    pValue: smallestPValue(d.verdicts),
    metrics: metricsOf(d.verdicts),
  };
}

const newest = <T>(items: readonly T[], time: (x: T) => number): T | undefined =>
  items.reduce<T | undefined>((best, x) => (best === undefined || time(x) > time(best) ? x : best), undefined);

/**
 * The verdict on `service`'s canary `canaryVersion` (its newest analysis when undefined). O(analyses + decisions).
 */
export function judge(
  analyses: readonly AnalysisSnapshot[],
  decisions: readonly Decision[],
  service: string,
  canaryVersion: string | undefined,
  /** Whether an operator resumed the version after its last decision and no new analysis has started yet: its
   *  decisions no longer hold (the registry's `awaitsNewAnalysis`). */
  resumed: (service: string, canaryVersion: string) => boolean = () => false,
): JudgeAnswer {
  const matches = (x: { service: string; canaryVersion: string }) =>
    x.service === service && (canaryVersion === undefined || x.canaryVersion === canaryVersion);
  const listed = analyses.filter(matches);
  const analysis = newest(listed, (a) => a.startedAtUnixMs);
  // decisions of versions the registry no longer lists (pruned after the retention); a listed version's own
  // analysis is authoritative (after a resume, its older decisions no longer hold)
  const listedVersions = new Set(listed.map((a) => a.canaryVersion));
  const decision = newest(
    decisions.filter(
      (d) =>
        matches(d) && !synthetic(d) && !listedVersions.has(d.canaryVersion) && !resumed(d.service, d.canaryVersion),
    ),
    (d) => d.eventTimeUnixMs,
  );
  if (decision !== undefined && (analysis === undefined || decision.eventTimeUnixMs > analysis.startedAtUnixMs)) {
    return fromDecision(decision);
  }
  if (analysis !== undefined) return fromAnalysis(analysis);
  const what = canaryVersion === undefined ? `service ${service}` : `version ${canaryVersion} of service ${service}`;
  return {
    verdict: 'unknown',
    service,
    canaryVersion: canaryVersion ?? null,
    analysis: null,
    decision: null,
    reason:
      canaryVersion !== undefined && resumed(service, canaryVersion)
        ? `${what} was resumed by an operator after its decision: a new analysis starts when the service shows both a canary and a baseline cohort`
        : `no analysis of ${what} (yet): Vigil starts one when the service shows both a canary and a baseline cohort`,
    pValue: null,
    metrics: [],
  };
}
