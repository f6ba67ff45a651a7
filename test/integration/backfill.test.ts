/**
 * A canary whose past reaches the agent after the baseline's (the measurement: a Collector tier that held
 * the canary's spans back, or a backfill), through the real OpenTelemetry JS SDK with the OTLP/gRPC and the
 * OTLP/HTTP exporters, to a running agent whose config has NO late-data settings: 14 looks of baseline, then
 * the canary's 14 looks of the same event time. The canary's analysis starts at its first span and compares
 * against the baseline looks kept for it (analysis.baselineHistory, 5 m by default), its looks closing as the
 * canary's own progress passes them (src/analysis/event-clock.ts): >= 99% of its requests are compared and the
 * 15x regression is rolled back. Before this, 0 (gRPC) and 512 (HTTP) of 2,800 canary requests were counted.
 */
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { afterEach, describe, expect, it } from 'vitest';
import type { Decision } from '../../src/contracts/index.js';
import { cohortTraffic } from '../helpers/traffic.js';
import { startTestAgent } from '../helpers/test-agent.js';

const INTERVAL = 10_000;
const STEP = 5_000; // the SDK's default export interval
const PER_STEP = 100; // requests per cohort per 5 s: 2,800 per cohort over 14 looks
const LOOKS = 14;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.each(['grpc', 'http'] as const)('baseline first, then the canary of the same 14 looks (%s)', (transport) => {
  it('compares >= 99% of the canary requests and rolls back the 15x regression', async () => {
    const { agent, otlpHttpUrl, grpcUrl } = await startTestAgent(
      'analysis: { interval: 10s, minSamples: 25, maxDuration: 30m }\nplan: []\n',
      `backfill-${transport}`,
    );
    cleanups.push(() => agent.stop());
    const decisions: Decision[] = [];
    agent.onDecision((d) => decisions.push(d));
    const g = cohortTraffic({
      otlpHttpUrl,
      service: 'checkout',
      canaryErrorRate: 0.15,
      seed: transport === 'grpc' ? 41 : 42,
      ...(transport === 'grpc' ? { exporter: () => new GrpcExporter({ url: grpcUrl }) } : {}),
    });
    cleanups.push(() => g.shutdown());

    const t0 = Math.floor(Date.now() / INTERVAL) * INTERVAL - LOOKS * INTERVAL;
    const steps = (LOOKS * INTERVAL) / STEP;
    for (let k = 0; k < steps; k++) await g.emit(t0 + k * STEP, STEP, { baseline: PER_STEP, canary: 0 });
    for (let k = 0; k < steps; k++) await g.emit(t0 + k * STEP, STEP, { baseline: 0, canary: PER_STEP });
    await agent.settle();

    const rollback = decisions.find((d) => d.service === 'checkout');
    expect(rollback).toMatchObject({ outcome: 'rollback', canaryVersion: '1.1.0' });
    const a = agent.registry.get('checkout:1.1.0')!;
    expect(a.startedAtUnixMs).toBe(t0);
    const sent = ((rollback!.eventTimeUnixMs - t0) / STEP) * PER_STEP;
    expect(a.totals.canary.requests / sent).toBeGreaterThanOrEqual(0.99);
    expect(a.totals.baseline.requests / sent).toBeGreaterThanOrEqual(0.99);
    expect(a.late).toEqual({ baseline: 0, canary: 0 });
    expect(rollback!.used).toEqual({ baseline: 1, canary: 1 });
    console.log(
      `[backfill ${transport}] ${a.totals.canary.requests}/${sent} canary requests compared, rollback at look ${rollback!.look}`,
    );
  });
});
