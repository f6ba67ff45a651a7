/**
 * The usual two deployments of a service for tests that send real SDK telemetry: baseline 1.0.0 at 1% errors and
 * canary 1.1.0 at `canaryErrorRate`, both 40 ms median, through the real OTel SDK (OTLP/HTTP protobuf unless another
 * exporter is given). src/demo/traffic-generator.ts does the work.
 */
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { createTrafficGenerator, type TrafficGenerator } from '../../src/demo/traffic-generator.js';

export function cohortTraffic(opts: {
  /** The agent's OTLP/HTTP base URL (`/v1/traces` is added). */
  otlpHttpUrl: string;
  service: string;
  canaryErrorRate: number;
  seed: number;
  exporter?: () => SpanExporter;
}): TrafficGenerator {
  return createTrafficGenerator({
    url: `${opts.otlpHttpUrl}/v1/traces`,
    service: opts.service,
    baseline: { version: '1.0.0', cohort: 'baseline', errorRate: 0.01, latencyMedianMs: 40, encoding: 'protobuf' },
    canary: {
      version: '1.1.0',
      cohort: 'canary',
      errorRate: opts.canaryErrorRate,
      latencyMedianMs: 40,
      encoding: 'protobuf',
    },
    seed: opts.seed,
    ...(opts.exporter ? { exporter: opts.exporter } : {}),
  });
}
