import { detectorsPerLook } from './detectors-per-look.js';
import type { BenchSuite } from './harness.js';
import { runSuite } from './harness.js';

/**
 * `npm run bench` (node --import tsx test/bench/run.ts): runs every suite listed here, in order, and writes
 * bench-results/<suite>.json for each. Add a suite by importing its module and listing it.
 */
const SUITES: readonly BenchSuite[] = [detectorsPerLook];

const t0 = performance.now();
for (const suite of SUITES) runSuite(suite);
console.log(`\nall suites done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
