/**
 * Requests with retried attempts, as the REAL OpenTelemetry JS SDK records them on the server: every attempt is a
 * SERVER span of its own (own span id) in the trace of the request (the caller's context: a remote parent), with
 * its own start, end and outcome (HTTP 500 + status ERROR when it failed).
 */
import { randomBytes } from 'node:crypto';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';

export interface Attempt {
  /** Unix ms (fractions allowed). */
  startMs: number;
  endMs: number;
  fails: boolean;
  /** http.route (default `/pay`). */
  route?: string;
}

export interface RetriedRequest {
  attempts: Attempt[];
  /** 32 hex digits; a random one by default. */
  traceId?: string;
}

/** An exact OTel HrTime from unix ms (a plain number before the process started would be read as performance time). */
function hr(ms: number): [number, number] {
  const s = Math.floor(ms / 1000);
  return [s, Math.round((ms - s * 1000) * 1e6)];
}

/** The SERVER spans of `requests`, attempt by attempt, of one service version in one cohort. */
export function retriedSpans(
  resource: { service: string; version: string; cohort: 'baseline' | 'canary' },
  requests: RetriedRequest[],
): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': resource.service,
      'service.version': resource.version,
      'vigil.cohort': resource.cohort,
    }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('vigil-retries');
  for (const r of requests) {
    const traceId = r.traceId ?? randomBytes(16).toString('hex');
    const caller = trace.setSpanContext(ROOT_CONTEXT, {
      traceId,
      spanId: randomBytes(8).toString('hex'),
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    for (const a of r.attempts) {
      const route = a.route ?? '/pay';
      const span = tracer.startSpan(
        `POST ${route}`,
        {
          kind: SpanKind.SERVER,
          startTime: hr(a.startMs),
          attributes: { 'http.route': route, 'http.response.status_code': a.fails ? 500 : 200 },
        },
        caller,
      );
      if (a.fails) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end(hr(a.endMs));
    }
  }
  return memory.getFinishedSpans();
}
