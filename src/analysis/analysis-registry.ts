/**
 * Analyses: discovery of canary/baseline pairs per service, per-look evidence, the event-time clock and
 * the look runner. Synchronous and free of wall-clock time: the clock is the watermark of each service
 * (latest span end seen minus the allowed lateness), so a live stream and a replay of the same requests
 * give the same looks, verdicts and decisions.
 *
 * Memory: per analysis, the open (not yet closed) look buckets (at most lateness/interval + 1 of them),
 * running totals and detector states; O(1) in traffic.
 */
import type { CohortBatch, CohortPair, Decision, Detector, MetricVerdict, RequestSample } from '../contracts/index.js';
import { abandon, decide, splitAlpha } from '../decide/engine.js';
import { addRequest, emptyBatch, emptyPair, mergeBatch, mergePair } from '../evidence/cohort-batch.js';

export interface MetricSetup {
  name: string;
  shadow: boolean;
  weight: number;
  detector: Detector;
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
  /** Canary version forced by a `rollouts:` entry; overrides nothing else. */
  dryRun: boolean;
  configHash: string;
  maxRollbacks: number;
  stormWindowMs: number;
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
}

export interface RegistryCounters {
  samples: number;
  unknownCohort: number;
  lateSamples: number;
  clockSkewSamples: number;
  preAnalysisSamples: number;
  /** Canary samples of a version that already has a decision (rolled back versions stay rolled back). */
  decidedVersionSamples: number;
}

interface Analysis {
  id: string;
  service: string;
  canaryVersion: string;
  baselineVersion: string;
  startIndex: number;
  lastClosedIndex: number;
  open: Map<number, CohortPair>;
  totals: CohortPair;
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
  canarySeen: Set<string>;
  running: Map<string, Analysis>;
  /** Versions with a decision: not re-analysed until resumed. */
  decided: Map<string, Analysis>;
  rollbackTimes: number[];
  unknownByVersion: Map<string, number>;
  /** Baseline increments of looks the service clock has not closed: a new analysis starts with them. */
  baselineOpen: Map<number, CohortBatch>;
  closedIndex: number;
  /** A far-ahead sample waiting for a second one to confirm that time really jumped. */
  jumpCandidateMs?: number;
}

export class AnalysisRegistry {
  readonly counters: RegistryCounters = {
    samples: 0, unknownCohort: 0, lateSamples: 0, clockSkewSamples: 0, preAnalysisSamples: 0, decidedVersionSamples: 0,
  };
  private readonly services = new Map<string, ServiceState>();
  private readonly alphas: number[];

  constructor(
    private readonly settings: AnalysisSettings,
    private readonly hooks: RegistryHooks,
  ) {
    this.alphas = splitAlpha(settings.alpha, settings.metrics);
  }

  /** Ingests the samples of one request (in order), then closes every look the watermark has passed. */
  ingest(samples: readonly RequestSample[]): void {
    const touched = new Set<ServiceState>();
    for (const s of samples) {
      this.counters.samples++;
      const svc = this.service(s.service);
      if (!this.advance(svc, s.endUnixMs)) {
        this.counters.clockSkewSamples++;
        continue;
      }
      touched.add(svc);
      this.route(svc, s);
    }
    for (const svc of touched) this.closeLooks(svc);
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
    return this.services.get(service)?.decided.delete(canaryVersion) ?? false;
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

  private service(name: string): ServiceState {
    let svc = this.services.get(name);
    if (!svc) {
      svc = { name, maxEndMs: -Infinity, canarySeen: new Set(), running: new Map(), decided: new Map(), rollbackTimes: [], unknownByVersion: new Map(), baselineOpen: new Map(), closedIndex: -Infinity };
      this.services.set(name, svc);
    }
    return svc;
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

  private route(svc: ServiceState, s: RequestSample): void {
    const version = s.version || 'unversioned';
    if (s.cohort === 'unknown') {
      this.counters.unknownCohort++;
      svc.unknownByVersion.set(version, (svc.unknownByVersion.get(version) ?? 0) + 1);
      return;
    }
    const index = Math.floor(s.endUnixMs / this.settings.intervalMs);
    if (s.cohort === 'baseline') {
      svc.baselineVersion = version;
      if (svc.running.size === 0) {
        // A canary seen before the first baseline starts its analysis now.
        for (const v of svc.canarySeen) if (!svc.decided.has(v)) this.start(svc, v, index);
      }
      if (index > svc.closedIndex) {
        let b = svc.baselineOpen.get(index);
        if (!b) svc.baselineOpen.set(index, (b = emptyBatch()));
        addRequest(b, s.durationMs, s.error);
      }
      for (const a of svc.running.values()) this.add(a, index, 'baseline', s);
      return;
    }
    if (svc.decided.has(version)) {
      this.counters.decidedVersionSamples++;
      return;
    }
    svc.canarySeen.add(version);
    let a = svc.running.get(version);
    if (!a && svc.baselineVersion !== undefined) a = this.start(svc, version, index);
    if (!a) {
      this.counters.preAnalysisSamples++;
      return;
    }
    a.lastCanaryMs = Math.max(a.lastCanaryMs, s.endUnixMs);
    this.add(a, index, 'canary', s);
  }

  private start(svc: ServiceState, canaryVersion: string, index: number): Analysis {
    const a: Analysis = {
      id: `${svc.name}:${canaryVersion}`,
      service: svc.name,
      canaryVersion,
      baselineVersion: svc.baselineVersion ?? 'unknown',
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
    svc.running.set(canaryVersion, a);
    this.hooks.onAnalysisStarted?.(this.snapshot(svc, a));
    return a;
  }

  private add(a: Analysis, index: number, cohort: 'baseline' | 'canary', s: RequestSample): void {
    if (index <= a.lastClosedIndex) {
      if (index < a.startIndex) this.counters.preAnalysisSamples++;
      else this.counters.lateSamples++;
      return;
    }
    let pair = a.open.get(index);
    if (!pair) {
      pair = emptyPair();
      a.open.set(index, pair);
    }
    addRequest(pair[cohort], s.durationMs, s.error);
  }

  private closeLooks(svc: ServiceState): void {
    const { intervalMs, allowedLatenessMs } = this.settings;
    const watermark = svc.maxEndMs - allowedLatenessMs;
    const closeUpTo = Math.floor(watermark / intervalMs) - 1;
    if (closeUpTo > svc.closedIndex) {
      svc.closedIndex = closeUpTo;
      for (const i of svc.baselineOpen.keys()) if (i <= closeUpTo) svc.baselineOpen.delete(i);
    }
    for (const a of [...svc.running.values()]) {
      if (svc.baselineVersion !== undefined) a.baselineVersion = svc.baselineVersion;
      while (a.lastClosedIndex < closeUpTo && a.phase === 'running') {
        const index = a.lastClosedIndex + 1;
        a.lastClosedIndex = index;
        const batch = a.open.get(index) ?? emptyPair();
        a.open.delete(index);
        this.runLook(svc, a, index, batch);
      }
    }
  }

  private runLook(svc: ServiceState, a: Analysis, index: number, batch: CohortPair): void {
    const { intervalMs, metrics } = this.settings;
    mergePair(a.totals, batch);
    a.look = index - a.startIndex + 1;
    const atUnixMs = (index + 1) * intervalMs;
    const expected = this.settings.expectedCanaryShare?.(svc.name);
    const input = { analysisId: a.id, look: a.look, atUnixMs, batch, totals: a.totals, ...(expected === undefined ? {} : { expectedCanaryShare: expected }) };
    a.verdicts = metrics.map((m, i) => {
      const alpha = a.alphas[i] ?? 0;
      try {
        const r = m.detector.look(a.states[i], input, alpha);
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
      svc.running.delete(a.canaryVersion);
      svc.decided.set(a.canaryVersion, a);
      if (decision.outcome === 'rollback') svc.rollbackTimes.push(atUnixMs);
    } else {
      a.why = this.whyRunning(a);
    }
    this.hooks.onLook?.({ analysis: this.snapshot(svc, a), batch });
    if (decision) this.hooks.onDecision(decision);
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
