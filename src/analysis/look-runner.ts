/**
 * The look runner: when a service's event clock (its watermark) passes the end of a look, each running
 * analysis of the service closes that look: the look's cohort batch goes to every metric's detector, the
 * verdicts to the pure decision engine, and a canary silent for `silenceTimeoutMs` is abandoned. Looks
 * close in order, one interval at a time, so a live stream and a replay give the same looks.
 * Synchronous, no wall-clock time, no I/O (hooks are the caller's).
 */
import type { CohortPair } from '../contracts/index.js';
import { abandon, decide } from '../decide/engine.js';
import { emptyPair, mergePair } from '../evidence/cohort-batch.js';
import type { Analysis, AnalysisSettings, AnalysisSnapshot, RegistryHooks, ServiceState } from './analysis-types.js';
import type { EvidenceSource } from './evidence-source.js';
import { selectEvidence } from './evidence-source.js';

export class LookRunner {
  constructor(
    private readonly settings: AnalysisSettings,
    private readonly hooks: RegistryHooks,
  ) {}

  /**
   * Closes every look of the service's running analyses that its watermark has passed, in order, and runs
   * them. Returns how many analyses were decided (they leave `svc.running`).
   */
  closeLooks(svc: ServiceState): number {
    let decided = 0;
    const { intervalMs, allowedLatenessMs } = this.settings;
    const watermark = svc.maxEndMs - allowedLatenessMs;
    const closeUpTo = Math.floor(watermark / intervalMs) - 1;
    if (closeUpTo > svc.closedIndex) {
      svc.closedIndex = closeUpTo;
      for (const i of svc.baselineOpen.keys()) if (i <= closeUpTo) svc.baselineOpen.delete(i);
      for (const i of svc.baselineOpenMetrics?.keys() ?? []) if (i <= closeUpTo) svc.baselineOpenMetrics!.delete(i);
    }
    for (const a of [...svc.running.values()]) {
      if (svc.baselineVersion !== undefined) a.baselineVersion = svc.baselineVersion;
      while (a.lastClosedIndex < closeUpTo && a.phase === 'running') {
        const index = a.lastClosedIndex + 1;
        a.lastClosedIndex = index;
        const batch = a.open.get(index) ?? emptyPair();
        a.open.delete(index);
        const fromMetrics = a.openMetrics?.get(index);
        a.openMetrics?.delete(index);
        if (this.runLook(svc, a, index, batch, fromMetrics)) decided++;
      }
    }
    return decided;
  }

  /** One look: detectors, decision engine, silence; returns true when the analysis was decided. */
  private runLook(svc: ServiceState, a: Analysis, index: number, spans: CohortPair, fromMetrics: CohortPair | undefined): boolean {
    const { intervalMs, metrics } = this.settings;
    const batch = selectEvidence('auto', spans, fromMetrics);
    mergePair(a.totals, batch);
    const bySource = this.sourceInputs(a, spans, fromMetrics);
    a.look = index - a.startIndex + 1;
    const atUnixMs = (index + 1) * intervalMs;
    const expected = this.settings.expectedCanaryShare?.(svc.name);
    const input = { analysisId: a.id, look: a.look, atUnixMs, batch, totals: a.totals, ...(expected === undefined ? {} : { expectedCanaryShare: expected }) };
    a.verdicts = metrics.map((m, i) => {
      const alpha = a.alphas[i] ?? 0;
      const own = bySource.get(m.source ?? 'auto');
      try {
        const r = m.detector.look(a.states[i], own === undefined ? input : { ...input, ...own }, alpha);
        a.states[i] = r.state;
        return { ...r.verdict, alpha, shadow: m.shadow };
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        return { detector: m.detector.type, metric: m.name, phase: 'error' as const, pValue: 1, samples: { baseline: a.totals.baseline.requests, canary: a.totals.canary.requests }, summary: `detector error: ${msg}`, alpha, shadow: m.shadow };
      }
    });
    const base = { analysisId: a.id, service: a.service, canaryVersion: a.canaryVersion, baselineVersion: a.baselineVersion, look: a.look, atUnixMs, verdicts: a.verdicts };
    const windowStart = atUnixMs - this.settings.stormWindowMs;
    svc.rollbackTimes = svc.rollbackTimes.filter((t) => t > windowStart);
    let decision = decide(
      { ...base, elapsedMs: atUnixMs - a.startIndex * intervalMs },
      {
        maxDurationMs: this.settings.maxDurationMs,
        plan: this.settings.planFor(a.service),
        dryRun: this.settings.dryRun,
        configHash: this.settings.configHash,
        maxRollbacks: this.settings.maxRollbacks,
        recentRollbacks: svc.rollbackTimes.length,
      },
    );
    // A silent canary is abandoned rather than promoted: no evidence is not evidence of health.
    const silentMs = atUnixMs - a.lastCanaryMs;
    if (decision?.outcome !== 'rollback' && silentMs >= this.settings.silenceTimeoutMs) {
      decision = abandon(base, { configHash: this.settings.configHash, dryRun: this.settings.dryRun }, silentMs);
    }
    if (decision) {
      a.phase = decision.outcome;
      a.why = decision.reason;
      a.decision = decision;
      a.open.clear();
      a.openMetrics?.clear();
      svc.running.delete(a.canaryVersion);
      svc.decided.set(a.canaryVersion, a);
      if (decision.outcome === 'rollback') svc.rollbackTimes.push(atUnixMs);
    } else {
      a.why = this.whyRunning(a);
    }
    this.hooks.onLook?.({ analysis: snapshot(this.settings, svc, a), batch });
    if (decision) this.hooks.onDecision(decision);
    return decision !== undefined;
  }

  /** The look's batch and running totals of each evidence source other than `auto` that a metric uses. */
  private sourceInputs(a: Analysis, spans: CohortPair, fromMetrics: CohortPair | undefined): Map<EvidenceSource, { batch: CohortPair; totals: CohortPair }> {
    const out = new Map<EvidenceSource, { batch: CohortPair; totals: CohortPair }>();
    for (const m of this.settings.metrics) {
      const source = m.source ?? 'auto';
      if (source === 'auto' || out.has(source)) continue;
      const batch = selectEvidence(source, spans, fromMetrics);
      const all = (a.sourceTotals ??= new Map<EvidenceSource, CohortPair>());
      let totals = all.get(source);
      if (!totals) all.set(source, (totals = emptyPair()));
      mergePair(totals, batch);
      out.set(source, { batch, totals });
    }
    return out;
  }

  private whyRunning(a: Analysis): string {
    const acting = a.verdicts.filter((v) => !v.shadow);
    const burnIn = acting.some((v) => v.phase === 'inconclusive' && (v.samples.canary === 0 || v.samples.baseline === 0));
    if (burnIn) return 'waiting for samples in both cohorts';
    const best = acting.reduce((m, v) => Math.min(m, v.pValue), 1);
    return `no metric has failed yet (lowest p-value ${best.toPrecision(2)}); keeps looking every interval`;
  }
}

/** What the API, the dashboard and the hooks see of an analysis. */
export function snapshot(settings: AnalysisSettings, svc: ServiceState, a: Analysis): AnalysisSnapshot {
  const t = a.totals;
  return {
    id: a.id,
    service: a.service,
    canaryVersion: a.canaryVersion,
    baselineVersion: a.baselineVersion,
    phase: a.phase,
    why: a.why,
    look: a.look,
    startedAtUnixMs: a.startIndex * settings.intervalMs,
    watermarkUnixMs: svc.maxEndMs - settings.allowedLatenessMs,
    totals: {
      baseline: { requests: t.baseline.requests, errors: t.baseline.errors },
      canary: { requests: t.canary.requests, errors: t.canary.errors },
    },
    verdicts: a.verdicts,
    ...(a.decision ? { decisionId: a.decision.id } : {}),
  };
}
