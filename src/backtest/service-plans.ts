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
  const { interval, maxDuration, minSamples } = loaded.config.analysis;
  const configShare = new Map(
    loaded.config.rollouts
      .filter((r) => r.expectedCanaryShare !== undefined)
      .map((r) => [r.service, r.expectedCanaryShare!]),
  );
  const k = store.services.length;
  const { baseline, canary, first, last, source, eligible } = scanServices(store);
  const windowMs = Math.ceil(maxDuration / interval) * interval;
  const wanted = opts.services && opts.services.length > 0 ? new Set(opts.services) : undefined;
  const skipped: Plans['skipped'] = [];
  const partial: (
    | Omit<
        ServicePlan,
        'requests' | 'errors' | 'baselineErrorRate' | 'medianMs' | 'p95Ms' | 'perLook' | 'requestsPerTrace'
      >
    | undefined
  )[] = [];
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
    let share: number;
    let shareSource: ServicePlan['shareSource'];
    const fromConfig = configShare.get(name);
    if (fromConfig !== undefined) [share, shareSource] = [fromConfig, 'config'];
    else if (opts.canaryShare !== undefined) [share, shareSource] = [opts.canaryShare, 'option'];
    else if (baseline[s]! > 0 && canary[s]! > 0)
      [share, shareSource] = [canary[s]! / (canary[s]! + baseline[s]!), 'recording'];
    else [share, shareSource] = [0.5, 'default'];
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
  if (dropped.size > 0) for (let i = 0; i < store.length; i++) if (dropped.has(store.service[i]!)) used[i] = 0;
  return { plans, used, window, skipped };
}
