/**
 * `vigil replay` of a recording whose trace lines are each delivered twice (a retry right after a lost
 * answer) gives the same decisions as the clean recording: every duplicated span counts once (issue 11).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';
import { generateRecording, manyServicesSpec } from '../helpers/generate-recordings.js';

const root = join(import.meta.dirname, '../..');
const config = join(root, 'fixtures/recordings/vigil-backtest.yaml');
let stdout = '';

beforeEach(() => {
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => vi.restoreAllMocks());

interface Line {
  type: string;
  [k: string]: unknown;
}

async function replay(file: string): Promise<{ decisions: Line[]; summary: Line }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-replay-dedup-'));
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

describe('vigil replay with every trace line delivered twice', () => {
  it('decides as on the clean recording, counting each span once', async () => {
    const spec = manyServicesSpec(6, 120_000);
    for (const s of spec.services) {
      const canary = s.cohorts.find((c) => c.cohort === 'canary')!;
      canary.errorRate = Math.min(0.5, s.errorRate * 5);
      canary.latencyFactor = 2;
    }
    const dir = mkdtempSync(join(tmpdir(), 'vigil-replay-dedup-'));
    const text = await generateRecording(spec);
    const clean = join(dir, 'clean.jsonl');
    const doubled = join(dir, 'doubled.jsonl');
    writeFileSync(clean, text);
    const lines = text.split('\n').filter((l) => l !== '');
    writeFileSync(doubled, `${lines.flatMap((l) => [l, l]).join('\n')}\n`);
    const a = await replay(clean);
    const b = await replay(doubled);
    expect(a.decisions.length).toBeGreaterThan(0);
    const strip = (d: Line[]) => d.map(({ id: _id, decisionId: _d, ...rest }) => rest);
    expect(strip(b.decisions)).toEqual(strip(a.decisions));
    expect(a.summary.duplicateSamples).toBe(0);
    expect(b.summary.samples).toBe(2 * (a.summary.samples as number));
    expect(b.summary.duplicateSamples).toBe(a.summary.samples);
    expect(b.summary.lateSamples).toBe(a.summary.lateSamples);
    expect(b.summary.outcomes).toEqual(a.summary.outcomes);
  }, 120_000);
});
