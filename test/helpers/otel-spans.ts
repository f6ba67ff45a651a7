/**
 * Spans made by the REAL OpenTelemetry JS SDK (tracer → span processor → in-memory exporter), for tests that
 * then hand them to a real OTLP exporter, and a promise around `exporter.export`.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';

/** `n` SERVER spans per cohort of service `shop` (baseline 1.0, canary 1.1), ending now; with `failEvery: k`,
 *  every k-th request of each cohort fails (HTTP 500 and status ERROR). */
export function shopSpans(n: number, opts: { failEvery?: number; scope?: string } = {}): ReadableSpan[] {
  const out: ReadableSpan[] = [];
  for (const [version, cohort] of [
    ['1.0', 'baseline'],
    ['1.1', 'canary'],
  ] as const) {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'shop', 'service.version': version, 'vigil.cohort': cohort }),
      spanProcessors: [new SimpleSpanProcessor(memory)],
    });
    const tracer = provider.getTracer(opts.scope ?? 'vigil-test');
    for (let i = 0; i < n; i++) {
      const fails = opts.failEvery !== undefined && i % opts.failEvery === 0;
      const span = tracer.startSpan('GET /cart', {
        kind: SpanKind.SERVER,
        attributes: { 'http.route': '/cart', 'http.response.status_code': fails ? 500 : 200 },
      });
      if (fails) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    out.push(...memory.getFinishedSpans());
  }
  return out;
}

export function exportWith(exporter: SpanExporter, batch: ReadableSpan[]): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(batch, resolve));
}
