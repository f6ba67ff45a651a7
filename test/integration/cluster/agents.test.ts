/**
 * Two agents in cluster mode on the suite's real Redis (createAgent, ephemeral ports), fed by the REAL
 * OpenTelemetry JS exporters: the replica that does not own a service answers the retryable OTLP refusal on both
 * transports (gRPC UNAVAILABLE, HTTP 503) and takes nothing; the owner hands the service over once the traffic has
 * moved; a graceful stop hands every service over at once; the API answers the cluster's view.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Agent } from '../../../src/main.js';
import { exportWith, shopSpans } from '../../helpers/otel-spans.js';
import { startTestAgent, type StartedAgent } from '../../helpers/test-agent.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function pair(handoverQuiet = '300ms'): Promise<[StartedAgent, StartedAgent]> {
  const prefix = `vigil-agents-${process.pid}-${Date.now()}`;
  cleanups.push(async () => {
    const redis = new Redis(inject('redisUrl'));
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  const config = `server: { otlpGrpc: { host: 127.0.0.1 }, auth: { open: true } }
queue: { redis: "${inject('redisUrl')}", prefix: "${prefix}" }
cluster: { enabled: true, leaseTtl: 3s, handoverQuiet: ${handoverQuiet} }
`;
  const started: StartedAgent[] = [];
  for (const name of ['one', 'two']) {
    const s = await startTestAgent(config, `cluster-${name}`);
    cleanups.push(() => s.agent.stop());
    started.push(s);
  }
  return [started[0]!, started[1]!];
}

const spans = (n: number): ReadableSpan[] => shopSpans(n, { failEvery: 10, scope: 'cluster-test' });

function grpc(url: string): GrpcExporter {
  const e = new GrpcExporter({ url, timeoutMillis: 3000 });
  cleanups.push(() => e.shutdown());
  return e;
}

function proto(url: string): ProtoExporter {
  const e = new ProtoExporter({ url: `${url}/v1/traces`, timeoutMillis: 3000 });
  cleanups.push(() => e.shutdown());
  return e;
}

async function metric(agent: Agent, name: string): Promise<string[]> {
  return (await agent.metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(name));
}

describe('cluster mode with the OpenTelemetry exporters', () => {
  it('the non-owner refuses a service as retryable on gRPC and HTTP and takes nothing; the owner takes it all', async () => {
    const [one, two] = await pair('1m'); // the owner keeps it (no handover while the exporters retry)
    expect((await exportWith(grpc(one.grpcUrl), spans(20))).code).toBe(ExportResultCode.SUCCESS);
    const viaGrpc = await exportWith(grpc(two.grpcUrl), spans(20));
    expect(viaGrpc.code).toBe(ExportResultCode.FAILED);
    expect((viaGrpc.error as Partial<ServiceError> | undefined)?.code).toBe(status.UNAVAILABLE);
    expect((viaGrpc.error as Partial<ServiceError> | undefined)?.details).toMatch(/service shop is owned by replica/);
    const viaHttp = await exportWith(proto(two.otlpHttpUrl), spans(20));
    expect(viaHttp.code).toBe(ExportResultCode.FAILED);
    expect(String(viaHttp.error)).toMatch(/retryable status/); // 503: the exporter retried it, then gave up
    expect(two.agent.registry.counters.samples).toBe(0);
    expect(one.agent.registry.counters.samples).toBe(40); // shopSpans(20): 20 per cohort
    expect(await metric(two.agent, 'vigil_cluster_events_total')).toEqual(
      expect.arrayContaining([expect.stringMatching(/^vigil_cluster_events_total\{event="refused-owner"\} [1-9]/)]),
    );
    expect(await metric(one.agent, 'vigil_cluster_leases')).toEqual(['vigil_cluster_leases 1']);
    // the cluster's view, from either replica
    const view = (await (await fetch(`${two.apiUrl}/api/v1/cluster`)).json()) as {
      replicas: { self: boolean; services: string[]; apiUrl: string }[];
    };
    expect(view.replicas.map((r) => [r.self, r.services])).toEqual(
      expect.arrayContaining([
        [false, ['shop']],
        [true, []],
      ]),
    );
    const listed = (await (await fetch(`${two.apiUrl}/api/v1/analyses`)).json()) as {
      analyses: { id: string }[];
      replicas: { unreachable: string[] };
    };
    expect(listed.analyses.map((a) => a.id)).toEqual(['shop:1.1']); // served by the owner, through the other
    expect(listed.replicas.unreachable).toEqual([]);
    // the judge too: the replica that does not own the service answers with the owner's verdict
    const judged = (await (await fetch(`${two.apiUrl}/api/v1/judge?service=shop&canaryVersion=1.1`)).json()) as {
      verdict: string;
      analysis: string;
    };
    expect(judged).toMatchObject({ verdict: 'running', analysis: 'shop:1.1' });
    // an operator's action sent to the replica that does not own the service: the owner acts
    const act = (action: string) =>
      fetch(`${two.apiUrl}/api/v1/analyses/shop:1.1/${action}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ by: 'alice', reason: 'through the other replica' }),
      });
    const paused = await act('pause');
    expect(paused.status).toBe(200);
    expect(one.agent.registry.get('shop:1.1')?.paused).toMatchObject({
      by: 'alice',
      reason: 'through the other replica',
    });
    expect((await act('resume')).status).toBe(200);
    expect(one.agent.registry.get('shop:1.1')?.paused).toBeUndefined();
    // a rollback by hand through the non-owner: claimed in Redis and recorded by the owner before the answer
    const rolled = await act('rollback');
    expect(rolled.status).toBe(200);
    const { decision } = (await rolled.json()) as { decision: { id: string; manual: { by: string } } };
    expect(decision.manual.by).toBe('alice');
    expect(one.agent.audit.findDecision(decision.id)).toMatchObject({ outcome: 'rollback' });
    const judgedNow = (await (await fetch(`${two.apiUrl}/api/v1/judge?service=shop&canaryVersion=1.1`)).json()) as {
      verdict: string;
    };
    expect(judgedNow.verdict).toBe('fail');
    const unknown = await fetch(`${two.apiUrl}/api/v1/analyses/nope/pause`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ by: 'alice', reason: 'x' }),
    });
    expect(unknown.status).toBe(404);
  });

  it('hands the service over once the traffic moved and the owner has been quiet for handoverQuiet', async () => {
    const [one, two] = await pair();
    expect((await exportWith(proto(one.otlpHttpUrl), spans(20))).code).toBe(ExportResultCode.SUCCESS);
    const before = one.agent.registry.list();
    // two answers 503 and records that it wants the service; one renews every second (a third of 3 s), sees the
    // want and, quiet for 300 ms, checkpoints the service and releases it; the exporter's own retry (it honours
    // Retry-After) then lands on two, which takes the lease and restores the analysis
    const t = Date.now();
    expect((await exportWith(proto(two.otlpHttpUrl), spans(20))).code).toBe(ExportResultCode.SUCCESS);
    expect(Date.now() - t).toBeGreaterThanOrEqual(900); // at least one refusal and its Retry-After (1 s)
    expect(await metric(two.agent, 'vigil_cluster_events_total{event="refused-owner"}')).not.toEqual([]);
    expect(await metric(one.agent, 'vigil_cluster_events_total{event="handover"}')).toEqual([
      'vigil_cluster_events_total{event="handover"} 1',
    ]);
    expect(one.agent.registry.hasService('shop')).toBe(false);
    // the analysis moved: the same one (id, start), restored from the checkpoint the owner wrote at handover
    expect(two.agent.registry.list().map((a) => [a.id, a.startedAtUnixMs])).toEqual(
      before.map((a) => [a.id, a.startedAtUnixMs]),
    );
  });

  it('a graceful stop hands every service over at once: the other replica takes it without waiting for the TTL', async () => {
    const [one, two] = await pair();
    expect((await exportWith(proto(one.otlpHttpUrl), spans(20))).code).toBe(ExportResultCode.SUCCESS);
    const before = one.agent.registry.list();
    await one.agent.stop();
    const t = Date.now();
    expect((await exportWith(proto(two.otlpHttpUrl), spans(20))).code).toBe(ExportResultCode.SUCCESS);
    expect(Date.now() - t).toBeLessThan(1_000); // not the 3 s TTL
    expect(two.agent.registry.counters.samples).toBe(40);
    expect(two.agent.registry.list().map((a) => [a.id, a.startedAtUnixMs])).toEqual(
      before.map((a) => [a.id, a.startedAtUnixMs]),
    );
  });
});
