/** `vigil replay` on recorded OTLP metrics (JSON lines): a metrics-only canary twice as slow is rolled back. */
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
import { add, bucketCounts, resourceMetrics } from '../helpers/metrics-builders.js';

describe('vigil replay of recorded metrics', () => {
  it('replays histogram points through the same pipeline and rolls back the slow canary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-replay-metrics-'));
    const T0 = 1_767_225_600_000;
    const rand = seededRandom(3);
    const ok = { 'http.response.status_code': 200 };
    let base = new Array<number>(15).fill(0);
    let canary = new Array<number>(15).fill(0);
    const lines: string[] = [];
    for (let e = 0; e < 60; e++) {
      const end = T0 + e * 2000;
      base = add(base, bucketCounts(rand, 100, 40));
      canary = add(canary, bucketCounts(rand, 100, 80));
      for (const [version, cohort, counts] of [
        ['1.0', 'baseline', base],
        ['2.0', 'canary', canary],
      ] as const) {
        const rm = resourceMetrics({
          service: 'cart',
          version,
          cohort,
          start: T0 - 60_000,
          end,
          series: [{ attrs: ok, counts }],
        });
        lines.push(Buffer.from(JsonMetricsSerializer.serializeRequest(rm)!).toString('utf8'));
      }
    }
    const file = join(dir, 'metrics.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const loaded = parseConfig(
      'analysis: { interval: 10s, allowedLateness: 2s, minSamples: 25, alpha: 0.01 }\n',
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
    expect(summary).toMatchObject({ metricLines: 120, badLines: 0, outcomes: { rollback: 1 } });
    expect(summary.metricIncrements).toBeGreaterThan(100);
    const decision = JSON.parse(out[0]!);
    expect(decision).toMatchObject({ type: 'decision', service: 'cart', outcome: 'rollback', canaryVersion: '2.0' });
    expect(decision.reasons.map((r: { metric: string }) => r.metric)).toContain('latency');
  });
});
