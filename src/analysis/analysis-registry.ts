/**
 * Analyses: discovery of canary/baseline pairs per service, per-look evidence buckets and the event-time
 * clock. Synchronous and free of wall-clock time: the clock is the watermark of each service, per source
 * (the lowest progress of its active cohorts minus the allowed lateness, see event-clock.ts), so a live
 * stream and a replay of the same requests give the same looks, verdicts and decisions. Looks are run by
 * look-runner.ts, expiry is expiry.ts, the types are in analysis-types.ts (re-exported here).
 *
 * Memory: per analysis, the open (not yet closed) look buckets (those between the slowest active source and
 * the most advanced one), running totals and detector states; per service, the baseline buckets of the looks
 * within the baseline history (31 with the defaults, see open-buckets.ts) and four clock numbers; O(1) in
 * traffic.
 *
 * Services on probation: a new service is on probation until it has sent `limits.serviceProbation` requests or
 * an analysis of it starts. When `maxServices` are tracked, a new service takes the place of the least recently
 * active service on probation (arrival order: deterministic), so a flood of one-off service names (a request id
 * in service.name, a scan) cannot lock real services out until it expires; services past probation, and so every
 * service with a running or decided analysis, are never evicted. Services on probation do not move the fleet
 * clock of expiry either (see expiry.ts).
 *
 * Requests, not attempts (analysis.requestUnit `trace`, the default): the request spans of one trace, service and
 * cohort that end in the same look are ONE request (open-traces.ts, `routeAttempt`). The grouping sits here, after
 * the gates a span may fail (future, service limit, clock skew), so a request it takes back was counted, and every
 * consumer of samples (agent, replay, backtest) groups alike. What counts requests: the evidence, late and
 * pre-analysis requests, decided-version requests; what counts spans: `samples`, refusals (future, too old,
 * limits), unknown-cohort samples (never compared, not grouped), probation.
 */
import type { CohortBatch, CohortIncrement, CohortPair, Decision, RequestSample } from '../contracts/index.js';
import { splitAlpha } from '../decide/engine.js';
import { emptyPair, mergeBatch } from '../evidence/cohort-batch.js';
import type { LimitHit, LimitSettings } from '../limits/limits.js';
import { DEFAULT_LIMITS, LimitGuard, ProbationList } from '../limits/limits.js';
import type {
  Analysis,
  AnalysisSettings,
  AnalysisSnapshot,
  LookPoint,
  OperatorNote,
  RegistryCounters,
  IngestRefusals,
  RegistryHooks,
  RegistryState,
  RestoredState,
  ServiceChunk,
  ServiceState,
} from './analysis-types.js';
import { DEFAULT_MAX_CLOCK_SKEW_MS, DEFAULT_MAX_ROUTES } from './analysis-types.js';
import { advanceAllPastEnd, progress, watermarkOf } from './event-clock.js';
import {
  addEvidence,
  bucket,
  keepPendingCanary,
  pruneBehindHorizon,
  routeKey,
  takePendingCanary,
} from './open-buckets.js';
import { batchAt } from './evidence-source.js';
import { expire } from './expiry.js';
import { lookPoints } from './look-history.js';
import { decideAnalysis, LookRunner, snapshot } from './look-runner.js';
import { isRefusal, manualDecision, pauseAnalysis, reconcilePause, unpauseAnalysis, type Refusal } from './manual.js';
import type { PromotionRecord } from './promotion.js';
export type { Refusal } from './manual.js';
import { OpenTraces, requestKey, type CountedRequest } from './open-traces.js';

export type {
  AnalysisPhase,
  AnalysisSettings,
  AnalysisSnapshot,
  LookEvent,
  LookMetricPoint,
  LookPoint,
  MetricSetup,
  OperatorNote,
  RegistryCounters,
  RegistryHooks,
  RegistryState,
  RestoredState,
  ServiceChunk,
  IngestRefusals,
} from './analysis-types.js';

/** A request the grouping counted, as a sample of the service and cohort of `s` (one object shape: routing stays
 *  monomorphic). */
function requestOf(s: RequestSample, r: CountedRequest): RequestSample {
  const request: RequestSample = {
    service: s.service,
    route: r.route,
    version: r.version,
    cohort: s.cohort,
    endUnixMs: r.endUnixMs,
    durationMs: r.durationMs,
    error: r.error,
    spanKey: undefined,
    traceKey: s.traceKey,
    retries: r.retries,
  };
  if (r.indicators !== undefined) request.indicators = r.indicators;
  return request;
}

export class AnalysisRegistry {
  readonly counters: RegistryCounters = {
    samples: 0,
    unknownCohort: 0,
    lateSamples: 0,
    idleClosedLooks: 0,
    skippedLooks: 0,
    clockSkewSamples: 0,
    futureSamples: 0,
    tooOldSamples: 0,
    preAnalysisSamples: 0,
    decidedVersionSamples: 0,
    limitedSamples: 0,
    expiredServices: 0,
    evictedServices: 0,
    expiredAnalyses: 0,
    metricIncrements: 0,
    retriedAttempts: 0,
    evictedOpenTraces: 0,
  };
  private readonly services = new Map<string, ServiceState>();
  /** Services on probation, least recently active first (see the top of this file). */
  private readonly probation = new ProbationList<ServiceState>();
  private readonly alphas: number[];
  private readonly limits: LimitSettings;
  /** Route strata per service (0: not stratified). */
  private readonly maxRoutes: number;
  private readonly guards: Record<'services' | 'analyses' | 'versions', LimitGuard>;
  /** Samples refused per limit during the current ingest call. */
  private readonly refusedNow = { services: 0, analyses: 0, versions: 0 };
  /** Late requests per cohort during the current ingest call. */
  private readonly lateNow = { baseline: 0, canary: 0 };
  /** Services on probation evicted since the last report. */
  private evictedNow = 0;
  private runningCount = 0;
  private samplesSinceSweep = 0;
  /** Bumped by everything that changes the state (a checkpoint is only taken when it moved). */
  private changeCount = 0;
  private readonly looks: LookRunner;
  /** The request grouping's table (undefined with requestUnit `span`). */
  private readonly traces: OpenTraces | undefined;
  private nextUid = 1;
  /** Attempts folded into earlier ones per cohort during the current ingest call. */
  private readonly retriesNow = { baseline: 0, canary: 0 };

  /**
   * With `deferLooks`, looks closed by `ingest` are queued for `runPendingLooks` (the agent runs them in
   * time slices between requests); without it (replay, backtest) they run inside `ingest`. Same looks and
   * decisions either way (see look-runner.ts).
   */
  constructor(
    private readonly settings: AnalysisSettings,
    private readonly hooks: RegistryHooks,
    private readonly options: { deferLooks?: boolean } = {},
  ) {
    this.alphas = splitAlpha(settings.alpha, settings.metrics);
    this.limits = { ...DEFAULT_LIMITS, ...settings.limits };
    this.maxRoutes = settings.maxRoutesPerService ?? DEFAULT_MAX_ROUTES;
    const reached = (hit: LimitHit): void => hooks.onLimitReached?.(hit);
    this.guards = {
      services: new LimitGuard('services', this.limits.maxServices, reached),
      analyses: new LimitGuard('analyses', this.limits.maxAnalyses, reached),
      versions: new LimitGuard('versions', this.limits.maxVersionsPerService, reached),
    };
    const countIdle = (cohort: 'baseline' | 'canary'): void => {
      this.counters.idleClosedLooks++;
      hooks.onIdleClosed?.(cohort);
    };
    const countSkipped = (looks: number): void => {
      this.counters.skippedLooks += looks;
      hooks.onLooksSkipped?.(looks);
    };
    this.looks = new LookRunner(
      settings,
      { ...hooks, onIdleClosed: countIdle, onLooksSkipped: countSkipped },
      () => this.runningCount--,
    );
    this.traces = settings.requestUnit === 'span' ? undefined : new OpenTraces(this.limits.maxOpenTraces);
  }

  /** Requests remembered by the request grouping now (0 with requestUnit `span`). */
  get openTraces(): number {
    return this.traces?.size ?? 0;
  }

  /** Bytes the request grouping holds now (O(services + looks open); for the benchmark). */
  get openTracesBytes(): number {
    return this.traces?.bytes ?? 0;
  }

  /**
   * Ingests the samples of one request (in order), then closes every look the watermark has passed.
   * Every max(10000, 10 x services) samples, expires idle services and finished analyses (see `sweep`).
   */
  ingest(samples: readonly RequestSample[], receivedAtMs?: number): IngestRefusals {
    this.counters.samples += samples.length;
    return this.ingestItems(samples, receivedAtMs);
  }

  /**
   * Ingests pre-aggregated increments (OTLP metric deltas) like samples: the same discovery, event clock (an
   * increment's end time) and look buckets, kept apart from span evidence (see evidence-source.ts).
   */
  ingestBatches(items: readonly CohortIncrement[], receivedAtMs?: number): IngestRefusals {
    this.counters.metricIncrements += items.length;
    return this.ingestItems(items, receivedAtMs);
  }

  /**
   * With `receivedAtMs` (the agent; a replay has none): a sample ending more than `maxClockSkewMs` after it was
   * received is refused (a sender cannot move the clocks to the future), and the clocks move at most to the receive
   * time (a sample a little ahead counts in its look, but closes no look early). A sample behind every look its
   * service keeps is counted as refused too (tooOld), after being routed as before (late or pre-analysis).
   */
  private ingestItems(items: readonly (RequestSample | CohortIncrement)[], receivedAtMs?: number): IngestRefusals {
    this.changeCount++;
    const refused: IngestRefusals = { future: 0, tooOld: 0 };
    const latest =
      receivedAtMs === undefined
        ? Infinity
        : receivedAtMs + (this.settings.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS);
    const clockCap = receivedAtMs ?? Infinity;
    const touched = new Set<ServiceState>();
    for (const item of items) {
      if (item.endUnixMs > latest) {
        // refused before anything is created for it: a flood of future-dated fake services costs nothing
        this.counters.futureSamples++;
        refused.future++;
        const known = this.services.get(item.service);
        if (known) (known.refused ??= { future: 0, tooOld: 0 }).future++;
        continue;
      }
      const svc = this.service(item.service);
      if (svc === undefined) {
        this.refuse('services');
        continue;
      }
      if (svc.probation !== undefined) this.onProbation(svc, 'batch' in item ? item.batch.requests : 1);
      const clockMs = Math.min(item.endUnixMs, clockCap);
      if (!this.advance(svc, clockMs)) {
        this.counters.clockSkewSamples++;
        continue;
      }
      touched.add(svc);
      if (item.cohort !== 'unknown') progress(svc, item.cohort, clockMs);
      if (Math.floor(item.endUnixMs / this.settings.intervalMs) <= svc.closedIndex) {
        this.counters.tooOldSamples++;
        refused.tooOld++;
        (svc.refused ??= { future: 0, tooOld: 0 }).tooOld++;
      }
      if (this.traces !== undefined && !('batch' in item) && item.traceKey !== undefined && item.cohort !== 'unknown')
        this.routeAttempt(svc, item, item.traceKey, this.traces);
      else this.route(svc, item);
    }
    for (const svc of touched) {
      this.counters.preAnalysisSamples += pruneBehindHorizon(svc, this.settings);
      this.looks.closeLooks(svc);
      this.noteClosedLooks(svc);
    }
    if (this.options.deferLooks !== true) this.runPendingLooks();
    this.reportRefused();
    this.maybeSweep(items.length);
    return refused;
  }

  /** Expires idle services and finished analyses now (event time only; see expiry.ts). */
  sweep(): void {
    this.samplesSinceSweep = 0;
    this.runningCount -= expire(this.services, this.limits, this.counters, this.hooks);
    for (const name of [...this.probation.keys()]) if (!this.services.has(name)) this.probation.delete(name);
    if (this.traces !== undefined) {
      const live = new Set<number | undefined>();
      for (const svc of this.services.values()) live.add(svc.uid);
      this.traces.retain((uid) => live.has(uid));
    }
  }

  /** Sweeps every max(10000, 10 x services) ingested items: amortised O(log services) per item. */
  private maybeSweep(items: number): void {
    this.samplesSinceSweep += items;
    if (this.samplesSinceSweep >= Math.max(10_000, 10 * this.services.size)) this.sweep();
  }

  /** End of input (replay): closes every look that has data, as if the lateness had passed, and runs them. */
  flush(): void {
    for (const svc of this.services.values()) {
      advanceAllPastEnd(svc, this.settings);
      this.looks.closeLooks(svc);
      this.noteClosedLooks(svc);
    }
    this.runPendingLooks();
  }

  /** Looks closed and not yet run (always 0 without `deferLooks`, outside `ingest`). */
  get pendingLooks(): number {
    return this.looks.pendingCount;
  }

  /** Runs up to `max` closed looks, oldest first (all of them by default). */
  runPendingLooks(max = Number.POSITIVE_INFINITY): void {
    if (this.looks.pendingCount > 0) this.changeCount++;
    this.looks.runPending(max);
  }

  /** A number that moves whenever the state changes (ingest, looks run, resume, restore). */
  get changes(): number {
    return this.changeCount;
  }

  /**
   * Everything the registry knows, as objects that reference its live ones: serialise it at once (node:v8
   * `serialize` keeps the shared references, Maps, Sets and -Infinity) and do not keep it. A checkpoint that
   * must not block the event loop serialises `exportService` chunks between turns instead.
   */
  exportState(): RegistryState {
    const pending = this.looks.pendingByService();
    return {
      ...this.exportHeader(),
      services: [...this.services.values()].map((service) => ({ service, pendingLooks: pending.get(service) ?? [] })),
    };
  }

  /** What a checkpoint holds besides the services: the analysis config's hash and the counters (live: copy or
   *  serialise at once). */
  exportHeader(): Pick<RegistryState, 'analysisHash' | 'counters'> {
    return { analysisHash: this.settings.analysisHash, counters: this.counters };
  }

  /** Whether the service is tracked now (not refused, evicted or expired). */
  hasService(name: string): boolean {
    return this.services.has(name);
  }

  /** The services' names now (a checkpoint serialises them one `exportService` at a time). */
  serviceNames(): string[] {
    return [...this.services.keys()];
  }

  /** One service and its looks closed and not yet run, as they are now (undefined once it expired). Serialise at
   *  once; `pending` (from `pendingByService`) may be shared by the calls of one turn of the event loop. */
  exportService(
    name: string,
    pending: ReadonlyMap<ServiceState, readonly unknown[]> = this.looks.pendingByService(),
  ): ServiceChunk | undefined {
    const service = this.services.get(name);
    return service && { service, pendingLooks: pending.get(service) ?? [] };
  }

  /** The looks closed and not yet run, per service, now. */
  pendingByService(): ReadonlyMap<ServiceState, readonly unknown[]> {
    return this.looks.pendingByService();
  }

  /**
   * Replaces the state with one `exportState` gave (deserialised): analyses continue their evidence, looks and
   * incarnations; decided versions stay decided. A state taken under another `analysisHash` (the analysis config
   * changed) keeps the decided versions, resume records and clocks, and drops the running analyses (they start
   * over with the next samples) and the looks waiting to run.
   */
  importState(state: RegistryState): RestoredState {
    const compatible = state.analysisHash === this.settings.analysisHash;
    const out: RestoredState = { services: 0, running: 0, decided: 0, restarted: 0 };
    this.services.clear();
    this.probation.clear();
    // the open traces are not checkpointed: later attempts of requests counted before count as new requests
    this.traces?.clear();
    const tasks: unknown[] = [];
    for (const { service: svc, pendingLooks } of state.services) {
      if (compatible) tasks.push(...pendingLooks);
      if (!compatible) {
        out.restarted += svc.running.size;
        svc.running.clear();
      }
      for (const a of svc.running.values()) a.alphas = this.alphas;
      out.running += svc.running.size;
      out.decided += svc.decided.size + svc.finished.size;
      this.services.set(svc.name, svc);
      this.giveUid(svc);
      if (svc.running.size > 0 || svc.decided.size > 0 || svc.finished.size > 0) svc.probation = undefined;
      if (svc.probation !== undefined) this.probation.touch(svc.name, svc);
    }
    out.services = this.services.size;
    Object.assign(this.counters, state.counters);
    this.runningCount = out.running;
    this.looks.importPending(tasks);
    this.changeCount++;
    return out;
  }

  /**
   * Adds one service as `exportService` gave it (deserialised, from another replica's checkpoint: issue 14), replacing
   * what this registry had of it; its closed looks go behind the queue. A chunk taken under another `analysisHash`
   * keeps its decided versions, resume records and clocks and drops its running analyses (as `importState`).
   */
  importService(chunk: ServiceChunk, analysisHash: string | undefined): RestoredState {
    this.dropService(chunk.service.name);
    const svc = chunk.service;
    const out: RestoredState = { services: 1, running: 0, decided: 0, restarted: 0 };
    if (analysisHash !== this.settings.analysisHash) {
      out.restarted = svc.running.size;
      svc.running.clear();
    } else this.looks.addPending(chunk.pendingLooks);
    for (const a of svc.running.values()) a.alphas = this.alphas;
    out.running = svc.running.size;
    out.decided = svc.decided.size + svc.finished.size;
    this.services.set(svc.name, svc);
    this.giveUid(svc);
    if (svc.running.size > 0 || svc.decided.size > 0 || svc.finished.size > 0) svc.probation = undefined;
    if (svc.probation !== undefined) this.probation.touch(svc.name, svc);
    this.runningCount += out.running;
    this.changeCount++;
    return out;
  }

  /** The incarnation a new analysis of this version gets (its resumes so far). */
  incarnation(service: string, canaryVersion: string): number {
    return this.services.get(service)?.resumes?.get(canaryVersion) ?? 0;
  }

  /**
   * Forgets a service at once (another replica owns it now: issue 14): its analyses, open looks, closed looks not
   * yet run and grouped requests. Nothing is decided for it. Returns false when it was not tracked.
   */
  dropService(name: string): boolean {
    const svc = this.services.get(name);
    if (svc === undefined) return false;
    this.services.delete(name);
    this.probation.delete(name);
    if (svc.uid !== undefined) this.traces?.forget(svc.uid);
    this.looks.dropPending(svc);
    this.runningCount -= svc.running.size;
    this.changeCount++;
    return true;
  }

  /**
   * A decision the state does not know yet (recorded in the audit log after the last checkpoint): its version is
   * decided, as if the look had run here. The running analysis it decided leaves the running ones; without one,
   * the version is remembered as finished. Returns false when the version already has a decision.
   */
  markDecided(decision: Decision): boolean {
    const svc = this.service(decision.service);
    if (svc === undefined || this.isDecided(svc, decision.canaryVersion)) return false;
    const a = svc.running.get(decision.canaryVersion);
    // an analysis that started after the decision's look is a later incarnation (its resume was not read back)
    if (a !== undefined && a.startIndex * this.settings.intervalMs >= decision.eventTimeUnixMs) return false;
    this.changeCount++;
    this.endProbation(svc);
    if (a !== undefined) this.runningCount--;
    if (a !== undefined && a.id === decision.analysis) {
      decideAnalysis(svc, a, decision);
      return true;
    }
    if (decision.outcome === 'rollback') svc.rollbackTimes.push(decision.eventTimeUnixMs);
    svc.running.delete(decision.canaryVersion);
    svc.finished.set(decision.canaryVersion, { outcome: decision.outcome, decisionId: decision.id });
    return true;
  }

  /** Resumes recorded in the audit log after the last checkpoint: brings the version's resume count up to
   *  `resumes` (a decided version becomes analysable again). Returns false when the state already had them. */
  resumeTo(service: string, canaryVersion: string, resumes: number): boolean {
    const svc = this.services.get(service);
    if (svc === undefined || (svc.resumes?.get(canaryVersion) ?? 0) >= resumes) return false;
    this.changeCount++;
    svc.decided.delete(canaryVersion);
    svc.finished.delete(canaryVersion);
    (svc.resumes ??= new Map()).set(canaryVersion, resumes);
    return true;
  }

  /** Whether the version was resumed and has had no analysis since (no running, decided or finished one here). */
  awaitsNewAnalysis(service: string, canaryVersion: string): boolean {
    const svc = this.services.get(service);
    if (svc === undefined || (svc.resumes?.get(canaryVersion) ?? 0) === 0) return false;
    return !svc.running.has(canaryVersion) && !this.isDecided(svc, canaryVersion);
  }

  /** Lets a rolled-back (or otherwise decided) canary version be analysed again. */
  resume(service: string, canaryVersion: string): boolean {
    const svc = this.services.get(service);
    if (svc === undefined) return false;
    const finished = svc.finished.delete(canaryVersion);
    const resumed = svc.decided.delete(canaryVersion) || finished;
    if (resumed) this.changeCount++;
    if (resumed) (svc.resumes ??= new Map()).set(canaryVersion, (svc.resumes.get(canaryVersion) ?? 0) + 1);
    return resumed;
  }

  /** The analysis with this id, running or decided, and its service. */
  private find(id: string): { svc: ServiceState; a: Analysis } | undefined {
    for (const svc of this.services.values()) {
      for (const a of svc.running.values()) if (a.id === id) return { svc, a };
      for (const a of svc.decided.values()) if (a.id === id) return { svc, a };
    }
    return undefined;
  }

  /** Its looks so far (oldest first; at most MAX_LOOK_HISTORY), or undefined for an unknown id. */
  history(id: string): LookPoint[] | undefined {
    const found = this.find(id);
    return found ? lookPoints(found.a.history) : undefined;
  }

  /**
   * An operator's action on an analysis (manual.ts): `pause`, `unpause`, or a decision by hand (`rollback`,
   * `promote`: decided here and handed to `onDecision` like a look's decision). undefined: no such analysis here.
   */
  operate(
    id: string,
    action: 'pause' | 'unpause' | 'rollback' | 'promote',
    note: OperatorNote,
  ): { changed: boolean; decision?: Decision; analysis: AnalysisSnapshot } | Refusal | undefined {
    const found = this.find(id);
    if (found === undefined) return undefined;
    const { svc, a } = found;
    const done = (changed: boolean, decision?: Decision) => {
      if (changed) this.changeCount++;
      return { changed, ...(decision ? { decision } : {}), analysis: snapshot(this.settings, svc, a) };
    };
    if (action === 'pause' || action === 'unpause') {
      const r = action === 'pause' ? pauseAnalysis(a, note) : unpauseAnalysis(a, note);
      return isRefusal(r) ? r : done(r.changed);
    }
    const decision = manualDecision(this.settings, svc, a, action, note);
    if (isRefusal(decision)) return decision;
    delete a.paused;
    decideAnalysis(svc, a, decision);
    this.runningCount--;
    const out = done(true, decision);
    this.hooks.onDecision(decision);
    return out;
  }

  /** A running analysis' promotion record (promotion.ts), or undefined (no such running analysis, or no plan yet). */
  promotion(id: string): Readonly<PromotionRecord> | undefined {
    const found = this.find(id);
    return found?.a.phase === 'running' ? found.a.promotion : undefined;
  }

  /**
   * Keeps a running analysis' promotion record (the promoter's, after each look and each share set). With `share`:
   * the share in place now, set after the look numbered `afterLook` (a ShareSpan: certain from the service's latest
   * event time plus the allowed lateness). false: no such running analysis here.
   */
  keepPromotion(id: string, record: PromotionRecord, share?: { percent: number; afterLook: number }): boolean {
    const found = this.find(id);
    if (found === undefined || found.a.phase !== 'running') return false;
    const { svc, a } = found;
    const { intervalMs, allowedLatenessMs } = this.settings;
    const shares = [...record.shares];
    if (share !== undefined) {
      const afterUnixMs = (a.startIndex + share.afterLook) * intervalMs;
      const fromUnixMs = Math.max(afterUnixMs, svc.maxEndMs + allowedLatenessMs);
      shares.push({ percent: share.percent, afterUnixMs, fromUnixMs });
    }
    a.promotion = { ...record, shares };
    this.changeCount++;
    return true;
  }

  /** A pause or unpause the audit log recorded after the last checkpoint (see manual.ts `reconcilePause`). */
  pauseTo(id: string, last: { paused: OperatorNote | undefined; atUnixMs: number }): boolean {
    const found = this.find(id);
    const changed = found !== undefined && reconcilePause(found.a, last);
    if (changed) this.changeCount++;
    return changed;
  }

  list(): AnalysisSnapshot[] {
    const out: AnalysisSnapshot[] = [];
    for (const svc of this.services.values()) {
      for (const a of svc.running.values()) out.push(snapshot(this.settings, svc, a));
      for (const a of svc.decided.values()) out.push(snapshot(this.settings, svc, a));
    }
    return out;
  }

  get(id: string): AnalysisSnapshot | undefined {
    return this.list().find((a) => a.id === id);
  }

  /** Services with samples refused (too far in the future, or too old to compare), with their counts. */
  refusedByService(): ({ service: string } & IngestRefusals)[] {
    const out: ({ service: string } & IngestRefusals)[] = [];
    for (const svc of this.services.values()) if (svc.refused) out.push({ service: svc.name, ...svc.refused });
    return out;
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
      if (this.services.size >= this.limits.maxServices) this.evictOnProbation();
      if (!this.guards.services.allow(this.services.size)) return undefined;
      svc = {
        name,
        maxEndMs: -Infinity,
        progressMs: { baseline: -Infinity, canary: -Infinity },
        movedAtMs: { baseline: -Infinity, canary: -Infinity },
        canarySeen: new Set(),
        running: new Map(),
        decided: new Map(),
        finished: new Map(),
        rollbackTimes: [],
        unknownByVersion: new Map(),
        baselineOpen: new Map(),
        closedIndex: -Infinity,
        probation: this.limits.serviceProbation > 0 ? 0 : undefined,
        lastClosedLook: -Infinity,
        uid: 0,
      };
      this.giveUid(svc);
      this.services.set(name, svc);
      if (svc.probation !== undefined) this.probation.touch(name, svc);
    }
    return svc;
  }

  /** A service on probation sent `requests` more: it is the most recently active, or past its probation. */
  private onProbation(svc: ServiceState, requests: number): void {
    const seen = (svc.probation ?? 0) + requests;
    if (seen >= this.limits.serviceProbation) this.endProbation(svc);
    else {
      svc.probation = seen;
      this.probation.touch(svc.name, svc);
    }
  }

  private endProbation(svc: ServiceState): void {
    if (svc.probation === undefined) return;
    svc.probation = undefined; // not `delete`: the object keeps its shape (fast property access)
    this.probation.delete(svc.name);
  }

  /** Forgets the least recently active service on probation (it has no analysis), if any. O(1). */
  private evictOnProbation(): void {
    for (let oldest = this.probation.oldest(); oldest !== undefined; oldest = this.probation.oldest()) {
      const [name, svc] = oldest;
      if (svc.running.size > 0 || svc.decided.size > 0 || svc.finished.size > 0) {
        this.endProbation(svc); // not reached: an analysis ends the probation
        continue;
      }
      this.probation.delete(name);
      this.services.delete(name);
      if (svc.uid !== undefined) this.traces?.forget(svc.uid);
      this.counters.evictedServices++;
      this.evictedNow++;
      this.changeCount++;
      return;
    }
  }

  private refuse(limit: 'services' | 'analyses' | 'versions'): void {
    this.counters.limitedSamples++;
    this.refusedNow[limit]++;
  }

  private reportRefused(): void {
    if (this.evictedNow > 0) {
      this.hooks.onLimitEvicted?.('services', this.evictedNow);
      this.evictedNow = 0;
    }
    const evictedTraces = this.traces?.takeEvicted() ?? 0;
    if (evictedTraces > 0) {
      this.counters.evictedOpenTraces += evictedTraces;
      this.hooks.onLimitEvicted?.('open-traces', evictedTraces);
    }
    for (const limit of ['services', 'analyses', 'versions'] as const) {
      const n = this.refusedNow[limit];
      if (n === 0) continue;
      this.refusedNow[limit] = 0;
      this.hooks.onLimitRefused?.(limit, n);
    }
    for (const cohort of ['baseline', 'canary'] as const) {
      // net of the requests the grouping took back: below 0 only when a retry moved a request between analyses
      const n = this.lateNow[cohort];
      this.lateNow[cohort] = 0;
      if (n > 0) this.hooks.onLate?.(cohort, n);
      const r = this.retriesNow[cohort];
      this.retriesNow[cohort] = 0;
      if (r > 0) this.hooks.onRetries?.(cohort, r);
    }
  }

  private giveUid(svc: ServiceState): number {
    const uid = this.nextUid++;
    svc.uid = uid;
    return uid;
  }

  /** Remembers the last look the service's watermark has closed (as the look runner just closed them), and forgets
   *  the requests of those looks. */
  private noteClosedLooks(svc: ServiceState): void {
    if (this.traces === undefined) return;
    const closed = Math.floor(watermarkOf(svc, this.settings) / this.settings.intervalMs) - 1;
    if (closed <= (svc.lastClosedLook ?? -Infinity)) return;
    svc.lastClosedLook = closed;
    if (svc.uid !== undefined) this.traces.closeUpTo(svc.uid, closed);
  }

  /**
   * Routes one attempt of a request (a request span with a trace key, of a compared cohort) through the open
   * traces: the first attempt of its trace for this service and cohort in its look is counted as a request and
   * remembered; a later one in the same look, while that look is open, replaces the counted request by the merged
   * one (the counted one is routed again with weight -1, then the merged one: both under the current state, so
   * every counter nets to one request); one in another look is a new request, and one for a look already closed
   * (at the end of the last ingest call) counts as a late request of its own: the closed look keeps the request as
   * its earlier attempts showed it. O(1) expected.
   */
  private routeAttempt(svc: ServiceState, s: RequestSample, traceKey: number, traces: OpenTraces): void {
    const look = Math.floor(s.endUnixMs / this.settings.intervalMs);
    if (look <= (svc.lastClosedLook ?? -Infinity)) {
      this.route(svc, s); // its look has closed: a late request of its own
      return;
    }
    const uid = svc.uid ?? this.giveUid(svc);
    const canary = s.cohort === 'canary';
    const key = requestKey(traceKey, canary);
    const b = traces.bucket(uid, look);
    const p = b === undefined ? -1 : b.find(key);
    if (b !== undefined && p >= 0) {
      this.route(svc, requestOf(s, b.counted(p)), -1);
      const attempts = 1 + (s.retries ?? 0);
      const merged = b.merge(p, s.endUnixMs, s.durationMs, s.error, s.route, s.version, attempts, s.indicators);
      this.route(svc, requestOf(s, merged));
      this.counters.retriedAttempts += attempts;
      this.retriesNow[canary ? 'canary' : 'baseline'] += attempts;
      return;
    }
    traces.add(uid, look, key, s.endUnixMs, s.durationMs, s.error, s.retries ?? 0, s.route, s.version, s.indicators);
    this.route(svc, s);
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

  /**
   * Routes a sample or an increment to where it counts now. `weight` -1 takes back a request routed before (the
   * request grouping, `routeAttempt`): it goes where the same request would go now, creating nothing (no analysis
   * starts, no version is remembered, no clock moves).
   */
  private route(svc: ServiceState, s: RequestSample | CohortIncrement, weight: 1 | -1 = 1): void {
    const version = s.version || 'unversioned';
    const route = 'batch' in s ? undefined : routeKey(svc, s.route, this.maxRoutes);
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
      if (weight > 0) {
        svc.baselineVersion = version;
        if (svc.running.size === 0) {
          // A canary seen before the first baseline starts its analysis now.
          for (const v of svc.canarySeen) if (!this.isDecided(svc, v)) this.start(svc, v, index);
        }
      }
      if (index > svc.closedIndex) {
        const open = 'batch' in s ? (svc.baselineOpenMetrics ??= new Map<number, CohortBatch>()) : svc.baselineOpen;
        addEvidence(bucket(open, index), s, route, weight);
      }
      for (const a of svc.running.values()) this.add(a, index, 'baseline', s, route, weight);
      return;
    }
    if (this.isDecided(svc, version)) {
      this.counters.decidedVersionSamples += weight;
      return;
    }
    let a = svc.running.get(version);
    if (weight < 0 && !a) {
      // counted while its analysis waited for a baseline (else refused by a limit: nothing to take back)
      if (svc.canarySeen.has(version)) {
        if (index > svc.closedIndex) keepPendingCanary(svc, version, index, s, route, weight);
        else this.counters.preAnalysisSamples += weight;
      }
      return;
    }
    if (!a && (svc.baselineVersion !== undefined || this.settings.baselineFree?.(svc.name) === true)) {
      if (!this.guards.versions.allow(svc.running.size)) return this.refuse('versions');
      a = this.start(svc, version, index);
      if (!a) return this.refuse('analyses');
    }
    if (!a) {
      // no baseline yet: remember the version (pending), its analysis starts with the first baseline sample
      // and with these samples (kept within the idle horizon: the baseline may only be lagging)
      if (!svc.canarySeen.has(version)) {
        if (!this.guards.versions.allow(svc.canarySeen.size)) return this.refuse('versions');
        svc.canarySeen.add(version);
      }
      if (index > svc.closedIndex) keepPendingCanary(svc, version, index, s, route);
      else this.counters.preAnalysisSamples++;
      return;
    }
    if (weight > 0) a.lastCanaryMs = Math.max(a.lastCanaryMs, s.endUnixMs);
    this.add(a, index, 'canary', s, route, weight);
  }

  /** Starts an analysis, or returns undefined when `maxAnalyses` are running. */
  private start(svc: ServiceState, canaryVersion: string, index: number): Analysis | undefined {
    if (!this.guards.analyses.allow(this.runningCount)) return undefined;
    this.runningCount++;
    this.endProbation(svc);
    svc.canarySeen.delete(canaryVersion);
    const early = takePendingCanary(svc, canaryVersion);
    const startIndex = Math.min(index, early?.firstIndex ?? index);
    const a: Analysis = {
      id: `${svc.name}:${canaryVersion}`,
      incarnation: svc.resumes?.get(canaryVersion) ?? 0,
      service: svc.name,
      canaryVersion,
      baselineVersion: svc.baselineVersion ?? (this.settings.baselineFree?.(svc.name) ? 'none' : 'unknown'),
      startIndex,
      lastClosedIndex: startIndex - 1,
      open: new Map(),
      totals: emptyPair(),
      states: this.settings.metrics.map((m) => m.detector.init()),
      alphas: this.alphas,
      look: 0,
      verdicts: [],
      lastCanaryMs: index * this.settings.intervalMs,
      late: { baseline: 0, canary: 0 },
      phase: 'running',
      why: 'collecting evidence: both cohorts seen',
    };
    for (const [i, b] of svc.baselineOpen) if (i >= startIndex) mergeBatch(batchAt(a.open, i, 'baseline'), b);
    for (const [i, b] of svc.baselineOpenMetrics ?? []) {
      if (i >= startIndex) mergeBatch(batchAt((a.openMetrics ??= new Map<number, CohortPair>()), i, 'baseline'), b);
    }
    for (const [i, b] of early?.pending.spans ?? []) mergeBatch(batchAt(a.open, i, 'canary'), b);
    for (const [i, b] of early?.pending.metrics ?? []) {
      mergeBatch(batchAt((a.openMetrics ??= new Map<number, CohortPair>()), i, 'canary'), b);
    }
    svc.running.set(canaryVersion, a);
    this.hooks.onAnalysisStarted?.(snapshot(this.settings, svc, a));
    return a;
  }

  private add(
    a: Analysis,
    index: number,
    cohort: 'baseline' | 'canary',
    s: RequestSample | CohortIncrement,
    route: string | undefined,
    weight: 1 | -1 = 1,
  ): void {
    if (index <= a.lastClosedIndex) {
      if (index < a.startIndex) this.counters.preAnalysisSamples += weight;
      else {
        this.counters.lateSamples += weight;
        const n = ('batch' in s ? s.batch.requests : 1) * weight;
        a.late[cohort] += n;
        this.lateNow[cohort] += n;
      }
      return;
    }
    addEvidence(
      batchAt('batch' in s ? (a.openMetrics ??= new Map<number, CohortPair>()) : a.open, index, cohort),
      s,
      route,
      weight,
    );
  }
}
