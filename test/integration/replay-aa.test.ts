/**
 * `vigil replay` on a recording holding MANY independent services, each an A/A pair (canary and baseline
 * drawn from the same distribution): one A/A trial per service, so the fraction of services rolled back
 * estimates the false-rollback probability, which Vigil promises is at most alpha. A positive control (the
 * same kind of recording with regressed canaries) shows the replay does roll back when it should.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';
import { generateRecording, manyServicesSpec } from '../helpers/generate-recordings.js';

const root = join(import.meta.dirname, '../..');
const config = join(root, 'fixtures/recordings/vigil-backtest.yaml'); // alpha 0.05, 10s looks, maxDuration 3m
const ALPHA = 0.05;
let stdout = '';

beforeEach(() => {
  stdout = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => vi.restoreAllMocks());

interface Line {
  type: string;
  service?: string;
  outcome?: string;
  analyses?: number;
  outcomes?: Record<string, number>;
  badLines?: number;
}

async function replay(file: string): Promise<{ decisions: Line[]; summary: Line }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-replay-aa-'));
  stdout = '';
  expect(await main(['node', 'vigil', 'replay', '--config', config, '--audit', join(dir, 'audit.jsonl'), file])).toBe(
    0,
  );
  const lines = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
  return { decisions: lines.filter((l) => l.type === 'decision'), summary: lines.at(-1)! };
}

/** P(X >= k) for X ~ Binomial(n, p), exactly (log-space terms). */
function binomialUpperTail(k: number, n: number, p: number): number {
  let logC = 0;
  let total = 0;
  for (let i = 0; i <= n; i++) {
    if (i > 0) logC += Math.log((n - i + 1) / i);
    if (i >= k) total += Math.exp(logC + i * Math.log(p) + (n - i) * Math.log1p(-p));
  }
  return total;
}

describe('vigil replay: false rollbacks over many independent A/A services', () => {
  it('rolls back a fraction of the 200 healthy canaries consistent with alpha', async () => {
    const { decisions, summary } = await replay(join(root, 'fixtures/recordings/many-services-aa.jsonl.gz'));
    expect(summary).toMatchObject({ type: 'summary', analyses: 200, badLines: 0 });
    // every service's analysis ended with exactly one decision (maxDuration 3m < the 190 s recording)
    expect(new Set(decisions.map((d) => d.service)).size).toBe(200);
    expect(decisions).toHaveLength(200);
    const rollbacks = decisions.filter((d) => d.outcome === 'rollback').length;
    const n = decisions.length;
    const tail = binomialUpperTail(rollbacks, n, ALPHA);
    console.log(
      `[replay-aa] false rollbacks: ${rollbacks}/${n} = ${((100 * rollbacks) / n).toFixed(1)}% (alpha ${ALPHA * 100}%; P(X >= ${rollbacks} | Binomial(${n}, ${ALPHA})) = ${tail.toPrecision(3)}); outcomes ${JSON.stringify(summary.outcomes)}`,
    );
    // not significantly above alpha: at alpha exactly, seeing this many or more has probability >= 1%
    expect(tail).toBeGreaterThanOrEqual(0.01);
    expect(rollbacks / n).toBeLessThanOrEqual(ALPHA + 2.33 * Math.sqrt((ALPHA * (1 - ALPHA)) / n));
  }, 120_000);

  it('positive control: the same kind of fleet with regressed canaries is rolled back', async () => {
    const spec = manyServicesSpec(20);
    for (const s of spec.services) {
      const canary = s.cohorts.find((c) => c.cohort === 'canary')!;
      canary.errorRate = Math.min(0.5, s.errorRate * 5);
      canary.latencyFactor = 2;
    }
    const dir = mkdtempSync(join(tmpdir(), 'vigil-replay-aa-'));
    const file = join(dir, 'regressed.jsonl');
    writeFileSync(file, await generateRecording(spec));
    const { decisions } = await replay(file);
    const rollbacks = decisions.filter((d) => d.outcome === 'rollback').length;
    console.log(`[replay-aa] positive control: ${rollbacks}/20 regressed canaries rolled back`);
    expect(rollbacks).toBeGreaterThanOrEqual(18);
  }, 120_000);
});
