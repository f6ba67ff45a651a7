import type { DetectorFactory } from '../src/contracts/detector.js';
import { errorRateSequential } from './error-rate-sequential.js';
import { latencySequential } from './latency-sequential.js';

/** The built-in detectors, keyed by their config `type`. An unknown type is a startup error, never a fallback. */
export const BUILTIN_DETECTORS: ReadonlyMap<string, DetectorFactory> = new Map<string, DetectorFactory>(
  [errorRateSequential, latencySequential].map((f) => [f.type, f]),
);
