/**
 * What an operator can do to an analysis by hand (issue 15), on the registry's state: pause it (its looks still run
 * and are shown; nothing is decided until it is resumed), lift the pause, or decide it (rollback: the service's plan
 * runs, the storm guard does not hold a person's rollback; promote: no plan). Pure: who, why and when come from the
 * caller (the API), so a replay of the same calls gives the same state. O(metrics).
 */
import type { Decision } from '../contracts/index.js';
import { decisionId } from '../decide/engine.js';
import type { Analysis, AnalysisSettings, OperatorNote, ServiceState } from './analysis-types.js';
import { watermarkOf } from './event-clock.js';
import { usedShare } from './look-runner.js';

/** An action refused: 409 (the analysis is not in a state where it applies), with the sentence that says why. */
export interface Refusal {
  refused: string;
}

const decidedAlready = (a: Analysis): string =>
  `analysis ${a.id} is already decided (${a.phase}${a.decision ? `, decision ${a.decision.id}` : ''})`;

/** Pauses a running analysis. Pausing a paused one changes nothing (`changed: false`, the first pause stays). */
export function pauseAnalysis(a: Analysis, note: OperatorNote): { changed: boolean } | Refusal {
  if (a.phase !== 'running') return { refused: `${decidedAlready(a)}: there is nothing to pause` };
  if (a.paused) return { changed: false };
  a.paused = { ...note };
  a.operatedAtUnixMs = note.atUnixMs;
  a.why = `paused by ${note.by} (${note.reason}): nothing is decided until it is resumed`;
  return { changed: true };
}

/** Lifts the pause of a running analysis; its next look decides as usual. */
export function unpauseAnalysis(a: Analysis, note: OperatorNote): { changed: boolean } | Refusal {
  if (a.phase !== 'running') return { refused: decidedAlready(a) };
  if (!a.paused) return { refused: `analysis ${a.id} is running and not paused: there is nothing to resume` };
  delete a.paused;
  a.operatedAtUnixMs = note.atUnixMs;
  a.why = 'resumed by hand: the next look decides';
  return { changed: true };
}

/**
 * The decision an operator takes on a running (or paused) analysis, at its last look and the service's watermark:
 * `manual` carries who, why and the token; the reason says it was taken by hand. The caller moves the analysis to
 * the decided ones (`decideAnalysis`) and dispatches the decision like any other.
 */
export function manualDecision(
  settings: AnalysisSettings,
  svc: ServiceState,
  a: Analysis,
  outcome: 'rollback' | 'promote',
  note: OperatorNote,
): Decision | Refusal {
  if (a.phase !== 'running') return { refused: decidedAlready(a) };
  const watermark = watermarkOf(svc, settings);
  const at = Number.isFinite(watermark) ? watermark : a.startIndex * settings.intervalMs;
  return {
    id: decisionId(a.id, a.look, outcome, a.incarnation),
    analysis: a.id,
    service: a.service,
    outcome,
    reason: `${outcome} by hand: ${note.by}: ${note.reason}`,
    canaryVersion: a.canaryVersion,
    baselineVersion: a.baselineVersion,
    look: a.look,
    eventTimeUnixMs: at,
    verdicts: a.verdicts,
    configHash: settings.configHash,
    plan: outcome === 'rollback' ? [...settings.planFor(a.service)] : [],
    dryRun: settings.dryRun,
    used: usedShare(a.totals, a.late),
    manual: { ...note },
  };
}

/**
 * The audit log's last pause or unpause of an analysis, read back at a restart: applied when it is later than the
 * analysis's own last one (a checkpoint taken after it already has it). Returns whether it changed the analysis.
 */
export function reconcilePause(a: Analysis, last: { paused: OperatorNote | undefined; atUnixMs: number }): boolean {
  if (a.phase !== 'running' || (a.operatedAtUnixMs ?? -Infinity) >= last.atUnixMs) return false;
  a.operatedAtUnixMs = last.atUnixMs;
  if (last.paused === undefined) {
    if (!a.paused) return false;
    delete a.paused;
    return true;
  }
  a.paused = { ...last.paused };
  return true;
}

export const isRefusal = (x: object): x is Refusal => 'refused' in x;
