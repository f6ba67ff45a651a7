/**
 * Business and resource metrics end to end (issue 16), through the REAL OpenTelemetry JS metrics SDK: each instance
 * of a service is a MeterProvider with a PeriodicExportingMetricReader and an OTLP exporter (protobuf or JSON over
 * HTTP, delta or cumulative temporality) posting to a running agent every 200 ms; looks are 1 s (real time).
 *
 * - `shop`: its canary converts 30% fewer checkouts (counters checkout.started / checkout.completed) → rolled back
 *   on `conversion` (ratio-sequential, worse: lower).
 * - `shop-twin`: the same traffic with no difference (A/A) → not rolled back (promoted at maxDuration).
 * - `cache`: its canary leaks memory (observable gauge process.memory.usage rising 5% per look on each of its
 *   instances) → rolled back on `memory` (gauge-sequential, worse: higher).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AggregationTemporalityPreference,
  OTLPMetricExporter as HttpJsonExporter,
} from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Decision } from '../../src/contracts/index.js';
import { seededRandom } from '../../src/demo/traffic-generator.js';
import { silentLogger } from '../../src/logger.js';
import { createAgent } from '../../src/main.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface InstanceSpec {
  service: string;
  version: string;
  cohort: 'baseline' | 'canary';
  id: string;
  encoding: 'protobuf' | 'json';
  delta: boolean;
  /** Share of started checkouts that complete. */
  conversion: number;
  /** process.memory.usage in bytes at time t (ms since the start). */
  memory: (elapsedMs: number) => number;
  seed: number;
}

/** One instance: its own MeterProvider and exporter; `tick` records a slice of traffic. */
function instance(otlp: string, o: InstanceSpec, t0: number): { tick(): void } {
  const url = `${otlp}/v1/metrics`;
  const temporalityPreference = o.delta
    ? AggregationTemporalityPreference.DELTA
    : AggregationTemporalityPreference.CUMULATIVE;
  const exporter =
    o.encoding === 'protobuf'
      ? new ProtoExporter({ url, temporalityPreference })
      : new HttpJsonExporter({ url, temporalityPreference });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({
      'service.name': o.service,
      'service.version': o.version,
      'service.instance.id': o.id,
      'vigil.cohort': o.cohort,
    }),
    readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 200, exportTimeoutMillis: 150 })],
  });
  cleanups.push(() => provider.shutdown());
  const meter = provider.getMeter('@shop/checkout', '1.0.0');
  const started = meter.createCounter('checkout.started', { unit: '{checkout}' });
  const completed = meter.createCounter('checkout.completed', { unit: '{checkout}' });
  meter
    .createObservableGauge('process.memory.usage', { unit: 'By' })
    .addCallback((r) => r.observe(o.memory(Date.now() - t0)));
  const rand = seededRandom(o.seed);
  return {
    tick() {
      const n = 10;
      let done = 0;
      for (let i = 0; i < n; i++) if (rand() < o.conversion) done++;
      started.add(n, { 'payment.method': 'card' });
      if (done > 0) completed.add(done, { 'payment.method': 'card' });
    },
  };
}

const CONFIG = (dir: string) => `
analysis:
  interval: 1s
  allowedLateness: 300ms
  minSamples: 6
  maxDuration: 25s
  silenceTimeout: 5s
  alpha: 0.01
  metrics:
    - name: conversion
      detector: ratio-sequential
      options:
        numerator: { metric: checkout.completed }
        denominator: { metric: checkout.started }
        worse: lower
        tolerance: 0.02
    - name: memory
      detector: gauge-sequential
      options: { metric: process.memory.usage, worse: higher, tolerance: 0.2 }
connectors: [{ name: router, type: noop, options: { kind: traffic } }]
plan: [router]
audit: { path: "${join(dir, 'audit.jsonl')}" }
`;

describe('business and resource metrics through the real OTel metrics SDK', () => {
  it('rolls back a 30% conversion drop and a memory leak, and not their A/A twin', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-business-'));
    const loaded = parseConfig(CONFIG(dir), 'business.yaml', BUILTIN_REGISTRIES, {});
    const agent = createAgent({
      loaded,
      registries: BUILTIN_REGISTRIES,
      logger: silentLogger(),
      ports: { otlpHttp: 0, otlpGrpc: 0, api: 0 },
    });
    const { otlpHttpUrl: otlp } = await agent.start();
    cleanups.push(() => agent.stop());
    const decisions: Decision[] = [];
    agent.onDecision((d) => decisions.push(d));

    const t0 = Date.now();
    // a level per instance (instances differ by a few percent, persistently), with a little noise per reading
    const level =
      (base: number, seed: number, leakPerSecond = 0) =>
      (elapsedMs: number) => {
        const r = seededRandom(seed + Math.floor(elapsedMs / 100));
        return base * (1 + 0.01 * (r() - 0.5)) * (1 + leakPerSecond) ** (elapsedMs / 1000);
      };
    const fleet: InstanceSpec[] = [];
    let seed = 1;
    for (const [service, canaryConversion] of [
      ['shop', 0.21],
      ['shop-twin', 0.3],
      ['cache', 0.3],
    ] as const) {
      for (const cohort of ['baseline', 'canary'] as const) {
        for (let k = 0; k < 3; k++) {
          const canary = cohort === 'canary';
          const base = 200e6 * (1 + 0.04 * (k - 1));
          fleet.push({
            service,
            version: canary ? '2.0.0' : '1.0.0',
            cohort,
            id: `${service}-${cohort}-${k}`,
            // both encodings and both temporalities in every comparison
            encoding: k % 2 === 0 ? 'protobuf' : 'json',
            delta: canary ? k !== 1 : k === 1,
            conversion: canary ? canaryConversion : 0.3,
            memory: level(base, 1000 * seed, canary && service === 'cache' ? 0.05 : 0),
            seed: seed++,
          });
        }
      }
    }
    const instances = fleet.map((o) => instance(otlp, o, t0));
    const deadline = Date.now() + 45_000;
    const decided = (s: string) => decisions.some((d) => d.service === s);
    while (Date.now() < deadline && !(decided('shop') && decided('shop-twin') && decided('cache'))) {
      for (const i of instances) i.tick();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await agent.settle();

    const shop = decisions.find((d) => d.service === 'shop');
    expect(shop).toMatchObject({ outcome: 'rollback', canaryVersion: '2.0.0', baselineVersion: '1.0.0' });
    const conversion = shop!.verdicts.find((v) => v.metric === 'conversion')!;
    expect(conversion).toMatchObject({ phase: 'fail', detector: 'ratio-sequential', worse: 'lower' });
    expect(conversion.upper).toBeLessThanOrEqual(0.98); // the robust bounds sit on a grid of null ratios around 1 - tolerance
    expect(conversion.estimate).toBeGreaterThan(0.55);
    expect(conversion.estimate).toBeLessThan(0.85);
    expect(conversion.summary).toContain('lower is worse');
    expect(shop!.verdicts.find((v) => v.metric === 'memory')?.phase).not.toBe('fail');

    const twin = decisions.find((d) => d.service === 'shop-twin');
    expect(twin?.outcome).toBe('promote');
    expect(twin!.verdicts.every((v) => v.phase !== 'fail')).toBe(true);

    const cache = decisions.find((d) => d.service === 'cache');
    expect(cache).toMatchObject({ outcome: 'rollback', canaryVersion: '2.0.0' });
    const memory = cache!.verdicts.find((v) => v.metric === 'memory')!;
    expect(memory).toMatchObject({ phase: 'fail', detector: 'gauge-sequential', worse: 'higher' });
    expect(memory.instances).toEqual({ baseline: 3, canary: 3 });
    expect(memory.lower).toBeGreaterThan(1.2);
    expect(memory.summary).toContain('higher is worse');

    // the audit log explains the decision with the metric's direction
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
    expect(audit).toContain('"metric":"conversion"');
    expect(agent.metricsIngest.counters.rejectedDataPoints).toBe(0);
    expect(agent.registry.counters.samples).toBe(0); // no span: everything came from the metrics
  }, 90_000);
});
