/**
 * What the backtest uses of each service's recorded traffic, decided once before the trials:
 *
 * - which requests: the BASELINE cohort when the recording has one (the canary in the recording may be
 *   genuinely different, so it is left out), else every request of the service (cohorts unknown);
 * - the pseudo-canary share of the split: `rollouts[].expectedCanaryShare` when configured (so a
 *   sample-ratio guard is satisfied), else the option, else the share the real canary had in the recording,
 *   else 1/2;
 * - analysis windows: consecutive slices of maxDuration (rounded up to whole looks) from the look of the
 *   first request; each is one independent analysis per trial (its own canary version). A recording
 *   shorter than maxDuration gives one shorter analysis; the last window also takes the recording's tail.
 * - facts the injections and the report need: baseline error rate, median and 95th-percentile latency.
 *
 * Complexity: O(n) plus a sort of each service's durations.
 */
import type { LoadedConfig } from '../config/load.js';
import { COHORT_BASELINE, COHORT_CANARY, type SampleStore } from './sample-store.js';

export interface ServicePlan {
  index: number;
  name: string;
  /** 'baseline': the baseline cohort is split; 'all': cohorts unknown, all traffic is split. */
  source: 'baseline' | 'all';
  /** Requests used (inside the windows). */
  requests: number;
  errors: number;
  baselineErrorRate: number;
  medianMs: number;
  p95Ms: number;
  share: number;
  shareSource: 'config' | 'option' | 'recording' | 'default';
  firstUnixMs: number;
  /** Event time from the first to the last used request. */
  recordedMs: number;
  windowMs: number;
  windows: number;
  /** Event time covered by the analyses (windows x windowMs, or the recording when shorter). */
  coveredMs: number;
  /** Used requests per distinct trace id (> 1: a trace holds several requests of this service). */
  requestsPerTrace: number;
  /** Mean requests per look of the split traffic, per pseudo-cohort. */
  perLook: { canary: number; baseline: number };
  /** Canary version of each window; the baseline version is BASELINE_VERSION. */
  canaryVersions: string[];
}

export const BASELINE_VERSION = 'aa-baseline';

export interface PlanOptions {
  /** A fixed pseudo-canary share for every service without a configured one; undefined = from the recording. */
  canaryShare?: number;
  /** Only these services (all when empty). */
  services?: readonly string[];
}

export interface Plans {
  plans: ServicePlan[];
  /** Per sample: 1 when a trial feeds it to the pipeline. */
  used: Uint8Array;
  /** Per sample: its window (valid where `used`). */
  window: Uint16Array;
  /** Services seen but left out, and why. */
  skipped: { service: string; reason: string }[];
}

function quantileSorted(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

/**
 * Per service: its requests per cohort, which requests the backtest may use (`eligible`: the baseline
 * cohort when there is one, else all), and the event time of the first and last of those.
 */
function scanServices(store: SampleStore) {
  const k = store.services.length;
  const baseline = new Float64Array(k);
  const canary = new Float64Array(k);
  const first = new Float64Array(k).fill(Infinity);
  const last = new Float64Array(k).fill(-Infinity);
  for (let i = 0; i < store.length; i++) {
    const s = store.service[i]!;
    if (store.cohort[i] === COHORT_BASELINE) baseline[s]!++;
    else if (store.cohort[i] === COHORT_CANARY) canary[s]!++;
  }
  const source = (s: number): ServicePlan['source'] => (baseline[s]! > 0 ? 'baseline' : 'all');
  const eligible = (i: number) => source(store.service[i]!) === 'all' || store.cohort[i] === COHORT_BASELINE;
  for (let i = 0; i < store.length; i++) {
    if (!eligible(i)) continue;
    const s = store.service[i]!;
    const t = store.endUnixMs[i]!;
    if (t < first[s]!) first[s] = t;
    if (t > last[s]!) last[s] = t;
  }
  return { baseline, canary, first, last, source, eligible };
}

export function planServices(store: SampleStore, loaded: LoadedConfig, opts: PlanOptions): Plans {
  const { interval, minSamples } = loaded.config.analysis;
  const scan = scanServices(store);
  const partial = windowPlans(store, loaded, opts, scan);
  const traffic = usedTraffic(store, partial, scan.eligible);
  const { plans, skipped, dropped } = completePlans(partial, traffic, interval, minSamples);
  const { used, window } = traffic;
  if (dropped.size > 0) for (let i = 0; i < store.length; i++) if (dropped.has(store.service[i]!)) used[i] = 0;
  return { plans, used, window, skipped };
}

/** A service's plan before its used requests are counted: which traffic, the pseudo-canary share, the windows. */
type WindowPlan = Omit<
  ServicePlan,
  'requests' | 'errors' | 'baselineErrorRate' | 'medianMs' | 'p95Ms' | 'perLook' | 'requestsPerTrace'
>;

/** Per service (by index; undefined when not wanted): its traffic source, share and analysis windows. */
function windowPlans(
  store: SampleStore,
  loaded: LoadedConfig,
  opts: PlanOptions,
  scan: ReturnType<typeof scanServices>,
): (WindowPlan | undefined)[] {
  const { interval, maxDuration } = loaded.config.analysis;
  const configShare = new Map(
    loaded.config.rollouts
      .filter((r) => r.expectedCanaryShare !== undefined)
      .map((r) => [r.service, r.expectedCanaryShare!]),
  );
  const k = store.services.length;
  const { baseline, canary, first, last, source } = scan;
  const windowMs = Math.ceil(maxDuration / interval) * interval;
  const wanted = opts.services && opts.services.length > 0 ? new Set(opts.services) : undefined;
  const partial: (WindowPlan | undefined)[] = [];
  for (let s = 0; s < k; s++) {
    const name = store.services[s]!;
    if (wanted && !wanted.has(name)) {
      partial.push(undefined);
      continue;
    }
    const t0 = Math.floor(first[s]! / interval) * interval;
    const recordedMs = last[s]! - t0;
    // a window missing less than one look at the end of the recording still counts as whole
    const windows = Math.max(1, Math.floor((recordedMs + interval) / windowMs));
    const coveredMs = Math.min(windows * windowMs, Math.ceil((recordedMs + 1) / interval) * interval);
    const [share, shareSource] = canaryShare(configShare.get(name), opts.canaryShare, baseline[s]!, canary[s]!);
    const canaryVersions = Array.from({ length: windows }, (_, w) => `aa-canary-${w + 1}`);
    partial.push({
      index: s,
      name,
      source: source(s),
      share,
      shareSource,
      firstUnixMs: t0,
      recordedMs,
      windowMs,
      windows,
      coveredMs,
      canaryVersions,
    });
  }
  return partial;
}

/** The pseudo-canary share: configured, else the option, else the recording's canary share, else 1/2. */
function canaryShare(
  fromConfig: number | undefined,
  fromOption: number | undefined,
  baseline: number,
  canary: number,
): [number, ServicePlan['shareSource']] {
  let share: number;
  let shareSource: ServicePlan['shareSource'];
  if (fromConfig !== undefined) [share, shareSource] = [fromConfig, 'config'];
  else if (fromOption !== undefined) [share, shareSource] = [fromOption, 'option'];
  else if (baseline > 0 && canary > 0) [share, shareSource] = [canary / (canary + baseline), 'recording'];
  else [share, shareSource] = [0.5, 'default'];
  return [share, shareSource];
}

/** The requests a trial feeds to the pipeline, their windows, and per service their durations, errors and traces. */
interface UsedTraffic {
  used: Uint8Array;
  window: Uint16Array;
  durations: number[][];
  errors: Float64Array;
  traces: Set<number>[];
}

/** Marks each eligible request of a planned service as used, with its window, and sums what the plans need. */
function usedTraffic(
  store: SampleStore,
  partial: readonly (WindowPlan | undefined)[],
  eligible: (i: number) => boolean,
): UsedTraffic {
  const k = store.services.length;
  const used = new Uint8Array(store.length);
  const window = new Uint16Array(store.length);
  const durations: number[][] = Array.from({ length: k }, () => []);
  const errors = new Float64Array(k);
  const traces: Set<number>[] = Array.from({ length: k }, () => new Set<number>());
  for (let i = 0; i < store.length; i++) {
    const p = partial[store.service[i]!];
    if (!p || !eligible(i)) continue;
    // the last window also takes the tail of the recording (less than a window), so that an analysis that
    // started a few looks into its window still reaches maxDuration
    const w = Math.min(p.windows - 1, Math.floor((store.endUnixMs[i]! - p.firstUnixMs) / p.windowMs));
    used[i] = 1;
    window[i] = w;
    durations[p.index]!.push(store.durationMs[i]!);
    errors[p.index]! += store.error[i]!;
    traces[p.index]!.add(store.traceA[i]!);
  }
  return { used, window, durations, errors, traces };
}

/** The plans of services with at least 2 x minSamples used requests, with their traffic facts; the others are
 *  skipped (and their indexes returned as `dropped`). */
function completePlans(
  partial: readonly (WindowPlan | undefined)[],
  traffic: UsedTraffic,
  interval: number,
  minSamples: number,
): { plans: ServicePlan[]; skipped: Plans['skipped']; dropped: Set<number> } {
  const { durations, errors, traces } = traffic;
  const skipped: Plans['skipped'] = [];
  const plans: ServicePlan[] = [];
  const dropped = new Set<number>();
  for (const p of partial) {
    if (!p) continue;
    const n = durations[p.index]!.length;
    if (n < 2 * minSamples) {
      skipped.push({ service: p.name, reason: `${n} usable requests, fewer than 2 x minSamples (${minSamples})` });
      dropped.add(p.index);
      continue;
    }
    const sorted = Float64Array.from(durations[p.index]!).sort();
    const looks = Math.max(1, p.coveredMs / interval);
    const perLook = n / looks;
    plans.push({
      ...p,
      requests: n,
      errors: errors[p.index]!,
      baselineErrorRate: errors[p.index]! / n,
      medianMs: quantileSorted(sorted, 0.5),
      p95Ms: quantileSorted(sorted, 0.95),
      requestsPerTrace: n / Math.max(1, traces[p.index]!.size),
      perLook: { canary: perLook * p.share, baseline: perLook * (1 - p.share) },
    });
  }
  return { plans, skipped, dropped };
}
