/**
 * Analyses: discovery of canary/baseline pairs per service, per-look evidence, the event-time clock and
 * the look runner. Synchronous and free of wall-clock time: the clock is the watermark of each service
 * (latest span end seen minus the allowed lateness), so a live stream and a replay of the same requests
 * give the same looks, verdicts and decisions.
 *
 * Memory: per analysis, the open (not yet closed) look buckets (at most lateness/interval + 1 of them),
 * running totals and detector states; O(1) in traffic.
 */
import type { CohortBatch, CohortIncrement, CohortPair, Decision, Detector, MetricVerdict, RequestSample } from '../contracts/index.js';
import { abandon, decide, splitAlpha } from '../decide/engine.js';
import { addRequest, emptyBatch, emptyPair, mergeBatch, mergePair } from '../evidence/cohort-batch.js';
import type { LimitHit, LimitName, LimitSettings } from '../ingest/backpressure-limits.js';
import { DEFAULT_LIMITS, LimitGuard, upperMedian } from '../ingest/backpressure-limits.js';
import type { EvidenceSource } from './evidence-source.js';
import { batchAt, selectEvidence } from './evidence-source.js';

export interface MetricSetup {
  name: string;
  shadow: boolean;
  weight: number;
  detector: Detector;
  /** Spans, metrics, both, or auto (the default): see evidence-source.ts. */
  source?: EvidenceSource;
}

export interface AnalysisSettings {
  intervalMs: number;
  allowedLatenessMs: number;
  maxDurationMs: number;
  silenceTimeoutMs: number;
  alpha: number;
  metrics: readonly MetricSetup[];
  planFor(service: string): readonly string[];
  expectedCanaryShare?(service: string): number | undefined;
  /** Services that ship without a baseline cohort: their analysis starts with the first canary sample
   *  (comparative metrics stay inconclusive; absolute ones such as slo-guard decide). */
  baselineFree?(service: string): boolean;
  /** Canary version forced by a `rollouts:` entry; overrides nothing else. */
  dryRun: boolean;
  configHash: string;
  maxRollbacks: number;
  stormWindowMs: number;
  /** Cardinality limits and event-time expiry (defaults: DEFAULT_LIMITS). */
  limits?: Partial<LimitSettings>;
}

export type AnalysisPhase = 'running' | 'rollback' | 'promote' | 'abandoned';

export interface AnalysisSnapshot {
  id: string;
  service: string;
  canaryVersion: string;
  baselineVersion: string;
  phase: AnalysisPhase;
  /** Why it is in that phase, in one sentence. */
  why: string;
  look: number;
  startedAtUnixMs: number;
  watermarkUnixMs: number;
  totals: { baseline: { requests: number; errors: number }; canary: { requests: number; errors: number } };
  verdicts: MetricVerdict[];
  decisionId?: string;
}

export interface LookEvent {
  analysis: AnalysisSnapshot;
  batch: CohortPair;
}

export interface RegistryHooks {
  onDecision(decision: Decision): void;
  onLook?(event: LookEvent): void;
  onAnalysisStarted?(snapshot: AnalysisSnapshot): void;
  /** A limit was reached (once, until the collection is below the limit again): log it. */
  onLimitReached?(hit: LimitHit): void;
  /** Samples dropped by a limit during one ingest call (for a metric). */
  onLimitRefused?(limit: LimitName, samples: number): void;
  /** A service idle for `idleMs` (event time) was forgotten, with its running analyses. */
  onServiceExpired?(service: string, idleMs: number, runningAnalyses: number): void;
}

export interface RegistryCounters {
  samples: number;
  unknownCohort: number;
  lateSamples: number;
  clockSkewSamples: number;
  preAnalysisSamples: number;
  /** Canary samples of a version that already has a decision (rolled back versions stay rolled back). */
  decidedVersionSamples: number;
  /** Samples dropped because a limit was reached (services, analyses, versions). */
  limitedSamples: number;
  /** Services forgotten after being idle; finished analyses reduced to their outcome after the retention. */
  expiredServices: number;
  expiredAnalyses: number;
  /** Pre-aggregated increments ingested (OTLP metric deltas). */
  metricIncrements: number;
}

/** What is kept of a finished analysis after `finishedRetentionMs`: enough to keep its version decided. */
interface FinishedVersion {
  outcome: AnalysisPhase;
  decisionId: string;
}

interface Analysis {
  id: string;
  service: string;
  canaryVersion: string;
  baselineVersion: string;
  startIndex: number;
  lastClosedIndex: number;
  open: Map<number, CohortPair>;
  /** Metric-sourced increments of the open looks (created when the first one arrives). */
  openMetrics?: Map<number, CohortPair>;
  /** Totals of the `auto` evidence (what `totals` shows and `auto` detectors see). */
  totals: CohortPair;
  /** Running totals of the other evidence sources configured metrics use. */
  sourceTotals?: Map<EvidenceSource, CohortPair>;
  states: unknown[];
  alphas: number[];
  look: number;
  verdicts: MetricVerdict[];
  lastCanaryMs: number;
  phase: AnalysisPhase;
  why: string;
  decision?: Decision;
}

interface ServiceState {
  name: string;
  maxEndMs: number;
  baselineVersion?: string;
  /** Canary versions seen before any baseline (pending analyses). */
  canarySeen: Set<string>;
  running: Map<string, Analysis>;
  /** Versions with a decision: not re-analysed until resumed. */
  decided: Map<string, Analysis>;
  /** Decided versions past the retention, oldest first (at most maxVersionsPerService). */
  finished: Map<string, FinishedVersion>;
  rollbackTimes: number[];
  unknownByVersion: Map<string, number>;
  /** Baseline increments of looks the service clock has not closed: a new analysis starts with them. */
  baselineOpen: Map<number, CohortBatch>;
  /** The same for metric-sourced increments (created when the first one arrives). */
  baselineOpenMetrics?: Map<number, CohortBatch>;
  closedIndex: number;
  /** A far-ahead sample waiting for a second one to confirm that time really jumped. */
  jumpCandidateMs?: number;
}

export class AnalysisRegistry {
  readonly counters: RegistryCounters = {
    samples: 0, unknownCohort: 0, lateSamples: 0, clockSkewSamples: 0, preAnalysisSamples: 0, decidedVersionSamples: 0,
    limitedSamples: 0, expiredServices: 0, expiredAnalyses: 0, metricIncrements: 0,
  };
  private readonly services = new Map<string, ServiceState>();
  private readonly alphas: number[];
  private readonly limits: LimitSettings;
  private readonly guards: Record<'services' | 'analyses' | 'versions', LimitGuard>;
  /** Samples refused per limit during the current ingest call. */
  private readonly refusedNow = { services: 0, analyses: 0, versions: 0 };
  private runningCount = 0;
  private samplesSinceSweep = 0;

  constructor(
    private readonly settings: AnalysisSettings,
    private readonly hooks: RegistryHooks,
  ) {
    this.alphas = splitAlpha(settings.alpha, settings.metrics);
    this.limits = { ...DEFAULT_LIMITS, ...settings.limits };
    const reached = (hit: LimitHit): void => hooks.onLimitReached?.(hit);
    this.guards = {
      services: new LimitGuard('services', this.limits.maxServices, reached),
      analyses: new LimitGuard('analyses', this.limits.maxAnalyses, reached),
      versions: new LimitGuard('versions', this.limits.maxVersionsPerService, reached),
    };
  }

  /**
   * Ingests the samples of one request (in order), then closes every look the watermark has passed.
   * Every max(10000, 10 x services) samples, expires idle services and finished analyses (see `sweep`).
   */
  ingest(samples: readonly RequestSample[]): void {
    const touched = new Set<ServiceState>();
    for (const s of samples) {
      this.counters.samples++;
      const svc = this.service(s.service);
      if (svc === undefined) {
        this.refuse('services');
        continue;
      }
      if (!this.advance(svc, s.endUnixMs)) {
        this.counters.clockSkewSamples++;
        continue;
      }
      touched.add(svc);
      this.route(svc, s);
    }
    for (const svc of touched) this.closeLooks(svc);
    this.reportRefused();
    this.maybeSweep(samples.length);
  }

  /**
   * Ingests pre-aggregated increments (OTLP metric deltas) like samples: the same discovery, event clock (an
   * increment's end time) and look buckets, kept apart from span evidence (see evidence-source.ts).
   */
  ingestBatches(items: readonly CohortIncrement[]): void {
    const touched = new Set<ServiceState>();
    for (const item of items) {
      this.counters.metricIncrements++;
      const svc = this.service(item.service);
      if (svc === undefined) {
        this.refuse('services');
        continue;
      }
      if (!this.advance(svc, item.endUnixMs)) {
        this.counters.clockSkewSamples++;
        continue;
      }
      touched.add(svc);
      this.route(svc, item);
    }
    for (const svc of touched) this.closeLooks(svc);
    this.reportRefused();
    this.maybeSweep(items.length);
  }

  /**
   * Expiry, on event time only (so a replay expires exactly what the live run did):
   * - the fleet clock is the upper median of the services' clocks (one service with a skewed clock cannot
   *   make the others look idle); a service whose clock is more than `serviceIdleMs` behind it is forgotten
   *   with its analyses (a service that went away entirely never closes another look);
   * - a decided analysis whose decision is more than `finishedRetentionMs` behind its service's clock is
   *   reduced to its outcome (the version stays decided; rolled back stays rolled back), and at most
   *   `maxVersionsPerService` such outcomes are kept per service (oldest dropped first).
   * O(services log services + analyses).
   */
  sweep(): void {
    this.samplesSinceSweep = 0;
    this.doSweep();
  }

  /** Sweeps every max(10000, 10 x services) ingested items: amortised O(log services) per item. */
  private maybeSweep(items: number): void {
    this.samplesSinceSweep += items;
    if (this.samplesSinceSweep >= Math.max(10_000, 10 * this.services.size)) this.sweep();
  }

  private doSweep(): void {
    const fleetClock = upperMedian([...this.services.values()].map((s) => s.maxEndMs).filter((t) => t !== -Infinity));
    for (const [name, svc] of this.services) {
      const idleMs = fleetClock - svc.maxEndMs;
      if (idleMs > this.limits.serviceIdleMs) {
        this.services.delete(name);
        this.runningCount -= svc.running.size;
        this.counters.expiredServices++;
        this.hooks.onServiceExpired?.(name, idleMs, svc.running.size);
        continue;
      }
      for (const [version, a] of svc.decided) {
        const at = a.decision?.eventTimeUnixMs ?? -Infinity;
        if (svc.maxEndMs - at <= this.limits.finishedRetentionMs) continue;
        svc.decided.delete(version);
        svc.finished.delete(version);
        svc.finished.set(version, { outcome: a.phase, decisionId: a.decision?.id ?? a.id });
        this.counters.expiredAnalyses++;
      }
      for (const version of svc.finished.keys()) {
        if (svc.finished.size <= this.limits.maxVersionsPerService) break;
        svc.finished.delete(version);
      }
    }
  }

  /** End of input (replay): closes every look that has data, as if the lateness had passed. */
  flush(): void {
    for (const svc of this.services.values()) {
      svc.maxEndMs += this.settings.allowedLatenessMs + this.settings.intervalMs;
      this.closeLooks(svc);
    }
  }

  /** Lets a rolled-back (or otherwise decided) canary version be analysed again. */
  resume(service: string, canaryVersion: string): boolean {
    const svc = this.services.get(service);
    if (svc === undefined) return false;
    const finished = svc.finished.delete(canaryVersion);
    return svc.decided.delete(canaryVersion) || finished;
  }

  list(): AnalysisSnapshot[] {
    const out: AnalysisSnapshot[] = [];
    for (const svc of this.services.values()) {
      for (const a of svc.running.values()) out.push(this.snapshot(svc, a));
      for (const a of svc.decided.values()) out.push(this.snapshot(svc, a));
    }
    return out;
  }

  get(id: string): AnalysisSnapshot | undefined {
    return this.list().find((a) => a.id === id);
  }

  /** Services seen with versions whose cohort could not be told: visible, never compared. */
  unknownCohorts(): { service: string; version: string; samples: number }[] {
    const out: { service: string; version: string; samples: number }[] = [];
    for (const svc of this.services.values()) {
      for (const [version, samples] of svc.unknownByVersion) out.push({ service: svc.name, version, samples });
    }
    return out;
  }

  get analysisCount(): { running: number; decided: number } {
    let running = 0;
    let decided = 0;
    for (const svc of this.services.values()) {
      running += svc.running.size;
      decided += svc.decided.size;
    }
    return { running, decided };
  }

  private service(name: string): ServiceState | undefined {
    let svc = this.services.get(name);
    if (!svc) {
      if (!this.guards.services.allow(this.services.size)) return undefined;
      svc = { name, maxEndMs: -Infinity, canarySeen: new Set(), running: new Map(), decided: new Map(), finished: new Map(), rollbackTimes: [], unknownByVersion: new Map(), baselineOpen: new Map(), closedIndex: -Infinity };
      this.services.set(name, svc);
    }
    return svc;
  }

  private refuse(limit: 'services' | 'analyses' | 'versions'): void {
    this.counters.limitedSamples++;
    this.refusedNow[limit]++;
  }

  private reportRefused(): void {
    for (const limit of ['services', 'analyses', 'versions'] as const) {
      const n = this.refusedNow[limit];
      if (n === 0) continue;
      this.refusedNow[limit] = 0;
      this.hooks.onLimitRefused?.(limit, n);
    }
  }

  private isDecided(svc: ServiceState, version: string): boolean {
    return svc.decided.has(version) || svc.finished.has(version);
  }

  /**
   * Moves the service's event clock. A lone sample more than maxDuration ahead of the clock (a pod with a
   * skewed clock) is refused: it would close every look up to it at once. A second sample that confirms the
   * new time (within maxDuration of the first) is accepted: the service was idle, and time really moved.
   */
  private advance(svc: ServiceState, endMs: number): boolean {
    if (svc.maxEndMs === -Infinity) {
      svc.maxEndMs = endMs;
      return true;
    }
    if (endMs - svc.maxEndMs > this.settings.maxDurationMs) {
      const candidate = svc.jumpCandidateMs;
      if (candidate === undefined || Math.abs(endMs - candidate) > this.settings.maxDurationMs) {
        svc.jumpCandidateMs = endMs;
        return false;
      }
    }
    svc.jumpCandidateMs = undefined;
    if (endMs > svc.maxEndMs) svc.maxEndMs = endMs;
    return true;
  }

  private route(svc: ServiceState, s: RequestSample | CohortIncrement): void {
    const version = s.version || 'unversioned';
    if (s.cohort === 'unknown') {
      const n = 'batch' in s ? s.batch.requests : 1;
      this.counters.unknownCohort += n;
      const seen = svc.unknownByVersion.get(version);
      if (seen === undefined && !this.guards.versions.allow(svc.unknownByVersion.size)) return this.refuse('versions');
      svc.unknownByVersion.set(version, (seen ?? 0) + n);
      return;
    }
    const index = Math.floor(s.endUnixMs / this.settings.intervalMs);
    if (s.cohort === 'baseline') {
      svc.baselineVersion = version;
      if (svc.running.size === 0) {
        // A canary seen before the first baseline starts its analysis now.
        for (const v of svc.canarySeen) if (!this.isDecided(svc, v)) this.start(svc, v, index);
      }
      if (index > svc.closedIndex) {
        const open = 'batch' in s ? (svc.baselineOpenMetrics ??= new Map<number, CohortBatch>()) : svc.baselineOpen;
        let b = open.get(index);
        if (!b) open.set(index, (b = emptyBatch()));
        addEvidence(b, s);
      }
      for (const a of svc.running.values()) this.add(a, index, 'baseline', s);
      return;
    }
    if (this.isDecided(svc, version)) {
      this.counters.decidedVersionSamples++;
      return;
    }
    let a = svc.running.get(version);
    if (!a && (svc.baselineVersion !== undefined || this.settings.baselineFree?.(svc.name) === true)) {
      if (!this.guards.versions.allow(svc.running.size)) return this.refuse('versions');
      a = this.start(svc, version, index);
      if (!a) return this.refuse('analyses');
    }
    if (!a) {
      // no baseline yet: remember the version (pending), its analysis starts with the first baseline sample
      if (!svc.canarySeen.has(version)) {
        if (!this.guards.versions.allow(svc.canarySeen.size)) return this.refuse('versions');
        svc.canarySeen.add(version);
      }
      this.counters.preAnalysisSamples++;
      return;
    }
    a.lastCanaryMs = Math.max(a.lastCanaryMs, s.endUnixMs);
    this.add(a, index, 'canary', s);
  }

  /** Starts an analysis, or returns undefined when `maxAnalyses` are running. */
  private start(svc: ServiceState, canaryVersion: string, index: number): Analysis | undefined {
    if (!this.guards.analyses.allow(this.runningCount)) return undefined;
    this.runningCount++;
    svc.canarySeen.delete(canaryVersion);
    const a: Analysis = {
      id: `${svc.name}:${canaryVersion}`,
      service: svc.name,
      canaryVersion,
      baselineVersion: svc.baselineVersion ?? (this.settings.baselineFree?.(svc.name) ? 'none' : 'unknown'),
      startIndex: index,
      lastClosedIndex: index - 1,
      open: new Map(),
      totals: emptyPair(),
      states: this.settings.metrics.map((m) => m.detector.init()),
      alphas: this.alphas,
      look: 0,
      verdicts: [],
      lastCanaryMs: index * this.settings.intervalMs,
      phase: 'running',
      why: 'collecting evidence: both cohorts seen',
    };
    for (const [i, b] of svc.baselineOpen) {
      if (i < index) continue;
      const pair = emptyPair();
      mergeBatch(pair.baseline, b);
      a.open.set(i, pair);
    }
    for (const [i, b] of svc.baselineOpenMetrics ?? []) {
      if (i >= index) mergeBatch(batchAt((a.openMetrics ??= new Map<number, CohortPair>()), i, 'baseline'), b);
    }
    svc.running.set(canaryVersion, a);
    this.hooks.onAnalysisStarted?.(this.snapshot(svc, a));
    return a;
  }

  private add(a: Analysis, index: number, cohort: 'baseline' | 'canary', s: RequestSample | CohortIncrement): void {
    if (index <= a.lastClosedIndex) {
      if (index < a.startIndex) this.counters.preAnalysisSamples++;
      else this.counters.lateSamples++;
      return;
    }
    addEvidence(batchAt('batch' in s ? (a.openMetrics ??= new Map<number, CohortPair>()) : a.open, index, cohort), s);
  }

  private closeLooks(svc: ServiceState): void {
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
        this.runLook(svc, a, index, batch, fromMetrics);
      }
    }
  }

  private runLook(svc: ServiceState, a: Analysis, index: number, spans: CohortPair, fromMetrics: CohortPair | undefined): void {
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
      this.runningCount--;
      svc.decided.set(a.canaryVersion, a);
      if (decision.outcome === 'rollback') svc.rollbackTimes.push(atUnixMs);
    } else {
      a.why = this.whyRunning(a);
    }
    this.hooks.onLook?.({ analysis: this.snapshot(svc, a), batch });
    if (decision) this.hooks.onDecision(decision);
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

  private snapshot(svc: ServiceState, a: Analysis): AnalysisSnapshot {
    const t = a.totals;
    return {
      id: a.id,
      service: a.service,
      canaryVersion: a.canaryVersion,
      baselineVersion: a.baselineVersion,
      phase: a.phase,
      why: a.why,
      look: a.look,
      startedAtUnixMs: a.startIndex * this.settings.intervalMs,
      watermarkUnixMs: svc.maxEndMs - this.settings.allowedLatenessMs,
      totals: {
        baseline: { requests: t.baseline.requests, errors: t.baseline.errors },
        canary: { requests: t.canary.requests, errors: t.canary.errors },
      },
      verdicts: a.verdicts,
      ...(a.decision ? { decisionId: a.decision.id } : {}),
    };
  }
}

/** Adds one request sample, or merges a pre-aggregated increment, into a cohort's batch. */
function addEvidence(b: CohortBatch, s: RequestSample | CohortIncrement): void {
  if ('batch' in s) mergeBatch(b, s.batch);
  else addRequest(b, s.durationMs, s.error);
}
