/**
 * Requests, not attempts (issue 13), end to end: retried requests recorded by the REAL OpenTelemetry JS SDK (each
 * attempt a SERVER span of the request's trace), sent by its real OTLP/HTTP protobuf exporter to a running agent,
 * attempts split across exports out of order. /api/v1/analyses counts requests (failed when the last attempt
 * failed) and the retried attempts folded into them; `analysis.requestUnit: span` counts the spans as before.
 * `vigil replay` of the same exports, recorded as OTLP JSON lines, folds the same attempts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/logger.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';
import { runReplay } from '../../src/replay/run-replay.js';
import { exportWith } from '../helpers/otel-spans.js';
import { retriedSpans, type RetriedRequest } from '../helpers/retried-spans.js';
import { startTestAgent } from '../helpers/test-agent.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const INTERVAL = 10_000;
const TOKEN = 'r3tries';

/** The exports: two with the attempts of look 0 (later attempts first: another pod exported sooner), then one of
 *  look 2, which closes looks 0 and 1. */
function exports(t0: number): ReadableSpan[][] {
  const { look0, closing } = traffic(t0);
  return [look0.filter((_, i) => i % 2 === 1).reverse(), look0.filter((_, i) => i % 2 === 0), closing];
}

/** Look 0 of the traffic: 40 baseline requests; 30 canary requests, 15 of them retried (55 spans). */
function traffic(t0: number): { look0: ReadableSpan[]; closing: ReadableSpan[] } {
  const at = (ms: number, dur: number, fails: boolean) => ({ startMs: t0 + ms - dur, endMs: t0 + ms, fails });
  const baseline: RetriedRequest[] = Array.from({ length: 40 }, (_, i) => ({
    attempts: [at(100 + i * 200, 30, false)],
  }));
  const canary: RetriedRequest[] = Array.from({ length: 30 }, (_, i) => {
    const t = 150 + i * 300;
    if (i < 10) return { attempts: [at(t, 40, true), at(t + 60, 40, true), at(t + 120, 40, false)] }; // served at the 3rd
    if (i < 15) return { attempts: [at(t, 40, true), at(t + 60, 40, true)] }; // failed twice: a failed request
    return { attempts: [at(t, 40, false)] };
  });
  const look0 = [
    ...retriedSpans({ service: 'pay', version: '1.0', cohort: 'baseline' }, baseline),
    ...retriedSpans({ service: 'pay', version: '2.0', cohort: 'canary' }, canary),
  ];
  // spans of look 2 close looks 0 and 1
  const closing = [
    ...retriedSpans({ service: 'pay', version: '1.0', cohort: 'baseline' }, [
      { attempts: [at(2 * INTERVAL + 100, 30, false)] },
    ]),
    ...retriedSpans({ service: 'pay', version: '2.0', cohort: 'canary' }, [
      { attempts: [at(2 * INTERVAL + 100, 30, false)] },
    ]),
  ];
  return { look0, closing };
}

async function run(extra: string) {
  const started = await startTestAgent(
    `server: { auth: { tokens: ["${TOKEN}"] } }\nanalysis: { interval: 10s, allowedLateness: 0s${extra} }\nplan: []\n`,
    'retries',
  );
  cleanups.push(() => started.agent.stop());
  const exporter = new OTLPTraceExporter({ url: `${started.otlpHttpUrl}/v1/traces`, timeoutMillis: 8000 });
  cleanups.push(() => exporter.shutdown());
  const t0 = Math.floor(Date.now() / INTERVAL) * INTERVAL - 6 * INTERVAL; // in the past: nothing dated ahead
  for (const batch of exports(t0)) expect((await exportWith(exporter, batch)).code).toBe(ExportResultCode.SUCCESS);
  await started.agent.settle();
  const res = await fetch(`${started.apiUrl}/api/v1/analyses`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { analyses: { id: string; look: number; totals: unknown }[] };
  const metrics = await started.agent.metrics.registry.metrics();
  return { agent: started.agent, analyses: body.analyses, metrics };
}

describe('requests, not attempts, with the real SDK exporter', () => {
  it('/api/v1/analyses counts the requests (outcome of the last attempt) and the retried attempts, not the spans', async () => {
    const { agent, analyses, metrics } = await run('');
    expect(analyses).toHaveLength(1);
    expect(analyses[0]).toMatchObject({ id: 'pay:2.0', look: 2 }); // looks 0 and 1 of the traffic ran (1 had no request); one look never decides
    expect(analyses[0]!.totals).toEqual({
      baseline: { requests: 40, errors: 0 },
      canary: { requests: 30, errors: 5, retries: 25 },
    });
    expect(agent.registry.counters.samples).toBe(40 + 55 + 2); // spans
    expect(metrics).toContain('vigil_request_retries_total{cohort="canary"} 25');
    expect(metrics).toMatch(/^vigil_open_traces \d+$/m);
  });

  it('analysis.requestUnit: span counts every span as a request, as before', async () => {
    const { analyses, metrics } = await run(', requestUnit: span');
    expect(analyses[0]!.totals).toEqual({
      baseline: { requests: 40, errors: 0 },
      canary: { requests: 55, errors: 30 },
    });
    expect(metrics).not.toContain('vigil_request_retries_total{');
  });

  it('vigil replay of the same exports folds the same attempts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-retries-'));
    const file = join(dir, 'recording.jsonl');
    const decoder = new TextDecoder();
    const lines = exports(1_767_225_600_000).map((b) => decoder.decode(JsonTraceSerializer.serializeRequest(b)));
    writeFileSync(file, `${lines.join('\n')}\n`);
    const replay = async (extra: string) =>
      runReplay({
        loaded: parseConfig(
          `analysis: { interval: 10s, allowedLateness: 0s${extra} }\nplan: []\n`,
          'r.yaml',
          BUILTIN_REGISTRIES,
          {},
        ),
        registries: BUILTIN_REGISTRIES,
        files: [file],
        logger: silentLogger(),
        format: 'json',
        out: () => {},
        auditPath: join(dir, `audit${extra === '' ? '' : '-span'}.jsonl`),
      });
    const grouped = await replay('');
    expect([grouped.samples, grouped.retriedAttempts]).toEqual([40 + 55 + 2, 25]);
    expect((await replay(', requestUnit: span')).retriedAttempts).toBe(0);
  });
});
