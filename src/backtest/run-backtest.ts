/**
 * `vigil backtest`: on a user's own recorded telemetry, how often would this config falsely roll back, and
 * how fast would it catch a regression?
 *
 * 1. Decode the recording ONCE (trace ids kept) into columns in memory.
 * 2. Per service, take the baseline traffic (all traffic when cohorts are unknown), cut it into analysis
 *    windows of maxDuration, and fix the pseudo-canary share.
 * 3. For each trial t (salt from --seed and t) and each scenario (A/A, then each injected regression), split
 *    every request by hash(trace id, salt) and run the configured pipeline (AnalysisRegistry + detectors +
 *    decision engine, event time, replay's batching, no actions) over all services at once.
 * 4. Count rollbacks per service, scenario and metric: false-alarm rate with a Wilson 95% interval under A/A,
 *    detection rate and looks (event time) to detect under each injection; then advice in plain words.
 *
 * Cost: decoding O(spans) once; then trials x scenarios pipelines of O(used requests) each. Memory: ~30
 * bytes per request (SampleStore) plus the registry's O(analyses) state.
 */
import type { AnalysisSettings } from '../analysis/analysis-registry.js';
import { analysisSettings, indicatorsOf, metricAlphas } from '../analysis/settings.js';
import type { LoadedConfig } from '../config/load.js';
import { VigilError } from '../errors.js';
import { cohortRulesOf } from '../ingest/cohort.js';
import { decodeRecording, type DecodeStats } from './decode-recording.js';
import { recommend } from './recommend.js';
import type { BacktestReport, MetricInfo, ScenarioReport, ServiceReport } from './report.js';
import { runTrial } from './run-trial.js';
import { scenariosFor, type Injection, type Scenario } from './scenarios.js';
import type { SampleStore } from './sample-store.js';
import { planServices, type Plans, type ServicePlan } from './service-plans.js';
import { lookStats, Tally, wilson } from './tally.js';

export interface BacktestOptions {
  loaded: LoadedConfig;
  files: string[];
  trials: number;
  seed: number;
  injections: Injection[];
  /** Fixed pseudo-canary share; undefined: per service from the config or the recording. */
  canaryShare?: number;
  services?: string[];
  /** Progress lines (stderr in the CLI); throttled to about one a second. */
  progress?: (msg: string) => void;
  onBadLine?: (file: string, lineNo: number, message: string) => void;
}

function scenarioReport(
  sc: Scenario,
  plan: ServicePlan,
  tally: Tally,
  metrics: readonly MetricInfo[],
  intervalMs: number,
): ScenarioReport {
  const note =
    sc.injection?.kind === 'error' && plan.baselineErrorRate === 0
      ? 'not injected: no failed requests in this traffic'
      : undefined;
  return {
    id: sc.id,
    label: sc.label,
    ...(sc.injection ? { injection: sc.injection } : {}),
    ...(note ? { note } : {}),
    analyses: tally.analyses,
    outcomes: { ...tally.outcomes },
    rollbacks: wilson(tally.outcomes.rollback, tally.analyses),
    looksToRollback: lookStats(tally.rollbackLooks, intervalMs),
    metrics: metrics.map((m, i) => ({
      ...m,
      alarms: wilson(tally.metricLooks[i]!.length, tally.analyses),
      looksToAlarm: lookStats(tally.metricLooks[i]!, intervalMs),
    })),
  };
}

function serviceReport(p: ServicePlan, scenarios: ScenarioReport[]): Omit<ServiceReport, 'recommendations'> {
  return {
    service: p.name,
    traffic: {
      source: p.source,
      requests: p.requests,
      recordedMs: p.recordedMs,
      coveredMs: p.coveredMs,
      analysesPerTrial: p.windows,
      canaryShare: p.share,
      canaryShareSource: p.shareSource,
      perLook: p.perLook,
      baselineErrorRate: p.baselineErrorRate,
      medianMs: p.medianMs,
      p95Ms: p.p95Ms,
      requestsPerTrace: p.requestsPerTrace,
    },
    scenarios,
  };
}

export async function runBacktest(opts: BacktestOptions): Promise<BacktestReport> {
  const { loaded } = opts;
  const a = loaded.config.analysis;
  const started = performance.now();
  const tick = progressTicker(opts, started);

  const { store, stats } = await decodeTraffic(opts, tick);
  const plans = planTraffic(opts, store);
  const decodedMs = performance.now() - started;
  opts.progress?.(
    `backtest: decoded ${stats.spans} spans into ${stats.samples} requests of ${store.services.length} service(s) in ${(decodedMs / 1000).toFixed(1)} s`,
  );

  const settings = analysisSettings(loaded);
  const metricInfo = metricInfoOf(settings);
  const scenarios = scenariosFor(opts.injections);
  const { tallies, pipelines } = await runTrials(opts, { store, plans, settings, scenarios }, tick, decodedMs);

  const services = serviceReports(plans, scenarios, tallies, metricInfo, a);
  return {
    type: 'backtest',
    config: {
      file: loaded.file,
      hash: loaded.hash,
      alpha: a.alpha,
      intervalMs: a.interval,
      minSamples: a.minSamples,
      maxDurationMs: a.maxDuration,
      metrics: metricInfo,
    },
    options: {
      trials: opts.trials,
      seed: opts.seed,
      inject: opts.injections.map((i) => `${i.kind}=${i.factor}`),
      canaryShare: opts.canaryShare ?? 'auto',
      services: opts.services ?? [],
    },
    input: stats,
    pipelines,
    services,
    skipped: plans.skipped,
  };
}

/** A progress line built by `msg`, unless one was printed less than a second ago (`force` prints anyway). */
type Tick = (msg: () => string, force?: boolean) => void;

/** The throttled progress of one run (the first tick may print a second after `started`). */
function progressTicker(opts: Pick<BacktestOptions, 'progress'>, started: number): Tick {
  let lastProgress = started;
  return (msg: () => string, force = false) => {
    const now = performance.now();
    if (!opts.progress || (!force && now - lastProgress < 1000)) return;
    lastProgress = now;
    opts.progress(msg());
  };
}

/** Step 1: decodes the recording once into columns; a recording without request spans is an error. */
async function decodeTraffic(opts: BacktestOptions, tick: Tick): Promise<{ store: SampleStore; stats: DecodeStats }> {
  opts.progress?.(`backtest: decoding ${opts.files.length} file(s)`);
  const { store, stats } = await decodeRecording({
    files: opts.files,
    rules: cohortRulesOf(opts.loaded.config, indicatorsOf(opts.loaded).spans),
    ...(opts.onBadLine ? { onBadLine: opts.onBadLine } : {}),
    progress: (s) => tick(() => `backtest: decoded ${s.lines} lines, ${s.samples} requests`),
  });
  if (store.length === 0) {
    throw new VigilError('VIGIL_ERR_BACKTEST_NO_TRAFFIC', [
      `no request spans (SERVER or CONSUMER) in ${opts.files.join(', ')} (${stats.lines} lines, ${stats.badLines} undecodable)`,
    ]);
  }
  return { store, stats };
}

/** Step 2: each service's traffic, share and windows; services asked for and absent from the recording are an error. */
function planTraffic(opts: BacktestOptions, store: SampleStore): Plans {
  const plans = planServices(store, opts.loaded, {
    ...(opts.canaryShare === undefined ? {} : { canaryShare: opts.canaryShare }),
    ...(opts.services ? { services: opts.services } : {}),
  });
  if (opts.services?.length && plans.plans.length === 0 && plans.skipped.length === 0) {
    throw new VigilError('VIGIL_ERR_BACKTEST_NO_TRAFFIC', [
      `none of the services ${opts.services.join(', ')} is in the recording (it has ${store.services.slice(0, 10).join(', ')}${store.services.length > 10 ? ', ...' : ''})`,
    ]);
  }
  return plans;
}

/** The configured metrics as the report shows them, with each one's share of alpha. */
function metricInfoOf(settings: AnalysisSettings): MetricInfo[] {
  const alphas = metricAlphas(settings);
  return settings.metrics.map((m, i) => ({
    metric: m.name,
    detector: m.detector.type,
    shadow: m.shadow,
    alpha: alphas[i]!,
  }));
}

/** Step 3: every trial of every scenario over all services at once, tallied per service plan and scenario. */
async function runTrials(
  opts: BacktestOptions,
  input: { store: SampleStore; plans: Plans; settings: AnalysisSettings; scenarios: Scenario[] },
  tick: Tick,
  decodedMs: number,
): Promise<{ tallies: Tally[][]; pipelines: number }> {
  const { store, plans, settings, scenarios } = input;
  const tallies = plans.plans.map(() => scenarios.map(() => new Tally(settings.metrics.length)));
  const pipelines = opts.trials * scenarios.length;
  const trialsStart = performance.now();
  for (let t = 0; t < opts.trials; t++) {
    scenarios.forEach((sc, si) => {
      const runs = runTrial({
        store,
        plans,
        settings,
        seed: opts.seed,
        trial: t,
        ...(sc.injection ? { injection: sc.injection } : {}),
      });
      for (const r of runs) tallies[r.plan]![si]!.add(r);
    });
    tick(() => {
      const done = t + 1;
      const per = (performance.now() - trialsStart) / done;
      return `backtest: trial ${done}/${opts.trials} (${Math.round((100 * done) / opts.trials)}%), ~${Math.ceil((per * (opts.trials - done)) / 1000)} s left`;
    });
    await new Promise<void>((resolve) => setImmediate(resolve)); // lets stderr drain and signals through
  }
  opts.progress?.(
    `backtest: ${pipelines} pipelines over ${plans.used.reduce((s, u) => s + u, 0)} requests in ${((performance.now() - trialsStart) / 1000).toFixed(1)} s (decode ${(decodedMs / 1000).toFixed(1)} s)`,
  );
  return { tallies, pipelines };
}

/** Step 4: per service, each scenario's rates and looks, and advice in plain words. */
function serviceReports(
  plans: Plans,
  scenarios: readonly Scenario[],
  tallies: Tally[][],
  metricInfo: readonly MetricInfo[],
  a: LoadedConfig['config']['analysis'],
): ServiceReport[] {
  const ctx = { alpha: a.alpha, minSamples: a.minSamples, intervalMs: a.interval, maxDurationMs: a.maxDuration };
  return plans.plans.map((p, pi) => {
    const base = serviceReport(
      p,
      scenarios.map((sc, si) => scenarioReport(sc, p, tallies[pi]![si]!, metricInfo, a.interval)),
    );
    return { ...base, recommendations: recommend(base, ctx) };
  });
}
