/**
 * The look runner: when a service's event clock (its watermark: every active source has passed the end of a
 * look, see event-clock.ts) passes the end of a look, each running
 * analysis of the service closes that look: the look's cohort batch goes to every metric's detector, the
 * verdicts to the pure decision engine, and a canary silent for `silenceTimeoutMs` is abandoned. Looks
 * close in order, one interval at a time, so a live stream and a replay give the same looks.
 *
 * Closing and running are apart: closing a look freezes its evidence and queues it; `runPending` runs the
 * queue. A replay runs it at once; the agent runs it in time slices between requests, because a fleet's
 * analyses all close their looks within a second of each interval boundary (1,000 analyses cost ~300 ms
 * of detector work), which would otherwise stall ingestion for every client. Both give the same looks
 * and decisions: a queued look carries what it would have seen had it run at closing. Until it runs, its
 * analysis still counts as running (for the version and analysis limits too).
 * Synchronous, no wall-clock time, no I/O (hooks are the caller's).
 */
import type { CohortBatch, CohortPair, Decision, LookInput, MetricVerdict } from '../contracts/index.js';
import { abandon, decide } from '../decide/engine.js';
import { emptyPair, mergePair } from '../evidence/cohort-batch.js';
import type {
  Analysis,
  AnalysisSettings,
  AnalysisSnapshot,
  OperatorNote,
  RegistryHooks,
  ServiceState,
} from './analysis-types.js';
import { recordLook } from './look-history.js';
import { idleCohorts, idleTimeoutMs, watermarkOf } from './event-clock.js';
import type { EvidenceSource } from './evidence-source.js';
import { selectEvidence } from './evidence-source.js';
import type { Projection } from './indicators.js';
import { hasEvidence, projectLook } from './indicators.js';
import { promotionView, windowShare } from './promotion.js';
import { runStepGate } from './step-gate.js';

const NONE = Object.freeze({ baseline: 0, canary: 0 });

/** Looks without any evidence of an indicator (from either cohort, since the analysis started) before its verdicts
 *  and the log say so ("no process.memory.usage points from either cohort in 12 looks"): two minutes at 10 s looks. */
export const MISSING_INDICATOR_LOOKS = 12;

/** What one metric's detector sees instead of the look's `auto` evidence; `missing`: why its verdict says nothing. */
interface MetricInput {
  batch: CohortPair;
  totals: CohortPair;
  missing?: string;
}

/** A closed look waiting to run, with what it must see of its analysis as of closing. */
interface LookTask {
  /** Its place in the queue (restored queues are merged back in this order). */
  seq: number;
  svc: ServiceState;
  a: Analysis;
  index: number;
  spans: CohortPair;
  fromMetrics: CohortPair | undefined;
  baselineVersion: string;
  lastCanaryMs: number;
  watermarkMs: number;
  /** The analysis's late counts at closing (a look run later shows, and a decision keeps, these). */
  late: { baseline: number; canary: number };
  /** The analysis's idle-closed look counts at closing (this look's included). */
  idleClosed: { baseline: number; canary: number };
}

export class LookRunner {
  constructor(
    private readonly settings: AnalysisSettings,
    private readonly hooks: RegistryHooks,
    /** Called when a look decides its analysis (it leaves `svc.running`). */
    private readonly onLeaveRunning: () => void,
  ) {}

  /** Closed looks not yet run, oldest first (`pending` from index `head`). */
  private pending: LookTask[] = [];
  private head = 0;
  private nextSeq = 0;

  /** Looks closed and not yet run. */
  get pendingCount(): number {
    return this.pending.length - this.head;
  }

  /** The looks closed and not yet run, oldest first, per service (for a checkpoint: they reference its objects). */
  pendingByService(): Map<ServiceState, LookTask[]> {
    const out = new Map<ServiceState, LookTask[]>();
    for (let i = this.head; i < this.pending.length; i++) {
      const t = this.pending[i]!;
      let list = out.get(t.svc);
      if (!list) out.set(t.svc, (list = []));
      list.push(t);
    }
    return out;
  }

  /** Replaces the queue with the looks of `pendingByService` restored with their services, in their first order. */
  importPending(tasks: readonly unknown[]): void {
    this.pending = [...(tasks as LookTask[])].sort((a, b) => a.seq - b.seq);
    this.head = 0;
    this.nextSeq = this.pending.reduce((m, t) => Math.max(m, t.seq + 1), 0);
  }

  /** Appends the looks of one restored service (another replica's, issue 14) behind the queue, in their order. */
  addPending(tasks: readonly unknown[]): void {
    for (const t of [...(tasks as LookTask[])].sort((a, b) => a.seq - b.seq))
      this.pending.push({ ...t, seq: this.nextSeq++ });
  }

  /** Forgets the looks of a service this replica no longer owns (they never run here). O(pending). */
  dropPending(svc: ServiceState): void {
    const kept = this.pending.slice(this.head).filter((t) => t.svc !== svc);
    this.pending = kept;
    this.head = 0;
  }

  /**
   * Closes every look of the service's running analyses that its watermark has passed, in order: each
   * look's evidence is taken out of the open buckets and queued with what the look must see of the
   * analysis at this point of the stream (its baseline version, the canary's last sample time, the
   * watermark), so that running it later gives exactly what running it now would. `runPending` runs them.
   */
  closeLooks(svc: ServiceState): void {
    const watermarkMs = watermarkOf(svc, this.settings);
    const closeUpTo = Math.floor(watermarkMs / this.settings.intervalMs) - 1;
    const idle = svc.running.size === 0 ? [] : idleCohorts(svc, idleTimeoutMs(this.settings));
    for (const a of svc.running.values()) {
      if (svc.baselineVersion !== undefined) a.baselineVersion = svc.baselineVersion;
      if (closeUpTo - a.lastClosedIndex > this.maxLooksPerClose) this.skipLooks(a, closeUpTo - this.maxLooksPerClose);
      while (a.lastClosedIndex < closeUpTo) {
        const index = a.lastClosedIndex + 1;
        a.lastClosedIndex = index;
        this.countIdleClosed(svc, a, index, idle);
        const spans = a.open.get(index) ?? emptyPair();
        a.open.delete(index);
        const fromMetrics = a.openMetrics?.get(index);
        a.openMetrics?.delete(index);
        this.pending.push({
          seq: this.nextSeq++,
          svc,
          a,
          index,
          spans,
          fromMetrics,
          baselineVersion: a.baselineVersion,
          lastCanaryMs: a.lastCanaryMs,
          watermarkMs,
          late: { ...a.late },
          idleClosed: { ...(a.idleClosed ?? NONE) },
        });
      }
    }
  }

  /**
   * Bounded work whatever the clock does: at most `maxLooksPerClose` looks of an analysis are closed by one call
   * (enough to pass maxDuration and the silence timeout, so the analysis is decided within them). A larger jump (a
   * service back after a long silence; in a replay, a recording whose clock jumps) skips the older looks: their
   * evidence is counted late, per cohort, and no detector sees it.
   */
  private skipLooks(a: Analysis, upTo: number): void {
    for (const open of [a.open, a.openMetrics]) {
      for (const [i, pair] of open ?? []) {
        if (i > upTo) continue;
        open!.delete(i);
        a.late.baseline += pair.baseline.requests;
        a.late.canary += pair.canary.requests;
      }
    }
    this.hooks.onLooksSkipped?.(upTo - a.lastClosedIndex);
    a.lastClosedIndex = upTo;
  }

  /** Looks one `closeLooks` call closes per analysis at most (see `skipLooks`). */
  private get maxLooksPerClose(): number {
    const { intervalMs, maxDurationMs, silenceTimeoutMs } = this.settings;
    return Math.ceil(Math.max(maxDurationMs, silenceTimeoutMs) / intervalMs) + 2;
  }

  /** A look closed without waiting for an idle cohort that had not reached its end: counted on the analysis and
   *  reported (vigil_looks_idle_closed_total{cohort}). */
  private countIdleClosed(
    svc: ServiceState,
    a: Analysis,
    index: number,
    idle: readonly ('baseline' | 'canary')[],
  ): void {
    const endMs = (index + 1) * this.settings.intervalMs;
    for (const c of idle) {
      if (svc.progressMs[c] >= endMs) continue;
      (a.idleClosed ??= { baseline: 0, canary: 0 })[c]++;
      this.hooks.onIdleClosed?.(c);
    }
  }

  /**
   * Runs up to `max` pending looks, oldest first (a look of an analysis decided by an earlier one is
   * dropped, as it would never have been run). A hook that throws stops the run there; the rest stays
   * queued. O(max x metrics x detector look cost).
   */
  runPending(max = Number.POSITIVE_INFINITY): void {
    try {
      for (let n = 0; n < max && this.head < this.pending.length; n++) {
        const task = this.pending[this.head]!;
        this.pending[this.head++] = undefined as unknown as LookTask; // let the batch be collected
        // not run: looks of an analysis an earlier look decided, or of a service expired meanwhile
        if (task.svc.running.get(task.a.canaryVersion) === task.a) this.runLook(task);
      }
    } finally {
      this.compact();
    }
  }

  private compact(): void {
    if (this.head === this.pending.length) {
      this.pending = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
  }

  /** One look: detectors, decision engine, silence. */
  private runLook(task: LookTask): void {
    const { svc, a, index, spans, fromMetrics } = task;
    const { intervalMs } = this.settings;
    a.baselineVersion = task.baselineVersion;
    const batch = selectEvidence('auto', spans, fromMetrics);
    mergePair(a.totals, batch);
    const own = this.metricInputs(a, spans, fromMetrics);
    a.look = index - a.startIndex + 1;
    const atUnixMs = (index + 1) * intervalMs;
    // the share the promotion plan set for this look's window (none while a change may have split it), else the config's
    const configured = this.settings.expectedCanaryShare?.(svc.name);
    const expected = a.promotion
      ? windowShare(a.promotion.shares, index * intervalMs, atUnixMs, configured)
      : configured;
    const input = {
      analysisId: a.id,
      look: a.look,
      atUnixMs,
      batch,
      totals: a.totals,
      ...(expected === undefined ? {} : { expectedCanaryShare: expected }),
    };
    a.verdicts = this.runDetectors(a, input, own);
    // a promotion plan's step gate: the same detectors on this step's looks only (step-gate.ts)
    if (a.promotion) a.stepGate = runStepGate(a.stepGate, a.promotion.epoch, this.settings, a.alphas, input, own);
    const found = withCounts(this.decideLook(task, atUnixMs), a.totals, task.late);
    // paused by an operator: the look runs and is shown; what it would have decided waits for the resume
    const decision = a.paused ? null : found;
    recordLook(
      a,
      { atUnixMs, batch, metrics: this.settings.metrics },
      {
        ...(decision ? { decided: decision.outcome } : {}),
        ...(a.paused && found ? { held: found.outcome } : {}),
      },
    );
    if (decision) {
      // what a look run at closing would have left: nothing counted after it
      a.late = task.late;
      if (a.idleClosed) a.idleClosed = { ...task.idleClosed };
      decideAnalysis(svc, a, decision);
      this.onLeaveRunning();
    } else {
      a.why = a.paused ? pausedWhy(a.paused, found) : this.whyRunning(a);
    }
    try {
      this.hooks.onLook?.({
        analysis: {
          ...snapshot(this.settings, svc, a, task.watermarkMs),
          late: task.late,
          used: usedShare(a.totals, task.late),
          idleClosedLooks: task.idleClosed,
        },
        batch,
      });
    } finally {
      if (decision) this.hooks.onDecision(decision); // a decision is never lost to a failing look listener
    }
  }

  /** Each metric's detector on the look (its own evidence source's batch and totals when not `auto`); a detector
   *  that throws gives an `error` verdict. Updates the analysis's detector states. */
  private runDetectors(a: Analysis, input: LookInput, inputs: (MetricInput | undefined)[]): MetricVerdict[] {
    return this.settings.metrics.map((m, i) => {
      const alpha = a.alphas[i] ?? 0;
      const own = inputs[i];
      try {
        const r = m.detector.look(a.states[i], own === undefined ? input : { ...input, ...own }, alpha);
        a.states[i] = r.state;
        const missing = own?.missing;
        if (missing === undefined) return { ...r.verdict, alpha, shadow: m.shadow };
        return { ...r.verdict, alpha, shadow: m.shadow, summary: `${missing}; ${r.verdict.summary}` };
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        return {
          detector: m.detector.type,
          metric: m.name,
          phase: 'error' as const,
          pValue: 1,
          samples: { baseline: a.totals.baseline.requests, canary: a.totals.canary.requests },
          summary: `detector error: ${msg}`,
          alpha,
          shadow: m.shadow,
        };
      }
    });
  }

  /** The decision engine on the look's verdicts (rollbacks counted over the storm window), or abandonment of a
   *  canary silent for `silenceTimeoutMs`; null while the analysis keeps running. */
  private decideLook(task: LookTask, atUnixMs: number): Decision | null {
    const { svc, a } = task;
    const { intervalMs } = this.settings;
    const base = {
      analysisId: a.id,
      incarnation: a.incarnation,
      service: a.service,
      canaryVersion: a.canaryVersion,
      baselineVersion: a.baselineVersion,
      look: a.look,
      atUnixMs,
      verdicts: a.verdicts,
    };
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
    // a promotion plan whose last share is not in place yet moves the share on; it promotes after its last step
    if (decision?.outcome === 'promote' && this.promotionPending(a)) decision = null;
    // A silent canary is abandoned rather than promoted: no evidence is not evidence of health.
    const silentMs = atUnixMs - task.lastCanaryMs;
    if (decision?.outcome !== 'rollback' && silentMs >= this.settings.silenceTimeoutMs) {
      decision = abandon(base, { configHash: this.settings.configHash, dryRun: this.settings.dryRun }, silentMs);
    }
    return decision;
  }

  /** Each metric's own look batch and running totals when it does not see the `auto` evidence: another source's
   *  (one per source, shared), or its indicator's (indicators.ts); undefined for the `auto` evidence. */
  private metricInputs(
    a: Analysis,
    spans: CohortPair,
    fromMetrics: CohortPair | undefined,
  ): (MetricInput | undefined)[] {
    const bySource = new Map<EvidenceSource, MetricInput>();
    return this.settings.metrics.map((m) => {
      if (m.projection !== undefined) return this.indicatorInput(a, m.name, m.projection, spans, fromMetrics);
      const source = m.source ?? 'auto';
      if (source === 'auto') return undefined;
      let out = bySource.get(source);
      if (out === undefined) {
        const batch = selectEvidence(source, spans, fromMetrics);
        const all = (a.sourceTotals ??= new Map<EvidenceSource, CohortPair>());
        let totals = all.get(source);
        if (!totals) all.set(source, (totals = emptyPair()));
        mergePair(totals, batch);
        bySource.set(source, (out = { batch, totals }));
      }
      return out;
    });
  }

  /** A metric's indicator evidence of the look, its running totals, and the note while none has ever arrived. */
  private indicatorInput(
    a: Analysis,
    name: string,
    p: Projection,
    spans: CohortPair,
    fromMetrics: CohortPair | undefined,
  ): MetricInput {
    const batch = projectLook(p, spans, fromMetrics);
    const all = (a.indicatorTotals ??= {});
    const t = (all[name] ??= { totals: emptyPair(), seen: false, emptyLooks: 0 });
    mergePair(t.totals, batch);
    if (hasEvidence(batch)) t.seen = true;
    if (t.seen) return { batch, totals: t.totals };
    t.emptyLooks++;
    if (t.emptyLooks === MISSING_INDICATOR_LOOKS)
      this.hooks.onIndicatorMissing?.({
        service: a.service,
        analysisId: a.id,
        metric: name,
        reads: p.none,
        looks: t.emptyLooks,
      });
    const missing =
      t.emptyLooks >= MISSING_INDICATOR_LOOKS ? `no ${p.none} from either cohort in ${t.emptyLooks} looks` : undefined;
    return { batch, totals: t.totals, ...(missing === undefined ? {} : { missing }) };
  }

  /** Whether the service has a promotion plan whose last share is not in place. */
  private promotionPending(a: Analysis): boolean {
    const steps = this.settings.promotionSteps?.(a.service);
    if (steps === undefined) return false;
    const at = a.promotion?.state.step ?? -1;
    return at < steps.length - 1;
  }

  private whyRunning(a: Analysis): string {
    const acting = a.verdicts.filter((v) => !v.shadow);
    if (this.promotionPending(a) && acting.length > 0 && acting.every((v) => v.phase === 'pass'))
      return "every metric's bounds exclude harm: the promotion plan moves the share on, and promotes after its last step";
    const waiting = (v: MetricVerdict): boolean =>
      v.phase === 'inconclusive' && (v.samples.canary === 0 || v.samples.baseline === 0);
    // every acting metric still without samples in a cohort; one that has evidence (a business metric of a service
    // that sends no spans) is what the analysis is looking at
    if (acting.length === 0 || acting.every(waiting)) return 'waiting for samples in both cohorts';
    const best = acting.reduce((m, v) => Math.min(m, v.pValue), 1);
    const idle = acting.filter(waiting).map((v) => v.metric);
    const note = idle.length === 0 ? '' : `; no samples in both cohorts yet for ${idle.join(', ')}`;
    return `no metric has failed yet (lowest p-value ${best.toPrecision(2)}); keeps looking every interval${note}`;
  }
}

/** Why a paused analysis is running: who paused it and why, and what its last look would have decided. */
export function pausedWhy(p: OperatorNote, would: Decision | null): string {
  const held = would ? `; its last look would have decided ${would.outcome}: ${would.reason}` : '';
  return `paused by ${p.by} (${p.reason}): nothing is decided until it is resumed${held}`;
}

/**
 * A decided analysis: records the decision on it, moves it from the service's running analyses to its decided ones
 * and counts a rollback for the storm guard (at the decision's event time). The caller accounts for the analysis
 * leaving the running ones. Shared by a look that decides and by a decision read back from the audit log.
 */
export function decideAnalysis(svc: ServiceState, a: Analysis, decision: Decision): void {
  a.phase = decision.outcome;
  a.why = decision.reason;
  a.decision = decision;
  a.open.clear();
  a.openMetrics?.clear();
  svc.running.delete(a.canaryVersion);
  svc.decided.set(a.canaryVersion, a);
  if (decision.outcome === 'rollback') svc.rollbackTimes.push(decision.eventTimeUnixMs);
}

/** A decision with the share of each cohort's requests it used and, when any arrived too late to compare, their
 *  counts (in `late` and in its reason). */
function withCounts(
  decision: Decision | null,
  totals: CohortPair,
  late: { baseline: number; canary: number },
): Decision | null {
  if (decision === null) return null;
  const used = usedShare(totals, late);
  if (late.baseline + late.canary === 0) return { ...decision, used };
  const parts = (['canary', 'baseline'] as const).filter((c) => late[c] > 0).map((c) => `${late[c]} ${c}`);
  const note = `${parts.join(' and ')} requests arrived too late to compare`;
  return { ...decision, late: { ...late }, used, reason: `${decision.reason} (${note})` };
}

/** What the API, the dashboard and the hooks see of an analysis. */
export function snapshot(
  settings: AnalysisSettings,
  svc: ServiceState,
  a: Analysis,
  watermarkMs = watermarkOf(svc, settings),
): AnalysisSnapshot {
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
    watermarkUnixMs: watermarkMs,
    totals: { baseline: cohortTotals(t.baseline), canary: cohortTotals(t.canary) },
    late: { ...a.late },
    used: usedShare(t, a.late),
    idleClosedLooks: { ...(a.idleClosed ?? NONE) },
    ...uncomparedRoutes(t),
    verdicts: a.verdicts,
    ...(a.decision ? { decisionId: a.decision.id } : {}),
    ...(a.paused ? { paused: { ...a.paused } } : {}),
    ...(a.promotion ? { promotion: promotionView(a.promotion, a.stepGate) } : {}),
  };
}

/** Routes only one cohort served in the running totals (at most the routes kept per service, plus two). */
function uncomparedRoutes(t: CohortPair): Pick<AnalysisSnapshot, 'uncomparedRoutes'> {
  const out: NonNullable<AnalysisSnapshot['uncomparedRoutes']> = [];
  const c = t.canary.routes ?? {};
  const b = t.baseline.routes ?? {};
  for (const [route, x] of Object.entries(c))
    if (x.requests > 0 && !((b[route]?.requests ?? 0) > 0)) out.push({ route, cohort: 'canary', requests: x.requests });
  for (const [route, x] of Object.entries(b))
    if (x.requests > 0 && !((c[route]?.requests ?? 0) > 0))
      out.push({ route, cohort: 'baseline', requests: x.requests });
  return out.length === 0 ? {} : { uncomparedRoutes: out };
}

/** A cohort's running totals as the API shows them (`retries` only when some attempts were folded in). */
function cohortTotals(b: CohortBatch): { requests: number; errors: number; retries?: number } {
  const out = { requests: b.requests, errors: b.errors };
  return b.retries !== undefined && b.retries > 0 ? { ...out, retries: b.retries } : out;
}

/** The share of each cohort's requests for the compared looks that the analysis used (compared / (compared +
 *  arrived too late)); null for a cohort with neither. */
export function usedShare(
  totals: CohortPair,
  late: { baseline: number; canary: number },
): { baseline: number | null; canary: number | null } {
  const share = (used: number, lost: number): number | null => (used + lost === 0 ? null : used / (used + lost));
  return {
    baseline: share(totals.baseline.requests, late.baseline),
    canary: share(totals.canary.requests, late.canary),
  };
}
