/**
 * `vigil replay` of recorded business metrics (issue 16): OTLP counters and gauges as JSON lines, in synthetic time,
 * through the agent's own pipeline. A canary whose conversion drops 30% is rolled back on `conversion`; its A/A twin
 * is promoted; the decision's verdicts say which way is worse.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { seededRandom } from '../../src/demo/traffic-generator.js';
import { silentLogger } from '../../src/logger.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';
import { runReplay } from '../../src/replay/run-replay.js';
import { businessMetrics } from '../helpers/metrics-builders.js';

const T0 = 1_767_225_600_000;

/** Conversions of n checkouts at rate p. */
function binomial(rand: () => number, n: number, p: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (rand() < p) k++;
  return k;
}

describe('vigil replay of recorded business metrics', () => {
  it('rolls back the canary that converts 30% less, promotes its A/A twin', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-replay-business-'));
    const rand = seededRandom(16);
    const lines: string[] = [];
    // per instance: cumulative counters since T0 - 60 s (a series that predates the recording)
    const totals = new Map<string, { started: number; completed: number }>();
    for (let e = 1; e <= 90; e++) {
      const end = T0 + e * 2000; // one export every 2 s, 5 per 10 s look
      for (const [service, canaryRate] of [
        ['shop', 0.14],
        ['shop-twin', 0.2],
      ] as const) {
        for (const [version, cohort, rate] of [
          ['1.0', 'baseline', 0.2],
          ['2.0', 'canary', canaryRate],
        ] as const) {
          for (let k = 0; k < 2; k++) {
            const instance = `${service}-${cohort}-${k}`;
            const t = totals.get(instance) ?? { started: 0, completed: 0 };
            const n = 100;
            t.started += n;
            t.completed += binomial(rand, n, rate);
            totals.set(instance, t);
            const rm = businessMetrics({
              service,
              version,
              cohort,
              instance,
              temporality: 'cumulative',
              start: T0 - 60_000,
              end,
              points: [
                { name: 'checkout.started', kind: 'counter', value: t.started },
                { name: 'checkout.completed', kind: 'counter', value: t.completed },
                { name: 'process.memory.usage', kind: 'gauge', value: 2e8 * (1 + 0.02 * k) },
              ],
            });
            lines.push(Buffer.from(JsonMetricsSerializer.serializeRequest(rm)!).toString('utf8'));
          }
        }
      }
    }
    const file = join(dir, 'business.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const loaded = parseConfig(
      `
analysis:
  interval: 10s
  allowedLateness: 2s
  minSamples: 25
  maxDuration: 2m
  alpha: 0.01
  metrics:
    - name: conversion
      detector: ratio-sequential
      options:
        numerator: { metric: checkout.completed }
        denominator: { metric: checkout.started }
        worse: lower
    - name: memory
      detector: gauge-sequential
      options: { metric: process.memory.usage, tolerance: 0.2 }
`,
      'replay.yaml',
      BUILTIN_REGISTRIES,
      {},
    );
    const out: string[] = [];
    const summary = await runReplay({
      loaded,
      registries: BUILTIN_REGISTRIES,
      files: [file],
      logger: silentLogger(),
      format: 'json',
      out: (l) => out.push(l),
      auditPath: join(dir, 'audit.jsonl'),
    });
    expect(summary).toMatchObject({ metricLines: lines.length, badLines: 0 });
    const decisions = out.map((l) => JSON.parse(l)).filter((d) => d.type === 'decision');
    const shop = decisions.find((d) => d.service === 'shop');
    expect(shop).toMatchObject({ outcome: 'rollback', canaryVersion: '2.0' });
    expect(shop.reasons.map((r: { metric: string }) => r.metric)).toEqual(['conversion']);
    const twin = decisions.find((d) => d.service === 'shop-twin');
    expect(twin?.outcome).toBe('promote');
  });
});
