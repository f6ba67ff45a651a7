/**
 * A fleet's request stream for analysis tests (deferred looks, checkpoints): 12 services for 40 looks with every
 * outcome, and the settings it is meant for.
 */
import type { AnalysisSettings } from '../../src/analysis/analysis-registry.js';
import type { RequestSample } from '../../src/contracts/index.js';
import { seededRandom } from '../../src/demo/traffic-generator.js';
import { createErrorRateSequential } from '../../detectors/error-rate-sequential.js';
import { createLatencyQuantile } from '../../detectors/latency-quantile.js';
import { createLatencySequential } from '../../detectors/latency-sequential.js';

export const INTERVAL = 10_000;
export const T0 = 1_767_225_600_000;

export function settings(): AnalysisSettings {
  return {
    intervalMs: INTERVAL,
    allowedLatenessMs: 5_000,
    maxDurationMs: 200_000,
    silenceTimeoutMs: 40_000,
    alpha: 0.05,
    metrics: [
      { name: 'error-rate', shadow: false, weight: 1, detector: createErrorRateSequential('error-rate', {}, 25) },
      { name: 'latency', shadow: false, weight: 1, detector: createLatencySequential('latency', {}, 25) },
      { name: 'latency-p99', shadow: true, weight: 1, detector: createLatencyQuantile('latency-p99', {}, 25) },
    ],
    planFor: () => ['hook'],
    dryRun: false,
    configHash: 'h',
    maxRollbacks: 2,
    stormWindowMs: 3_600_000,
    limits: { maxVersionsPerService: 3 },
  };
}

/**
 * 12 services for 40 looks, in requests of 40 samples: healthy canaries (promoted at maxDuration), bad
 * ones (rolled back, then a new version), one whose canary goes silent and one whose canary pauses
 * (abandoned), one whose baseline version changes mid-way, and late samples.
 */
export function stream(seed: number): RequestSample[][] {
  const rnd = seededRandom(seed);
  const requests: RequestSample[][] = [];
  let batch: RequestSample[] = [];
  for (let t = 0; t < 40 * INTERVAL; t += 50) {
    for (let k = 0; k < 12; k++) {
      const service = `svc-${k}`;
      const bad = k % 4 === 1;
      // svc-2's canary stops; svc-6's pauses after 120 s and resumes at 165.5 s, a few requests after the
      // look that ends at 160 s (the first to find it silent for 40 s) closed at watermark 160 s (data
      // time 165 s): that look must not see the resumed samples, however late it runs
      const silentCanary = (k === 2 && t > 12 * INTERVAL) || (k === 6 && t > 12 * INTERVAL && t < 16.55 * INTERVAL);
      const cohort = rnd() < 0.5 ? 'baseline' : 'canary';
      if (cohort === 'canary' && silentCanary) continue;
      const version =
        cohort === 'baseline' ? (k === 4 && t > 15 * INTERVAL ? '1.1' : '1.0') : t > 25 * INTERVAL ? '2.1' : '2.0';
      const late = rnd() < 0.02 ? 7_000 : 0;
      const errorRate = cohort === 'canary' && bad && version === '2.0' ? 0.2 : 0.02;
      batch.push({
        service,
        version,
        cohort,
        endUnixMs: T0 + t - late + Math.floor(rnd() * 50),
        durationMs: 20 * Math.exp(0.5 * (rnd() + rnd() + rnd() - 1.5)) * (cohort === 'canary' && k % 4 === 3 ? 1.3 : 1),
        error: rnd() < errorRate,
      });
      if (batch.length === 40) {
        requests.push(batch);
        batch = [];
      }
    }
  }
  if (batch.length > 0) requests.push(batch);
  return requests;
}

/** The config's event-time defaults (10 s looks, lateness 5 s, maxDuration 30 m, silence 5 m, no idle timeout set)
 *  with the error-rate and latency detectors: the settings of the event-time tests, `over` on top. */
export function eventTimeSettings(over: Partial<AnalysisSettings> = {}): AnalysisSettings {
  return {
    intervalMs: INTERVAL,
    allowedLatenessMs: 5_000,
    maxDurationMs: 1_800_000,
    silenceTimeoutMs: 300_000,
    alpha: 0.05,
    metrics: [
      { name: 'error-rate', shadow: false, weight: 1, detector: createErrorRateSequential('error-rate', {}, 25) },
      { name: 'latency', shadow: false, weight: 1, detector: createLatencySequential('latency', {}, 25) },
    ],
    planFor: () => ['hook'],
    dryRun: false,
    configHash: 'h',
    maxRollbacks: 3,
    stormWindowMs: 3_600_000,
    ...over,
  };
}
