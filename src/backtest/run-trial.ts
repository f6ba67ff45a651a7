/**
 * One backtest pipeline run: one trial (a salt for the trace-id split) x one scenario (A/A or an injected
 * regression), over the whole in-memory recording, through a fresh AnalysisRegistry with the configured
 * detectors and decision engine, in event time, with the line batching of `vigil replay`. No actions.
 *
 * The split: a request goes to the pseudo-canary when uniform(traceId, salt) < share, so every request of a
 * trace lands in the same cohort, and every trial draws an independent split. Scenarios of one trial share
 * the split (paired comparison). Injections change only pseudo-canary requests, deterministically (seeded):
 * - error x f: a request of the canary fails with probability f x p (p: the service's error rate in the
 *   used traffic): successes are flipped with q = (f - 1) p / (1 - p); for f < 1 failures are kept with f;
 * - latency x f: every canary duration x f;
 * - tail x f: canary requests slower than the service's 95th percentile x f.
 * The attempts of one request (spans of one trace, service and cohort in one look) are grouped by the registry
 * as in `serve` and `replay` (analysis.requestUnit; the trace key comes from the recording's trace ids), after
 * the injection, which draws per span.
 * Cost: O(requests) per run, plus the detectors' O(1) per look.
 */
import { AnalysisRegistry, type AnalysisSettings } from '../analysis/analysis-registry.js';
import type { RequestSample } from '../contracts/index.js';
import { hashString, mix3, uniform3 } from './hash.js';
import type { SampleStore } from './sample-store.js';
import type { Injection } from './scenarios.js';
import { BASELINE_VERSION, type Plans, type ServicePlan } from './service-plans.js';

export type RunOutcome = 'rollback' | 'promote-pass' | 'promote-max' | 'abandoned' | 'undecided';

export interface AnalysisRun {
  /** Index into Plans.plans. */
  plan: number;
  window: number;
  outcome: RunOutcome;
  /** Look of the decision (or the last look run when undecided). */
  look: number;
  /** Per configured metric: the first look at which its verdict was `fail` (0: never). */
  firstFail: number[];
}

export interface TrialInput {
  store: SampleStore;
  plans: Plans;
  settings: AnalysisSettings;
  seed: number;
  trial: number;
  injection?: Injection;
}

const SPLIT = 0x51;
const INJECT = 0x1e;

/** Per service: what the injection does (probabilities and thresholds prepared once per run). */
interface InjectionPlan {
  flip: number;
  keep: number;
  tailMs: number;
}

function injectionPlan(p: ServicePlan, inj: Injection | undefined): InjectionPlan {
  if (!inj || inj.kind !== 'error') return { flip: 0, keep: 1, tailMs: p.p95Ms };
  const rate = p.baselineErrorRate;
  if (inj.factor >= 1)
    return { flip: rate >= 1 ? 0 : Math.min(1, ((inj.factor - 1) * rate) / (1 - rate)), keep: 1, tailMs: p.p95Ms };
  return { flip: 0, keep: inj.factor, tailMs: p.p95Ms };
}

/** A fresh registry for one run, and the runs (one per analysis window) that its hooks fill in. */
function trialRegistry(
  plans: Plans,
  settings: AnalysisSettings,
): { registry: AnalysisRegistry; runs: Map<string, AnalysisRun> } {
  const runs = new Map<string, AnalysisRun>();
  const ids = new Map<string, { plan: number; window: number }>();
  plans.plans.forEach((p, i) => p.canaryVersions.forEach((v, w) => ids.set(`${p.name}:${v}`, { plan: i, window: w })));
  const metricCount = settings.metrics.length;
  const runFor = (id: string): AnalysisRun | undefined => {
    let r = runs.get(id);
    if (!r) {
      const at = ids.get(id);
      if (!at) return undefined;
      r = { ...at, outcome: 'undecided', look: 0, firstFail: new Array<number>(metricCount).fill(0) };
      runs.set(id, r);
    }
    return r;
  };
  const registry = new AnalysisRegistry(settings, {
    onAnalysisStarted: (a) => void runFor(a.id),
    onLook: (e) => {
      const r = runFor(e.analysis.id);
      if (!r) return;
      r.look = e.analysis.look;
      e.analysis.verdicts.forEach((v, m) => {
        if (v.phase === 'fail' && r.firstFail[m] === 0) r.firstFail[m] = e.analysis.look;
      });
    },
    onDecision: (d) => {
      const r = runFor(d.analysis);
      if (!r) return;
      r.look = d.look;
      if (d.outcome === 'rollback' || d.outcome === 'abandoned') r.outcome = d.outcome;
      else {
        const acting = d.verdicts.filter((v) => !v.shadow);
        r.outcome = acting.length > 0 && acting.every((v) => v.phase === 'pass') ? 'promote-pass' : 'promote-max';
      }
    },
  });
  return { registry, runs };
}

export function runTrial(input: TrialInput): AnalysisRun[] {
  const { store, plans, settings, seed, trial, injection } = input;
  const byService: (ServicePlan | undefined)[] = new Array<ServicePlan | undefined>(store.services.length);
  const injBy: InjectionPlan[] = new Array<InjectionPlan>(store.services.length);
  for (const p of plans.plans) {
    byService[p.index] = p;
    injBy[p.index] = injectionPlan(p, injection);
  }
  const { registry, runs } = trialRegistry(plans, settings);

  const splitSalt = mix3(seed, trial, SPLIT);
  const injectSalt = mix3(seed, trial, hashString(injection ? `${injection.kind}=${injection.factor}` : '', INJECT));
  const pool: RequestSample[] = [];
  const { used, window } = plans;
  let start = 0;
  for (const end of store.lineEnds) {
    let k = 0;
    for (let i = start; i < end; i++) {
      if (used[i] !== 1) continue;
      const svc = store.service[i]!;
      const p = byService[svc]!;
      let s = pool[k];
      if (!s)
        pool.push(
          (s = {
            service: '',
            version: '',
            cohort: 'baseline',
            endUnixMs: 0,
            durationMs: 0,
            error: false,
            traceKey: 0,
          }),
        );
      k++;
      const a = store.traceA[i]!;
      const b = store.traceB[i]!;
      s.service = p.name;
      // the trace key that groups a request's attempts (analysis.requestUnit): 20 + 32 bits of the trace id's
      // two hashes, as the live decoders' 52-bit key (a request without a trace id has a key of its own)
      s.traceKey = (a >>> 12) * 4294967296 + b;
      s.endUnixMs = store.endUnixMs[i]!;
      let duration = store.durationMs[i]!;
      let error = store.error[i] === 1;
      if (uniform3(a, b, splitSalt) < p.share) {
        s.cohort = 'canary';
        s.version = p.canaryVersions[window[i]!]!;
        if (injection) {
          const ip = injBy[svc]!;
          if (injection.kind === 'latency') duration *= injection.factor;
          else if (injection.kind === 'tail') {
            if (duration > ip.tailMs) duration *= injection.factor;
          } else {
            const u = uniform3((a ^ i) >>> 0, b, injectSalt);
            error = error ? u < ip.keep : u < ip.flip;
          }
        }
      } else {
        s.cohort = 'baseline';
        s.version = BASELINE_VERSION;
      }
      s.durationMs = duration;
      s.error = error;
      // the span indicators the request matched (where filters): injected regressions reach them with it
      const set = store.indicatorSets[store.indicatorSet[i]!];
      if (set === undefined) delete s.indicators;
      else s.indicators = set as string[];
    }
    start = end;
    if (k > 0) registry.ingest(pool.slice(0, k));
  }
  registry.flush();
  return [...runs.values()];
}
