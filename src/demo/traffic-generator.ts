/**
 * Synthetic traffic for the demo and the end-to-end tests, emitted through the REAL OpenTelemetry JS SDK
 * (BasicTracerProvider + BatchSpanProcessor + the OTLP/HTTP exporters, protobuf or JSON), one provider
 * per cohort as two deployments of one service would have. Spans carry explicit event times so a demo can
 * run many look intervals in a few seconds of wall time; Vigil's clock is event time, so it does not care.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { seededRandom } from '../seeded-random.js';

export interface CohortProfile {
  version: string;
  cohort: 'canary' | 'baseline';
  /** Probability that a request fails (status ERROR, HTTP 500). */
  errorRate: number;
  /** Median latency (ms) of a log-normal with sigma `latencySigma`. */
  latencyMedianMs: number;
  latencySigma?: number;
  encoding: 'protobuf' | 'json';
}

export interface TrafficGenerator {
  /** Emits `requests` SERVER spans per cohort ending within [fromMs, fromMs + spanMs), then flushes. */
  emit(fromMs: number, spanMs: number, requests: { baseline: number; canary: number }): Promise<void>;
  shutdown(): Promise<void>;
}

/** The seeded PRNG of synthetic traffic (src/seeded-random.ts), re-exported for the demo's callers. */
export { seededRandom };

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

export function createTrafficGenerator(opts: {
  url: string; // e.g. http://127.0.0.1:4318/v1/traces
  service: string;
  baseline: CohortProfile;
  canary: CohortProfile;
  seed?: number;
  /** Another exporter than the OTLP/HTTP one of the profile's encoding (tests: the gRPC exporter). */
  exporter?: (p: CohortProfile) => SpanExporter;
}): TrafficGenerator {
  const rand = seededRandom(opts.seed ?? 42);
  const make = (p: CohortProfile) => {
    const exporter =
      opts.exporter?.(p) ??
      (p.encoding === 'protobuf' ? new ProtoExporter({ url: opts.url }) : new JsonExporter({ url: opts.url }));
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        'service.name': opts.service,
        'service.version': p.version,
        'vigil.cohort': p.cohort,
        'deployment.environment.name': 'demo',
      }),
      spanProcessors: [
        new BatchSpanProcessor(exporter, { maxQueueSize: 100_000, maxExportBatchSize: 2000, scheduledDelayMillis: 50 }),
      ],
    });
    return { provider, tracer: provider.getTracer('vigil-demo-traffic'), profile: p };
  };
  const cohorts = [make(opts.baseline), make(opts.canary)];

  return {
    async emit(fromMs, spanMs, requests) {
      for (const c of cohorts) {
        const n = c.profile.cohort === 'canary' ? requests.canary : requests.baseline;
        for (let i = 0; i < n; i++) {
          const duration = c.profile.latencyMedianMs * Math.exp((c.profile.latencySigma ?? 0.4) * gaussian(rand));
          const end = fromMs + ((i + rand()) / n) * spanMs;
          const failed = rand() < c.profile.errorRate;
          const span = c.tracer.startSpan('GET /checkout', {
            kind: SpanKind.SERVER,
            startTime: end - duration,
            attributes: {
              'http.request.method': 'GET',
              'http.route': '/checkout',
              'http.response.status_code': failed ? 500 : 200,
            },
          });
          if (failed) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end(end);
        }
      }
      await Promise.all(cohorts.map((c) => c.provider.forceFlush()));
    },
    async shutdown() {
      await Promise.all(cohorts.map((c) => c.provider.shutdown()));
    },
  };
}
