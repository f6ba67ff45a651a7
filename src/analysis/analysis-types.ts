/**
 * The analysis registry's types: what it is configured with, what it reports (snapshots, look events,
 * counters, hooks), and the per-service / per-analysis state its parts share (discovery in
 * analysis-registry.ts, looks in look-runner.ts, expiry in expiry.ts). The state types are internal to this
 * folder; everything else is re-exported by analysis-registry.ts.
 */
import type { CohortBatch, CohortPair, Decision, Detector, MetricVerdict } from '../contracts/index.js';
import type { LimitHit, LimitName, LimitSettings } from '../limits/limits.js';
import type { EvidenceSource } from './evidence-source.js';
import type { Projection } from './indicators.js';
import type { PromotionRecord } from './promotion.js';
import type { StepGate } from './step-gate.js';

export interface MetricSetup {
  name: string;
  shadow: boolean;
  weight: number;
  detector: Detector;
  /** Spans, metrics, both, or auto (the default): see evidence-source.ts. */
  source?: EvidenceSource;
  /** What its detector reads when not the service's requests as a whole (indicators.ts); absent: the requests. */
  projection?: Projection;
}

/** Default `sourceIdleTimeoutMs`: a cohort 15 s behind the other (a slower Collector tier) plus the SDK's 5 s
 *  export timer and a Collector batch stays active, with 5 s to spare. */
export const DEFAULT_SOURCE_IDLE_MS = 30_000;

/** Default `baselineHistoryMs`: the baseline's last 5 minutes of looks are kept for canaries that start late
 *  or whose past is backfilled (30 looks at the default 10 s interval). */
export const DEFAULT_BASELINE_HISTORY_MS = 300_000;
/** Routes compared as their own strata per service (analysis.routes.maxPerService). */
export const DEFAULT_MAX_ROUTES = 20;

/** Default `maxClockSkewMs`: NTP keeps pods within milliseconds; two minutes covers a badly synced node. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 120_000;

/** What one ingest call refused, per reason (the OTLP answer's partial success tells the sender). */
export interface IngestRefusals {
  /** Ending more than `maxClockSkewMs` after the receive time. */
  future: number;
  /** Behind every look the service still keeps (nothing left to compare them with). */
  tooOld: number;
}

export interface AnalysisSettings {
  intervalMs: number;
  /** How far behind its own source's progress a sample may end and still count in its look. */
  allowedLatenessMs: number;
  /** A source (cohort) that has not moved forward while the service's most advanced one moved this far (event
   *  time) no longer holds the looks back; its later samples for closed looks are counted late (default
   *  DEFAULT_SOURCE_IDLE_MS). */
  sourceIdleTimeoutMs?: number;
  /** How much of the baseline's past (event time) a new analysis can still compare against (default
   *  DEFAULT_BASELINE_HISTORY_MS). */
  baselineHistoryMs?: number;
  /** With a receive time (the agent): a sample ending further than this after it is refused, and none moves a
   *  clock past the receive time (default DEFAULT_MAX_CLOCK_SKEW_MS). */
  maxClockSkewMs?: number;
  maxDurationMs: number;
  silenceTimeoutMs: number;
  alpha: number;
  metrics: readonly MetricSetup[];
  planFor(service: string): readonly string[];
  expectedCanaryShare?(service: string): number | undefined;
  /** The service's promotion plan's shares (rollouts[].promote.steps; the agent's settings only): while its last share
   *  is not in place, a look's promotion is held (the plan moves the share on, and promotes after its last step). */
  promotionSteps?(service: string): readonly number[] | undefined;
  /** Services that ship without a baseline cohort: their analysis starts with the first canary sample
   *  (comparative metrics stay inconclusive; absolute ones such as slo-guard decide). */
  baselineFree?(service: string): boolean;
  dryRun: boolean;
  configHash: string;
  maxRollbacks: number;
  stormWindowMs: number;
  /** Hash of everything that shapes an analysis's evidence and detector states (the config's `analysis` section):
   *  a checkpoint taken under another one restores decided versions, not running evidence. */
  analysisHash?: string;
  /** Cardinality limits and event-time expiry (defaults: DEFAULT_LIMITS). */
  limits?: Partial<LimitSettings>;
  /** Routes compared as strata per service (the rest pooled as ROUTE_OTHER); 0: not stratified (default
   *  DEFAULT_MAX_ROUTES). */
  maxRoutesPerService?: number;
  /** What one request is: `trace` (default) groups the spans of one trace, service, cohort and look into one
   *  request (open-traces.ts); `span` counts every span as a request. */
  requestUnit?: RequestUnit;
}

/** analysis.requestUnit: see AnalysisSettings.requestUnit. */
export type RequestUnit = 'trace' | 'span';

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
  /** Requests and failed requests compared so far; `retries`: attempts beyond the first of those requests, folded
   *  into them (analysis.requestUnit `trace`), present when above 0. */
  totals: {
    baseline: { requests: number; errors: number; retries?: number };
    canary: { requests: number; errors: number; retries?: number };
  };
  /** Requests of each cohort that arrived after their look had closed: not compared (see `sourceIdleTimeoutMs`). */
  late: { baseline: number; canary: number };
  /** Share of each cohort's requests for the compared looks that were compared: totals / (totals + late); null
   *  while a cohort has neither. */
  used: { baseline: number | null; canary: number | null };
  /** Looks closed without waiting for a cohort that had gone idle (see `sourceIdleTimeoutMs`), per cohort. */
  idleClosedLooks: { baseline: number; canary: number };
  /** Routes only one cohort has served so far (a new endpoint of the canary, one it dropped): reported, never
   *  compared (detectors compare within routes both cohorts serve). Absent when there is none. */
  uncomparedRoutes?: { route: string; cohort: 'baseline' | 'canary'; requests: number }[];
  verdicts: MetricVerdict[];
  decisionId?: string;
  /** Set while an operator holds the analysis's decisions (`POST /api/v1/analyses/:id/pause`): looks still run and
   *  are shown, nothing is decided until it is resumed. */
  paused?: OperatorNote;
  /** Its promotion plan (rollouts[].promote): the shares, the one in place (null before the first), the one waiting
   *  for an approval, the approved ones, and why it did not move at the last look. */
  promotion?: PromotionView;
}

export interface PromotionView {
  steps: number[];
  share: number | null;
  awaiting?: number;
  approved: number[];
  why?: string;
  /** The step gate: looks of the current step it has seen, and the acting metrics that look worse within it. */
  gate?: { looks: number; worse: string[] };
}

/** Who did something by hand, and why (verbatim), with the name of the API token used and when (wall clock). */
export interface OperatorNote {
  by: string;
  reason: string;
  /** The name of the API token the caller used (server.auth.tokens). */
  token: string;
  atUnixMs: number;
}

/** One metric at one look, as plotted: the always-valid p-value against its alpha, the estimate with its anytime-valid
 *  bounds against the detector's threshold (absent sides were not bounded). */
export interface LookMetricPoint {
  metric: string;
  phase: MetricVerdict['phase'];
  pValue: number;
  alpha: number;
  estimate?: number;
  lower?: number;
  upper?: number;
  /** Detector.threshold: the effect beyond which the canary counts as worse. */
  threshold?: number;
  shadow?: true;
}

/** One look of an analysis, as the dashboard plots it and a decision report tells it. */
export interface LookPoint {
  look: number;
  /** Event time of the end of the look. */
  atUnixMs: number;
  /** This look's requests and failed requests per cohort (not the running totals). */
  requests: { baseline: number; canary: number };
  errors: { baseline: number; canary: number };
  metrics: LookMetricPoint[];
  /** The outcome this look decided, if it decided; `held`: it would have decided, the analysis was paused. */
  decided?: Decision['outcome'];
  held?: Decision['outcome'];
}

/** An analysis's looks kept by column (look-history.ts): one metric's columns. */
export interface MetricColumns {
  metric: string;
  threshold?: number;
  shadow?: true;
  /** Index into look-history.ts's PHASES (inconclusive, pass, fail, error). */
  phase: number[];
  pValue: number[];
  alpha: number[];
  /** NaN: not reported. */
  estimate: number[];
  lower: number[];
  upper: number[];
}

/** An analysis's looks, by column (same length each). */
export interface LookHistory {
  look: number[];
  atUnixMs: number[];
  requests: { baseline: number[]; canary: number[] };
  errors: { baseline: number[]; canary: number[] };
  /** Index into look-history.ts's OUTCOMES (rollback, promote, abandoned) + 1 (0: none) of the outcome the look
   *  decided, and of the one a pause held. */
  decided: number[];
  held: number[];
  metrics: MetricColumns[];
}

/** Looks kept per analysis for plots and reports (the oldest are dropped past it: 2 h of 10 s looks). */
export const MAX_LOOK_HISTORY = 720;

export interface LookEvent {
  analysis: AnalysisSnapshot;
  batch: CohortPair;
}

/** See RegistryHooks.onIndicatorMissing. */
export interface IndicatorMissing {
  service: string;
  analysisId: string;
  metric: string;
  /** What never arrived: `process.memory.usage points`, `requests with http.route=/checkout`. */
  reads: string;
  looks: number;
}

export interface RegistryHooks {
  onDecision(decision: Decision): void;
  onLook?(event: LookEvent): void;
  /** A metric that reads an OTLP metric or filtered spans has had no evidence from either cohort for
   *  MISSING_INDICATOR_LOOKS looks since its analysis started (once per analysis and metric): log it. */
  onIndicatorMissing?(event: IndicatorMissing): void;
  onAnalysisStarted?(snapshot: AnalysisSnapshot): void;
  /** A limit was reached (once, until the collection is below the limit again): log it. */
  onLimitReached?(hit: LimitHit): void;
  /** Samples dropped by a limit during one ingest call (for a metric). */
  onLimitRefused?(limit: LimitName, samples: number): void;
  /** Requests of a cohort that arrived for looks already closed, during one ingest call (for a metric). */
  onLate?(cohort: 'baseline' | 'canary', requests: number): void;
  /** Looks of an analysis skipped because its clock jumped further than one call may close (see look-runner.ts). */
  onLooksSkipped?(looks: number): void;
  /** A look closed without waiting for an idle cohort (for a metric). */
  onIdleClosed?(cohort: 'baseline' | 'canary'): void;
  /** A service idle for `idleMs` (event time) was forgotten, with its running analyses. */
  onServiceExpired?(service: string, idleMs: number, runningAnalyses: number): void;
  /** Services on probation, or open traces of the request grouping, forgotten during one ingest call to make
   *  room for new ones (for a metric and a summary log line). */
  onLimitEvicted?(limit: LimitName, count: number): void;
  /** Request spans of a cohort folded into an earlier attempt of the same request during one ingest call. */
  onRetries?(cohort: 'baseline' | 'canary', attempts: number): void;
}

export interface RegistryCounters {
  samples: number;
  unknownCohort: number;
  lateSamples: number;
  /** Looks closed without waiting for an idle cohort (one per look and idle cohort). */
  idleClosedLooks: number;
  /** Looks skipped because a clock jumped further than one call may close (their evidence counted late). */
  skippedLooks: number;
  clockSkewSamples: number;
  /** Samples refused because they ended more than `maxClockSkewMs` after they were received. */
  futureSamples: number;
  /** Samples behind every look their service still keeps (refused: nothing to compare them with). */
  tooOldSamples: number;
  preAnalysisSamples: number;
  /** Canary samples of a version that already has a decision (rolled back versions stay rolled back). */
  decidedVersionSamples: number;
  /** Samples dropped because a limit was reached (services, analyses, versions). */
  limitedSamples: number;
  /** Services forgotten after being idle; finished analyses reduced to their outcome after the retention. */
  expiredServices: number;
  /** Services on probation forgotten to make room for new ones at `maxServices`. */
  evictedServices: number;
  expiredAnalyses: number;
  /** Pre-aggregated increments ingested (OTLP metric deltas). */
  metricIncrements: number;
  /** Request spans folded into an earlier attempt of the same request (same trace, service, cohort and look),
   *  so not counted as requests of their own (analysis.requestUnit `trace`). */
  retriedAttempts: number;
  /** Open traces of the request grouping evicted while their look was open (limits.maxOpenTraces). */
  evictedOpenTraces: number;
}

/** One service's state with its looks closed and not yet run (they reference its analyses): serialised together,
 *  so the shared references survive. */
export interface ServiceChunk {
  service: ServiceState;
  /** Opaque look tasks, each with its place (`seq`) in the registry's queue. */
  pendingLooks: readonly unknown[];
}

/** Everything the registry knows: what a checkpoint holds (each service chunk serialised on its own). */
export interface RegistryState {
  analysisHash: string | undefined;
  counters: RegistryCounters;
  services: ServiceChunk[];
}

/** What `importState` restored. */
export interface RestoredState {
  services: number;
  running: number;
  decided: number;
  /** Running analyses dropped because the checkpoint was taken under another `analysisHash`. */
  restarted: number;
}

/** What is kept of a finished analysis after `finishedRetentionMs`: enough to keep its version decided. */
export interface FinishedVersion {
  outcome: AnalysisPhase;
  decisionId: string;
}

export interface Analysis {
  id: string;
  /** 0 for the first analysis of this canary version, n after its n-th resume (decision ids derive from it). */
  incarnation: number;
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
  /** Running totals of each metric that reads an indicator (by metric name), and the looks so far in which it had no
   *  evidence from either cohort while it never had any (`missing`: the warning "no … points in 12 looks"). */
  indicatorTotals?: Record<string, { totals: CohortPair; seen: boolean; emptyLooks: number }>;
  states: unknown[];
  alphas: number[];
  look: number;
  verdicts: MetricVerdict[];
  lastCanaryMs: number;
  /** Requests per cohort that arrived for a look already closed (not compared). */
  late: { baseline: number; canary: number };
  /** Looks closed without waiting for an idle cohort, per cohort (created at the first one). */
  idleClosed?: { baseline: number; canary: number };
  phase: AnalysisPhase;
  why: string;
  decision?: Decision;
  /** Its looks so far (at most MAX_LOOK_HISTORY, oldest dropped first), by column (look-history.ts). */
  history?: LookHistory;
  /** Set while an operator holds its decisions (see AnalysisSnapshot.paused). */
  paused?: OperatorNote;
  /** When an operator last paused it or lifted its pause (wall clock): the audit log's later entries win at a
   *  restart, older ones do not undo it. */
  operatedAtUnixMs?: number;
  /** Its promotion plan's progress (rollouts[].promote), kept here so checkpoints and handovers carry it. */
  promotion?: PromotionRecord;
  /** Its promotion plan's step gate: the detectors on the current step's looks only (step-gate.ts). */
  stepGate?: StepGate;
}

/** A canary version's evidence before its analysis could start (no baseline yet), per look index. */
export interface PendingCanary {
  spans: Map<number, CohortBatch>;
  metrics?: Map<number, CohortBatch>;
}

export interface ServiceState {
  name: string;
  /** The most advanced source's progress (latest event time accepted, any cohort). */
  maxEndMs: number;
  /** Each cohort's progress (latest event time of its samples; -Infinity until seen): the per-source clocks. */
  progressMs: { baseline: number; canary: number };
  /** The most advanced source's progress (`maxEndMs`) when each cohort last moved forward: a cohort is idle once
   *  the service moved the idle timeout past it (event-clock.ts). */
  movedAtMs: { baseline: number; canary: number };
  baselineVersion?: string;
  /** Canary versions seen before any baseline (pending analyses). */
  canarySeen: Set<string>;
  running: Map<string, Analysis>;
  /** Versions with a decision: not re-analysed until resumed. */
  decided: Map<string, Analysis>;
  /** Decided versions past the retention, oldest first (at most maxVersionsPerService). */
  finished: Map<string, FinishedVersion>;
  rollbackTimes: number[];
  /** Resumes per canary version: the next analysis of a resumed version is a new incarnation. */
  resumes?: Map<string, number>;
  unknownByVersion: Map<string, number>;
  /** Baseline increments of looks the service clock has not closed: a new analysis starts with them. */
  baselineOpen: Map<number, CohortBatch>;
  /** The same for metric-sourced increments (created when the first one arrives). */
  baselineOpenMetrics?: Map<number, CohortBatch>;
  /** Canary buckets per version seen before any baseline sample (see open-buckets.ts). */
  canaryPending?: Map<string, PendingCanary>;
  /** Looks no source can reach any more (behind the idle horizon): their baseline buckets are dropped. */
  closedIndex: number;
  /** A far-ahead sample waiting for a second one to confirm that time really jumped. */
  jumpCandidateMs?: number;
  /** Samples refused for this service (too far in the future, or too old to compare): shown by the API. */
  refused?: IngestRefusals;
  /** Requests seen while on probation (undefined: past it; see AnalysisRegistry). */
  probation?: number | undefined;
  /** The routes that have their own stratum (at most `maxRoutesPerService`, first seen first; open-buckets.ts). */
  routeKeys?: Set<string>;
  /** The last look index the service's watermark had closed at the end of the last ingest call (monotone): the
   *  request grouping merges attempts only into requests of later looks (open-traces.ts). */
  lastClosedLook?: number;
  /** The registry's own id of this service object (the open-traces table's service key): never reused by the
   *  registry that gave it; given again on import. */
  uid?: number;
}
