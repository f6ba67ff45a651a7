import type { Cell, Goal } from './report.js';
import { checkGoals, goalsText, makeCell, markdownMatrix } from './report.js';
import type { MethodSpec } from './methods.js';
import { ALPHA, METHODS, unitOf } from './methods.js';
import type { Scenario } from './scenarios.js';
import { SCENARIOS, scenarioById } from './scenarios.js';
import type { Task, TaskResult } from './simulate.js';
import { runTask } from './simulate.js';

/**
 * The benchmark without its transport: plan the tasks, run them (in-process here; the CLI farms them out to
 * worker threads), aggregate and render. Shared by `npm run bench:detectors` and the vitest smoke test.
 */

export interface BenchOptions {
  /** Replicates per scenario (times the scenario's weight). */
  replicates: number;
  scenarios: readonly string[];
  baseSeed: number;
  /** Replicates per task (the unit a worker runs). */
  chunk: number;
}

/**
 * Default run (base replicates per scenario; x3 for errors 1.5x and latency +10%): ~5 minutes on 2 cores for the
 * issue-3 rows; the issue-13 rows add about 3 CPU-minutes (measured: 47 s of CPU for them at 100 replicates).
 */
export const DEFAULT_REPLICATES = 350;
/** --quick: a smoke run for CI (figures are indicative only). */
export const QUICK_REPLICATES = 12;

/** Tasks, the most expensive scenarios (moving split: one error-rate stratum per look) first. */
export function planTasks(o: BenchOptions): Task[] {
  const heavy = new Set(['ramp', 'ramp-drift', 'diurnal', 'share-10%']);
  const order = [...o.scenarios].sort((a, b) => Number(heavy.has(b)) - Number(heavy.has(a)));
  const tasks: Task[] = [];
  for (const id of order) {
    const n = o.replicates * (scenarioById(id).weight ?? 1);
    for (let from = 0; from < n; from += o.chunk)
      tasks.push({ scenario: id, from, to: Math.min(n, from + o.chunk), baseSeed: o.baseSeed });
  }
  return tasks;
}

export interface BenchResult {
  scenarios: Scenario[];
  methods: MethodSpec[];
  cells: Map<string, Cell>;
  goals: Goal[];
  /** Sum of the tasks' own run times (ms): CPU work, whatever the parallelism. */
  taskMs: number;
  /** Time per scenario (ms, all its tasks) and per method (ms in its looks, all scenarios). */
  scenarioMs: Record<string, number>;
  methodMs: Record<string, number>;
}

export function aggregate(scenarioIds: readonly string[], results: readonly TaskResult[]): BenchResult {
  const scenarios = scenarioIds.map(scenarioById);
  const methods = [...METHODS];
  const looks = new Map<string, (number | null)[]>();
  let taskMs = 0;
  const scenarioMs: Record<string, number> = {};
  const methodMs: Record<string, number> = {};
  const ordered = [...results].sort((a, b) =>
    a.scenario === b.scenario ? a.from - b.from : a.scenario.localeCompare(b.scenario),
  );
  for (const r of ordered) {
    taskMs += r.ms;
    scenarioMs[r.scenario] = (scenarioMs[r.scenario] ?? 0) + r.ms;
    r.methodIds.forEach((m, i) => (methodMs[m] = (methodMs[m] ?? 0) + (r.methodMs[i] ?? 0)));
    for (const rep of r.alarms) {
      r.methodIds.forEach((m, i) => {
        const key = `${r.scenario}|${m}`;
        const list = looks.get(key) ?? [];
        list.push(rep[i] ?? null);
        looks.set(key, list);
      });
    }
  }
  const cells = new Map<string, Cell>();
  for (const s of scenarios) {
    for (const m of methods) {
      const l = looks.get(`${s.id}|${m.id}`);
      if (l !== undefined) cells.set(`${s.id}|${m.id}`, makeCell(m, s, l));
    }
  }
  return { scenarios, methods, cells, goals: checkGoals(cells, methods), taskMs, scenarioMs, methodMs };
}

/** Runs every task in this thread (the smoke test; the CLI uses worker threads). */
export function runInProcess(o: BenchOptions): BenchResult {
  return aggregate(o.scenarios, planTasks(o).map(runTask));
}

export function allScenarioIds(): string[] {
  return SCENARIOS.map((s) => s.id);
}

export function renderMarkdown(r: BenchResult): string {
  const by = (k: MethodSpec['metric']): MethodSpec[] => r.methods.filter((m) => m.metric === k);
  const legend = [
    `Each cell: when the method's own null hypothesis holds in the scenario, the false-alarm rate over ${r.scenarios[0]?.looks ?? 100} looks`,
    'with its 95% Wilson interval; otherwise `median / p95 looks to detect · power by the horizon` (runs that never',
    `alarmed count as ">${r.scenarios[0]?.looks ?? 100}"). alpha = ${ALPHA}; burn-in 25 samples per cohort for every method.`,
    'latency-sequential runs with tolerance 0 here (the anchor protocol); the decision row runs the default metric set',
    '(error-rate, latency with tolerance 0.05, latency-quantile p99 with tolerance 0.1) at alpha/3 each. latency-quantile',
    'is null when the canary is at most 1.1x slower everywhere; the Welch, Kayenta and cumulative latency rows test the',
    'geometric mean with tolerance 0, so tail-only (geometric mean +3.5%) is a detection for them.',
    'Issue-13 rows (pod shocks onwards): real traffic. Pod shocks hit either cohort equally often and route-mix /',
    "new-endpoint change only the canary's mix of unchanged routes (the batches carry the per-route breakdown), so",
    'they are healthy; canary-bursts is a regression (errors 2.8x on average). sticky-retries: a method sees every',
    'attempt as a request (span view) unless marked [per request] (each request once, its extra attempts as `retries`).',
    'Issue-16 rows: conversions per checkout started (worse lower, tolerance 0) and memory per instance (worse higher,',
    'tolerance 0; each instance keeps a uniform +-15% offset for the whole run, 3% look-to-look noise); the',
    'spans/cohort/look column then says what one look holds. Only the issue-16 methods run on those rows.',
  ].join('\n');
  const requestRows = r.scenarios.filter((s) => s.indicator === undefined);
  return [
    markdownMatrix('Error-rate methods', requestRows, by('errors'), r.cells),
    '',
    markdownMatrix('Latency methods', requestRows, by('latency'), r.cells),
    '',
    markdownMatrix('Decision level (what rolls back)', requestRows, by('decision'), r.cells),
    '',
    ...(['ratio', 'gauge'] as const).flatMap((k) => {
      const rows = r.scenarios.filter((s) => s.indicator?.kind === k);
      const title = k === 'ratio' ? 'Business rate (issue 16)' : 'Resource level per instance (issue 16)';
      return rows.length === 0 ? [] : [markdownMatrix(title, rows, by(k), r.cells), ''];
    }),
    legend,
  ].join('\n');
}

export function renderGoals(r: BenchResult): string {
  return goalsText(r.goals);
}

export function toJson(r: BenchResult, meta: Record<string, unknown>): unknown {
  return {
    ...meta,
    alpha: ALPHA,
    scenarios: r.scenarios.map((s) => ({
      id: s.id,
      title: s.title,
      traffic: s.traffic,
      looks: s.looks,
      truth: s.truth,
      issue: s.issue ?? 3,
    })),
    methods: r.methods.map((m) => ({ id: m.id, label: m.label, metric: m.metric, vigil: m.vigil, unit: unitOf(m) })),
    cells: [...r.cells.values()],
    goals: r.goals,
    costMs: { byScenario: r.scenarioMs, byMethod: r.methodMs },
  };
}
