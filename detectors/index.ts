import type { DetectorFactory } from '../src/contracts/detector.js';
import { errorRateSequential } from './error-rate-sequential.js';
import { latencySequential } from './latency-sequential.js';
import { kayentaMannWhitney } from './kayenta-mann-whitney.js';
import { srm } from './srm.js';
import { sloGuard } from './slo-guard.js';
import { latencyQuantile } from './latency-quantile.js';
import { ratioSequential } from './ratio-sequential.js';
import { gaugeSequential } from './gauge-sequential.js';

/** The built-in detectors, keyed by their config `type`. An unknown type is a startup error, never a fallback. */
export const BUILTIN_DETECTORS: ReadonlyMap<string, DetectorFactory> = new Map<string, DetectorFactory>(
  [
    errorRateSequential,
    latencySequential,
    kayentaMannWhitney,
    srm,
    sloGuard,
    latencyQuantile,
    ratioSequential,
    gaugeSequential,
  ].map((f) => [f.type, f]),
);
