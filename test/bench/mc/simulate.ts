import type { LookInput } from '../../../src/contracts/detector.js';
import type { CohortPair } from '../../../src/contracts/evidence.js';
import { emptyPair, mergePair } from '../../../src/evidence/cohort-batch.js';
import { seededRandom } from '../../../src/demo/traffic-generator.js';
import type { MethodSpec } from './methods.js';
import { METHODS, unitOf } from './methods.js';
import type { LookPlan, Scenario } from './scenarios.js';
import { scenarioById } from './scenarios.js';
import type { CohortTraffic, Rand } from './traffic.js';
import { binomial, cohortViews, mergeRequestBatch } from './traffic.js';

/**
 * One replicate = one simulated canary analysis of `scenario.looks` looks; every method sees the same looks
 * (paired comparison) and is stopped at its first alarm. Seeds depend only on (scenario, replicate), so a run
 * gives the same numbers however its replicates are spread over worker threads.
 */

/** FNV-1a of a string: the scenario's seed base. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function replicateSeed(scenarioId: string, replicate: number, baseSeed = 1): number {
  return (hash(scenarioId) ^ Math.imul(replicate + 1, 0x9e3779b1) ^ Math.imul(baseSeed, 0x85ebca6b)) >>> 0;
}

/**
 * One look in both units (traffic.ts): `span` counts every attempt, `request` counts each request once and carries
 * its `retries`. The same pair when the look retried nothing.
 */
export interface LookViews {
  span: CohortPair;
  request: CohortPair;
}

function cohortTraffic(plan: LookPlan, cohort: 'canary' | 'baseline'): CohortTraffic {
  const canary = cohort === 'canary';
  if ('routes' in plan)
    return {
      routes: plan.routes.map((r) => ({
        route: r.route,
        share: canary ? r.shareCanary : r.shareBaseline,
        err: canary ? r.errCanary : r.errBaseline,
        lat: canary ? r.latCanary : r.latBaseline,
      })),
    };
  return { err: canary ? plan.errCanary : plan.errBaseline, lat: canary ? plan.latCanary : plan.latBaseline };
}

/**
 * Draws look `look` of `scenario` from `rand`: the plan's own draws, the realised split, then the canary's batch
 * and the baseline's (the order the issue-3 scenarios always used, so their numbers do not move).
 */
export function drawLook(scenario: Scenario, look: number, rand: Rand, memo: Record<string, number[]> = {}): LookViews {
  const plan = scenario.plan(look, rand);
  let nc: number;
  let nb: number;
  if (plan.total !== undefined && plan.share !== undefined) {
    nc = binomial(rand, plan.total, plan.share);
    nb = plan.total - nc;
  } else {
    nc = plan.canary ?? 0;
    nb = plan.baseline ?? 0;
  }
  const canary = cohortViews(rand, nc, cohortTraffic(plan, 'canary'), plan.meanFailedAttempts);
  const baseline = cohortViews(rand, nb, cohortTraffic(plan, 'baseline'), plan.meanFailedAttempts);
  if (scenario.indicator !== undefined) {
    const extra = scenario.indicator.draw(look, rand, memo);
    Object.assign(canary.span, extra.canary);
    Object.assign(baseline.span, extra.baseline);
  }
  const span: CohortPair = { canary: canary.span, baseline: baseline.span };
  const same = canary.request === canary.span && baseline.request === baseline.span;
  return { span, request: same ? span : { canary: canary.request, baseline: baseline.request } };
}

/**
 * First alarm look of each method (null: no alarm within the horizon). Each method sees the look in the unit it
 * declares (MethodSpec.unit). `methodMs`, when given, accumulates the time spent in each method's looks (for the
 * cost table).
 */
export function runReplicate(
  scenario: Scenario,
  methods: readonly MethodSpec[],
  seed: number,
  methodMs?: number[],
): (number | null)[] {
  const rand = seededRandom(seed);
  const runs = methods.map((m) => m.create());
  const alarms: (number | null)[] = methods.map(() => null);
  let open = methods.length;
  const totals: CohortPair = emptyPair();
  const requestTotals: CohortPair = emptyPair();
  const byRequest = methods.some((m) => unitOf(m) === 'request');
  const memo: Record<string, number[]> = {};
  for (let look = 1; look <= scenario.looks && open > 0; look++) {
    const views = drawLook(scenario, look, rand, memo);
    mergePair(totals, views.span);
    const base = { analysisId: `mc-${scenario.id}`, look, atUnixMs: 1_700_000_000_000 + look * 10_000 };
    const spanInput: LookInput = { ...base, batch: views.span, totals };
    let requestInput = spanInput;
    if (byRequest) {
      mergeRequestBatch(requestTotals.canary, views.request.canary);
      mergeRequestBatch(requestTotals.baseline, views.request.baseline);
      requestInput = { ...base, batch: views.request, totals: requestTotals };
    }
    runs.forEach((r, i) => {
      if (alarms[i] !== null) return;
      const t0 = methodMs === undefined ? 0 : performance.now();
      const alarm = r.look(unitOf(methods[i] as MethodSpec) === 'request' ? requestInput : spanInput);
      if (methodMs !== undefined) methodMs[i] = (methodMs[i] ?? 0) + performance.now() - t0;
      if (alarm) {
        alarms[i] = look;
        open -= 1;
      }
    });
  }
  return alarms;
}

/** A unit of work for a worker: replicates [from, to) of one scenario. */
export interface Task {
  scenario: string;
  from: number;
  to: number;
  baseSeed: number;
  /** Method ids to run (all when absent). */
  methods?: string[];
}

export interface TaskResult {
  scenario: string;
  from: number;
  /** alarms[replicate - from][method index in `methodIds`]. */
  alarms: (number | null)[][];
  methodIds: string[];
  /** Wall time of the whole task and the part spent in each method's looks (ms). */
  ms: number;
  methodMs: number[];
}

export function selectMethods(ids?: readonly string[]): MethodSpec[] {
  if (ids === undefined) return [...METHODS];
  return ids.map((id) => {
    const m = METHODS.find((x) => x.id === id);
    if (m === undefined) throw new Error(`unknown method ${id}`);
    return m;
  });
}

export function runTask(task: Task): TaskResult {
  const t0 = performance.now();
  const scenario = scenarioById(task.scenario);
  const methods = selectMethods(task.methods).filter((m) =>
    m.scenarios === undefined ? scenario.indicator === undefined : m.scenarios.includes(scenario.id),
  );
  const alarms: (number | null)[][] = [];
  const methodMs = methods.map(() => 0);
  for (let r = task.from; r < task.to; r++)
    alarms.push(runReplicate(scenario, methods, replicateSeed(scenario.id, r, task.baseSeed), methodMs));
  return {
    scenario: task.scenario,
    from: task.from,
    alarms,
    methodIds: methods.map((m) => m.id),
    ms: performance.now() - t0,
    methodMs,
  };
}
