/**
 * `vigil drill` (issue 17): rehearses a rollback end to end, in its own process, with no running agent. Synthetic
 * telemetry of a regressed canary (a drill version of the service) goes through the agent's real pipeline: the
 * cohort rules, the look runner, the configured detectors and decision engine, the audit log, the plan runner and the
 * connectors. The drill's decision is marked `drill: true` (CloudEvents `vigildrill: true`, chat titles "[DRILL]").
 *
 * - target `drill` (the default): every connector and notifier runs its health check; the plan runs as a dry run
 *   (each connector reads, computes and describes what it would do, writing nothing) and no notification is posted.
 *   Nothing real is touched.
 * - target `live`: the plan really runs against the connectors as configured, and the notifiers post. Point a drill
 *   config at drill targets (a drill flag, a drill route).
 * Never mixed with real analyses: the pipeline is the drill's own, on the embedded queue (never the config's Redis),
 * with its audit log in a temporary directory (never the config's), and the canary is a version no agent analyses.
 *
 * The report: time to detect (looks and event time of telemetry until a metric failed), time to decide (wall clock
 * from the first injected sample to the decision), each step by connector name with its answer and time after the
 * decision, the health checks, notifications that failed, and what failed with the fix. It passes when every health
 * check passed, the detectors decided `rollback`, and every plan step is done.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createPipeline } from '../agent/pipeline.js';
import type { LoadedConfig, Registries } from '../config/load.js';
import { formatProblem, type ConnectorProblem } from '../connectors-check.js';
import type { Decision, RequestSample } from '../contracts/index.js';
import { readAuditTail } from '../decide/audit-log.js';
import { buildReport, type ReportStep, type ReportNotification } from '../decide/report.js';
import { seededRandom } from '../seeded-random.js';

export type DrillTarget = 'drill' | 'live';

export interface DrillOptions {
  loaded: LoadedConfig;
  registries: Registries;
  service: string;
  target: DrillTarget;
  logger: Logger;
  /** Bounds the plan and notifications after the decision (default 60 s). */
  settleMs?: number;
  /** Requests per cohort per look of the synthetic telemetry (default 400). */
  requestsPerLook?: number;
  /** Progress lines (stderr). */
  progress?: (line: string) => void;
  /** Injected clock (tests). */
  now?: () => number;
}

export interface DrillStep extends Pick<ReportStep, 'step' | 'connector' | 'status' | 'changed' | 'detail' | 'error'> {
  code?: string;
  dryRun?: boolean;
  /** Milliseconds from the decision's audit entry to this step's. */
  afterMs?: number;
}

export interface DrillReport {
  type: 'drill';
  service: string;
  canaryVersion: string;
  target: DrillTarget;
  passed: boolean;
  /** Wall clock the drill took. */
  durationMs: number;
  /** Looks of synthetic telemetry until the decision, and the event time they span. */
  detect?: { looks: number; eventMs: number; metric: string; summary: string };
  /** Wall clock from the first injected sample to the decision. */
  decideMs?: number;
  decision?: { id: string; outcome: Decision['outcome']; reason: string; dryRun: boolean };
  health: { problems: ConnectorProblem[] };
  steps: DrillStep[];
  notificationsFailed: ReportNotification[];
  /** What failed, each with the fix. */
  failures: string[];
}

/** The drill's canary version: never a real one (a rollback drill must not decide a real version's fate). */
export function drillVersion(nowMs: number): string {
  return `vigil-drill-${nowMs.toString(36)}`;
}

const BASELINE_VERSION = 'vigil-drill-baseline';
/** Looks the drill injects at most before it gives up on a decision. */
const MAX_DRILL_LOOKS = 400;

/** The config as the drill runs it: embedded queue (never the config's Redis), no cluster, its own audit log. */
function drillConfig(loaded: LoadedConfig): LoadedConfig {
  const c = loaded.config;
  return {
    ...loaded,
    config: {
      ...c,
      queue: { ...c.queue, redis: null },
      cluster: { ...c.cluster, enabled: false },
    },
  };
}

/** One look of synthetic requests: baseline at 1% errors, canary at 30% and twice as slow (every default metric fails). */
function lookSamples(
  service: string,
  canaryVersion: string,
  startMs: number,
  intervalMs: number,
  n: number,
  rand: () => number,
): RequestSample[] {
  const out: RequestSample[] = [];
  for (let i = 0; i < n; i++) {
    const endUnixMs = startMs + Math.floor(((i + 0.5) * intervalMs) / n);
    const d = 20 + 40 * rand();
    out.push({
      service,
      version: BASELINE_VERSION,
      cohort: 'baseline',
      endUnixMs,
      durationMs: d,
      error: rand() < 0.01,
    });
    out.push({ service, version: canaryVersion, cohort: 'canary', endUnixMs, durationMs: 2 * d, error: rand() < 0.3 });
  }
  return out;
}

export async function runDrill(opts: DrillOptions): Promise<DrillReport> {
  const now = opts.now ?? Date.now;
  const started = now();
  const dir = mkdtempSync(join(tmpdir(), 'vigil-drill-'));
  const auditPath = join(dir, 'audit.jsonl');
  const canaryVersion = drillVersion(started);
  const live = opts.target === 'live';
  const report: DrillReport = {
    type: 'drill',
    service: opts.service,
    canaryVersion,
    target: opts.target,
    passed: false,
    durationMs: 0,
    health: { problems: [] },
    steps: [],
    notificationsFailed: [],
    failures: [],
  };
  const pipeline = createPipeline({
    loaded: drillConfig(opts.loaded),
    registries: opts.registries,
    logger: opts.logger,
    forceDryRun: !live,
    silenceNotifiers: !live,
    auditPath,
    drill: true,
  });
  try {
    opts.progress?.(`drill ${opts.service}: health checks`);
    report.health.problems = await pipeline.actions.health.refresh();
    let decision: Decision | undefined;
    pipeline.onDecision((d) => {
      if (d.service === opts.service && d.canaryVersion === canaryVersion) decision ??= d;
    });
    // decided as soon as the look runs (the decision reaches the listeners once the audit log has recorded it)
    const id = `${opts.service}:${canaryVersion}`;
    const decided = (): boolean => {
      const a = pipeline.registry.get(id);
      return a !== undefined && a.phase !== 'running';
    };
    const decideMs = await inject(pipeline, opts, canaryVersion, now, decided);
    await pipeline.settle(opts.settleMs ?? 60_000);
    if (decision !== undefined) {
      report.decideMs = decideMs;
      await describeOutcome(report, decision, auditPath, opts.loaded.config.analysis.interval, now());
    }
  } finally {
    await pipeline.close();
    rmSync(dir, { recursive: true, force: true });
  }
  report.failures = failuresOf(report, opts);
  report.passed = report.failures.length === 0;
  report.durationMs = now() - started;
  return report;
}

/** Feeds synthetic looks until the drill's canary is decided (or MAX_DRILL_LOOKS); returns the wall clock it took. */
async function inject(
  pipeline: ReturnType<typeof createPipeline>,
  opts: DrillOptions,
  canaryVersion: string,
  now: () => number,
  decided: () => boolean,
): Promise<number> {
  const interval = opts.loaded.config.analysis.interval;
  const rand = seededRandom(0x5eed);
  const n = opts.requestsPerLook ?? 400;
  const t0 = now();
  // event time starts a whole hour back, so every look of the drill is complete before the wall clock reaches it
  const startMs = (Math.floor(t0 / interval) - MAX_DRILL_LOOKS - 2) * interval;
  for (let look = 0; look < MAX_DRILL_LOOKS && !decided(); look++) {
    pipeline.intake.ingest(lookSamples(opts.service, canaryVersion, startMs + look * interval, interval, n, rand));
    if (look % 10 === 9) opts.progress?.(`drill ${opts.service}: ${look + 1} looks injected`);
    // the looks run in time slices between requests in the agent: run them now
    pipeline.registry.runPendingLooks();
    await new Promise((resolve) => setImmediate(resolve));
  }
  // the last look closes once the stream has moved past it
  pipeline.registry.flush();
  return now() - t0;
}

/** Fills the report from the decision and the drill's audit log (the same report `vigil report` builds). */
async function describeOutcome(
  report: DrillReport,
  decision: Decision,
  auditPath: string,
  intervalMs: number,
  nowMs: number,
): Promise<void> {
  report.decision = { id: decision.id, outcome: decision.outcome, reason: decision.reason, dryRun: decision.dryRun };
  const failing = decision.verdicts.find((v) => v.phase === 'fail' && !v.shadow);
  report.detect = {
    looks: decision.look,
    eventMs: decision.look * intervalMs,
    metric: failing?.metric ?? '(none)',
    summary: failing?.summary ?? decision.reason,
  };
  const tail = await readAuditTail(auditPath);
  const model = buildReport({
    decision,
    sources: [{ decision, entries: tail.entries, audit: { path: auditPath, from: tail.from, size: tail.size } }],
    nowUnixMs: nowMs,
    apiUrl: 'http://localhost',
  });
  report.steps = model.plan.steps.map((s) => ({
    step: s.step,
    connector: s.connector,
    status: s.status,
    ...(s.changed === undefined ? {} : { changed: s.changed }),
    ...(s.detail === undefined ? {} : { detail: s.detail }),
    ...(s.error === undefined ? {} : { error: s.error }),
    ...(s.code === undefined ? {} : { code: s.code }),
    ...(s.dryRun === undefined ? {} : { dryRun: s.dryRun }),
    ...(s.afterMs === undefined ? {} : { afterMs: s.afterMs }),
  }));
  report.notificationsFailed = model.notifications;
}

/** What failed, each with its fix; empty when the drill passed. */
function failuresOf(r: DrillReport, opts: DrillOptions): string[] {
  const out: string[] = [];
  for (const p of r.health.problems)
    out.push(
      `health check: ${formatProblem(p)}; fix: make it reachable and check its options (vigil connectors test ${p.name})`,
    );
  if (r.decision === undefined)
    out.push(
      `no decision after ${MAX_DRILL_LOOKS} looks of a canary failing 30% of requests at twice the latency: ` +
        'fix: check analysis.metrics (a shadow-only or baseline-free setup cannot roll back) and analysis.minSamples',
    );
  else if (r.decision.outcome !== 'rollback')
    out.push(
      `the detectors decided ${r.decision.outcome}, not rollback: fix: check analysis.metrics and their tolerances`,
    );
  const plan = opts.loaded.config.rollouts.find((x) => x.service === opts.service)?.plan ?? opts.loaded.config.plan;
  if (r.decision?.outcome === 'rollback' && plan.length === 0)
    out.push(`no rollback plan for ${opts.service}: fix: set plan (or rollouts[].plan for ${opts.service})`);
  for (const s of r.steps) {
    if (s.status === 'done') continue;
    const why =
      s.status === 'failed' ? `failed: ${s.error ?? 'unknown error'}${s.code ? ` [${s.code}]` : ''}` : 'did not run';
    out.push(`step ${s.step + 1} ${s.connector} ${why}; fix: vigil connectors test ${s.connector}`);
  }
  for (const n of r.notificationsFailed)
    out.push(`notification ${n.notifier} (${n.kind}) failed: ${n.error}; fix: vigil connectors test ${n.notifier}`);
  return out;
}

/** The report for people: what was rehearsed, how long detection and decision took, each step, what failed. */
export function renderDrill(r: DrillReport, intervalMs: number): string[] {
  const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const lines = [
    `drill ${r.service} (target ${r.target}${r.target === 'drill' ? ': dry runs, nothing real touched' : ': LIVE, the plan really ran'}): ${r.passed ? 'PASSED' : 'FAILED'} in ${secs(r.durationMs)}`,
    `  canary ${r.canaryVersion}: synthetic telemetry, 30% of requests failing at twice the latency`,
  ];
  if (r.detect !== undefined)
    lines.push(
      `  time to detect: ${r.detect.looks} looks (${secs(r.detect.eventMs)} of telemetry at ${secs(intervalMs)} looks): ${r.detect.metric}: ${r.detect.summary}`,
    );
  if (r.decideMs !== undefined && r.decision !== undefined)
    lines.push(`  time to decide: ${secs(r.decideMs)} (wall clock): ${r.decision.outcome} (${r.decision.id})`);
  lines.push(
    r.health.problems.length === 0
      ? '  health checks: every connector and notifier passed (or has none)'
      : `  health checks: ${r.health.problems.length} failed`,
  );
  for (const s of r.steps) {
    const when = s.afterMs === undefined ? '' : ` +${s.afterMs} ms`;
    const what =
      s.status === 'done'
        ? `done${s.dryRun ? ' (dry run)' : ''}${s.changed === undefined ? '' : s.changed ? ', changed' : ', unchanged'}${s.detail ? `: ${s.detail}` : ''}`
        : s.status === 'failed'
          ? `FAILED: ${s.error ?? ''}${s.code ? ` [${s.code}]` : ''}`
          : 'not run';
    lines.push(`  step ${s.step + 1} ${s.connector}${when}: ${what}`);
  }
  for (const f of r.failures) lines.push(`  failed: ${f}`);
  return lines;
}
