/**
 * Span-derived indicators end to end (issue 16), through the REAL OpenTelemetry JS trace SDK (BasicTracerProvider,
 * OTLP/HTTP protobuf exporter) in synthetic time (each span's start and end are given):
 * - `cart`: its canary fails 25% of `POST /checkout` requests (baseline 1%) while the far busier `GET /browse` stays
 *   at 1%: rolled back on `checkout-errors` (error-rate-sequential, source spans, where http.route).
 * - `search`: its canary misses the cache on 50% of requests (baseline 20%, span attribute cache.hit=false), every
 *   request succeeds: rolled back on `cache-misses` (ratio-sequential over spans).
 * - `twin`: the same traffic as `search`'s baseline in both cohorts: promoted.
 */
import type { Attributes } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import type { Decision } from '../../src/contracts/index.js';
import { seededRandom } from '../../src/demo/traffic-generator.js';
import { startTestAgent } from '../helpers/test-agent.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Deployment {
  service: string;
  version: string;
  cohort: 'baseline' | 'canary';
  /** Error rate of POST /checkout, cache-miss rate. */
  checkoutErrors: number;
  cacheMisses: number;
}

function tracerOf(url: string, d: Deployment) {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': d.service,
      'service.version': d.version,
      'vigil.cohort': d.cohort,
    }),
    spanProcessors: [
      // flushed by the test every 10 s of synthetic time (220 spans)
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${url}/v1/traces` }), {
        maxQueueSize: 4096,
        maxExportBatchSize: 1024,
        scheduledDelayMillis: 60_000,
      }),
    ],
  });
  cleanups.push(() => provider.shutdown());
  return { provider, tracer: provider.getTracer('@shop/http', '1.0.0') };
}

const CONFIG = `
analysis:
  interval: 10s
  allowedLateness: 2s
  minSamples: 25
  maxDuration: 5m
  alpha: 0.01
  metrics:
    - { name: error-rate, detector: error-rate-sequential }
    - name: checkout-errors
      detector: error-rate-sequential
      source: spans
      where: { http.route: /checkout, http.request.method: POST }
    - name: cache-misses
      detector: ratio-sequential
      options:
        numerator: { source: spans, where: { cache.hit: false } }
        denominator: { source: spans }
connectors: [{ name: router, type: noop, options: { kind: traffic } }]
plan: [router]
`;

describe('span-derived indicators through the real OTel trace SDK', () => {
  it('rolls back on the errors of one route and on cache misses per request, promotes the twin', async () => {
    const { agent, otlpHttpUrl } = await startTestAgent(CONFIG, 'span-indicators');
    cleanups.push(() => agent.stop());
    const decisions: Decision[] = [];
    agent.onDecision((d) => decisions.push(d));
    const deployments: Deployment[] = [];
    for (const [service, canaryCheckout, canaryMisses] of [
      ['cart', 0.25, 0.2],
      ['search', 0.01, 0.5],
      ['twin', 0.01, 0.2],
    ] as const) {
      deployments.push({ service, version: '1.0', cohort: 'baseline', checkoutErrors: 0.01, cacheMisses: 0.2 });
      deployments.push({
        service,
        version: '2.0',
        cohort: 'canary',
        checkoutErrors: canaryCheckout,
        cacheMisses: canaryMisses,
      });
    }
    const tracers = deployments.map((d) => ({ d, ...tracerOf(otlpHttpUrl, d) }));
    const rand = seededRandom(7);
    const T0 = Math.floor(Date.now() / 10_000) * 10_000 - 3_600_000;
    const span = (t: ReturnType<typeof tracerOf>['tracer'], endMs: number, attrs: Attributes, failed: boolean) => {
      const s = t.startSpan(`${String(attrs['http.request.method'])} ${String(attrs['http.route'])}`, {
        kind: SpanKind.SERVER,
        startTime: endMs - 30,
        attributes: attrs,
      });
      if (failed) s.setStatus({ code: SpanStatusCode.ERROR });
      s.end(endMs);
    };
    // 5.5 minutes of traffic (maxDuration 5m), one second at a time: per deployment 2 checkouts and 20 browses a second
    for (let sec = 0; sec < 330 && decisions.length < 3; sec++) {
      for (const { d, tracer } of tracers) {
        const t = T0 + sec * 1000;
        for (let i = 0; i < 20; i++) {
          const miss = rand() < d.cacheMisses;
          span(
            tracer,
            t + i * 10,
            { 'http.request.method': 'GET', 'http.route': '/browse', 'cache.hit': !miss },
            rand() < 0.01,
          );
        }
        for (let i = 0; i < 2; i++)
          span(
            tracer,
            t + 500 + i,
            { 'http.request.method': 'POST', 'http.route': '/checkout', 'cache.hit': true },
            rand() < d.checkoutErrors,
          );
      }
      if (sec % 10 === 9) {
        await Promise.all(tracers.map((x) => x.provider.forceFlush()));
        await agent.settle();
      }
    }
    // the end of the stream: the last looks close once every cohort has moved past them
    await Promise.all(tracers.map((x) => x.provider.forceFlush()));
    await agent.settle();

    const cart = decisions.find((d) => d.service === 'cart');
    expect(cart).toMatchObject({ outcome: 'rollback', canaryVersion: '2.0' });
    const failing = cart!.verdicts.filter((v) => v.phase === 'fail').map((v) => v.metric);
    expect(failing).toContain('checkout-errors');
    const checkout = cart!.verdicts.find((v) => v.metric === 'checkout-errors')!;
    // only POST /checkout requests were compared: 2 a second per deployment
    expect(checkout.samples.canary).toBeLessThan(
      cart!.verdicts.find((v) => v.metric === 'error-rate')!.samples.canary / 5,
    );

    const search = decisions.find((d) => d.service === 'search');
    expect(search).toMatchObject({ outcome: 'rollback', canaryVersion: '2.0' });
    const misses = search!.verdicts.find((v) => v.metric === 'cache-misses')!;
    expect(misses).toMatchObject({ phase: 'fail', detector: 'ratio-sequential', worse: 'higher' });
    expect(misses.estimate).toBeGreaterThan(1.8);
    expect(misses.estimate).toBeLessThan(3.2);
    expect(search!.verdicts.find((v) => v.metric === 'error-rate')!.phase).not.toBe('fail');

    const twin = decisions.find((d) => d.service === 'twin');
    expect(twin?.outcome).toBe('promote');
  }, 120_000);
});
