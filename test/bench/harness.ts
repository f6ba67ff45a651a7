import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A tiny benchmark runner: for each case, `warmup` untimed calls, then `iterations` timed calls
 * (performance.now around the whole loop), reported as µs/op and ops/s. Prints a markdown table and writes
 * the results as JSON to bench-results/<suite>.json (relative to the working directory).
 */
export interface BenchCase {
  name: string;
  /** One operation. Its return value is kept in a sink so the call cannot be optimised away. */
  fn: () => unknown;
  iterations?: number;
  warmup?: number;
}

export interface BenchSuite {
  name: string;
  /** Builds the cases (may do expensive setup, which is not timed). */
  cases: () => BenchCase[];
}

export interface BenchResult {
  name: string;
  iterations: number;
  totalMs: number;
  usPerOp: number;
  opsPerSec: number;
}

let sink: unknown;

/** The last value a benchmarked function returned (exported so the sink is observable). */
export function benchSink(): unknown {
  return sink;
}

export function runCase(c: BenchCase): BenchResult {
  const iterations = c.iterations ?? 1000;
  const warmup = c.warmup ?? Math.min(100, iterations);
  for (let i = 0; i < warmup; i++) sink = c.fn();
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) sink = c.fn();
  const totalMs = performance.now() - t0;
  const usPerOp = (totalMs * 1000) / iterations;
  return { name: c.name, iterations, totalMs, usPerOp, opsPerSec: 1e6 / usPerOp };
}

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toPrecision(3);
}

export function markdownTable(results: readonly BenchResult[]): string {
  const rows = results.map((r) => `| ${r.name} | ${r.iterations} | ${fmt(r.usPerOp)} | ${fmt(r.opsPerSec)} |`);
  return ['| case | iterations | µs/op | ops/s |', '|---|---:|---:|---:|', ...rows].join('\n');
}

/** Runs a suite, prints its table and writes bench-results/<suite>.json. */
export function runSuite(suite: BenchSuite, outDir = 'bench-results'): BenchResult[] {
  const results = suite.cases().map(runCase);
  console.log(`\n## ${suite.name}\n\n${markdownTable(results)}\n`);
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${suite.name}.json`);
  writeFileSync(file, `${JSON.stringify({ suite: suite.name, node: process.version, results }, null, 2)}\n`);
  console.log(`wrote ${file}`);
  return results;
}
