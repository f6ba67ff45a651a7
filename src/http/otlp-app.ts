/** The OTLP/HTTP server (port 4318): the receiver plugin wired to the pipeline and to Vigil's metrics. */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { IngestRefusals } from '../analysis/analysis-registry.js';
import type { CohortIncrement, DecodedTraces, RequestSample } from '../contracts/index.js';
import type { Admission } from '../cluster/coordinator.js';
import type { IngestGate } from '../ingest/admission/gate.js';
import { registerHttpAdmission } from '../ingest/admission/http-hook.js';
import type { CohortRules } from '../ingest/cohort.js';
import type { MetricsIngest } from '../ingest/metrics-ingest.js';
import { otlpClientErrorHandler, otlpHttpPlugin, type IngestOutcome } from '../ingest/otlp/http-receiver.js';
import type { OtlpEncoding } from '../ingest/otlp/otlp-responses.js';
import { serverLogger } from '../logger.js';
import type { VigilMetrics } from './metrics.js';

export interface OtlpAppDeps {
  logger: Logger;
  metrics: VigilMetrics;
  cohortRules: CohortRules;
  maxBodyBytes: number;
  /** Feeds the samples; returns what was refused (told to the sender as a partial success). */
  ingest(samples: RequestSample[]): IngestRefusals | void;
  /** Cluster mode: whether this replica takes the request's services (src/agent/cluster-node.ts); undefined: yes,
   *  all of them, at once. Absent: a single agent takes everything. */
  admit?(services: readonly { service: string }[]): Admission | undefined | Promise<Admission>;
  /** The ingest queue shared with the gRPC receiver; absent: no admission control. */
  gate?: IngestGate;
  /** OTLP metrics consumer (see metricsConsumer); absent: /v1/metrics is accepted and dropped. */
  ingestMetrics?: (body: Buffer, encoding: OtlpEncoding) => IngestOutcome | Promise<IngestOutcome>;
  /** Trace decoding (large bodies in worker threads, DecodePool); absent: inline. */
  decodeTraces?: (body: Buffer, encoding: OtlpEncoding) => DecodedTraces | Promise<DecodedTraces>;
  /** How long a client may take (ms); absent: DEFAULT_OTLP_HTTP_TIMEOUTS. */
  timeouts?: OtlpHttpTimeouts;
}

/** The OTLP/HTTP server's clocks, in ms (config: ingest.headersTimeout, ingest.bodyTimeout, ingest.idleTimeout). */
export interface OtlpHttpTimeouts {
  /** From the first byte of a request to the end of its headers (Node's headersTimeout); past it: 408. */
  headersMs: number;
  /** From the end of a request's headers to the last byte of its body; past it: 408, connection closed. */
  bodyMs: number;
  /** A keep-alive connection between requests, or a connection where nothing moves, is closed after this. */
  idleMs: number;
}

export const DEFAULT_OTLP_HTTP_TIMEOUTS: OtlpHttpTimeouts = { headersMs: 10_000, bodyMs: 60_000, idleMs: 120_000 };

/**
 * The Node server options that bound every client in time: the header timeout, keep-alive and socket idle
 * timeouts, and Node's request timeout as the backstop of the receiver's own body timeout (for requests whose
 * body no route reads), checked every `connectionsCheckingInterval` (a quarter of the header timeout, at most
 * 1 s; Node's default is 30 s).
 */
export function serverTimeoutOptions(t: OtlpHttpTimeouts) {
  return {
    connectionTimeout: t.idleMs,
    keepAliveTimeout: t.idleMs,
    requestTimeout: t.headersMs + t.bodyMs + 1_000,
    http: {
      headersTimeout: t.headersMs,
      connectionsCheckingInterval: Math.min(1_000, Math.max(50, Math.floor(t.headersMs / 4))),
    },
  };
}

export function buildOtlpApp(deps: OtlpAppDeps): FastifyInstance {
  const log: FastifyBaseLogger = serverLogger(deps.logger, 'otlp-http');
  const timeouts = deps.timeouts ?? DEFAULT_OTLP_HTTP_TIMEOUTS;
  const onRejected = (reason: string, status: number): void => {
    deps.metrics.requestsRejected.inc({ transport: 'http', status: String(status) });
    deps.logger.debug({ reason, status }, 'OTLP request rejected');
  };
  const app = Fastify({
    loggerInstance: log,
    bodyLimit: deps.maxBodyBytes,
    return503OnClosing: true,
    ...serverTimeoutOptions(timeouts),
    clientErrorHandler: otlpClientErrorHandler({ onRejected }),
  });
  if (deps.gate !== undefined) {
    const gate = deps.gate;
    registerHttpAdmission(app, {
      gate,
      maxBodyBytes: deps.maxBodyBytes,
      onThrottled: (reason, _retryAfterSeconds, stage) => {
        deps.metrics.ingestThrottled.inc({ transport: 'http', reason });
        // refused mid-body, the receiver answers and counts it with its other answers
        if (stage === 'arrival') deps.metrics.requestsRejected.inc({ transport: 'http', status: '503' });
      },
      onChange: () => {
        const s = gate.stats();
        deps.metrics.ingestInflightRequests.set(s.inFlightRequests);
        deps.metrics.ingestInflightBytes.set(s.inFlightBytes);
      },
    });
  }
  void app.register(otlpHttpPlugin, {
    tracesPath: '/v1/traces',
    metricsPath: '/v1/metrics',
    logsPath: '/v1/logs',
    maxBodyBytes: deps.maxBodyBytes,
    bodyTimeoutMs: timeouts.bodyMs,
    cohortRules: deps.cohortRules,
    onTraces: tracesConsumer(deps, 'http'),
    ...(deps.decodeTraces !== undefined ? { decodeTraces: deps.decodeTraces } : {}),
    ...(deps.ingestMetrics !== undefined ? { onMetrics: deps.ingestMetrics } : {}),
    onDropped: (signal, bytes) => deps.metrics.otlpDropped.inc({ signal }, bytes),
    onRejected,
  });
  return app;
}

/**
 * The hand-off of decoded traces to the pipeline, counted per transport (the HTTP and gRPC receivers share it). In
 * cluster mode the request's services are admitted first: a service another replica owns (or Redis unreachable)
 * refuses the whole request as retryable (503 / UNAVAILABLE, nothing taken, the sender retries), and the spans of
 * services past the cluster's limits.maxServices are rejected (partial success), as a single agent does.
 */
export function tracesConsumer(deps: Pick<OtlpAppDeps, 'metrics' | 'ingest' | 'admit'>, transport: 'http' | 'grpc') {
  const accept = (
    decoded: DecodedTraces,
    encoding: OtlpEncoding,
    samples: RequestSample[],
    limited: readonly string[],
  ): IngestOutcome => {
    const m = deps.metrics;
    const overLimit = decoded.samples.length - samples.length;
    m.spansAccepted.inc({ transport, encoding }, decoded.spans - decoded.rejectedSpans - overLimit);
    const tooLong = decoded.serviceTooLongSpans ?? 0;
    if (decoded.rejectedSpans > tooLong)
      m.spansRejected.inc({ transport, reason: 'invalid' }, decoded.rejectedSpans - tooLong);
    if (tooLong > 0) {
      m.spansRejected.inc({ transport, reason: 'name_too_long' }, tooLong);
      m.limitRefused.inc({ limit: 'name-length' }, tooLong);
    }
    if (decoded.cutVersions !== undefined) m.limitTruncated.inc({ field: 'version' }, decoded.cutVersions);
    if (decoded.cutRoutes !== undefined) m.limitTruncated.inc({ field: 'route' }, decoded.cutRoutes);
    const refused = deps.ingest(samples);
    const rejected = overLimit + (refused ? refused.future + refused.tooOld : 0);
    if (rejected === 0) return { kind: 'accepted' };
    const why = [
      overLimit > 0 ? `${overLimit} of services past limits.maxServices in the cluster (${limited.join(', ')})` : '',
      refused && refused.future > 0
        ? `${refused.future} dated more than analysis.maxClockSkew after they were received`
        : '',
      refused && refused.tooOld > 0 ? `${refused.tooOld} older than every look their service keeps` : '',
    ].filter((m) => m);
    return { kind: 'accepted', rejected, message: `spans refused: ${why.join('; ')}` };
  };
  return (decoded: DecodedTraces, encoding: OtlpEncoding): IngestOutcome | Promise<IngestOutcome> =>
    admitted(deps, decoded.samples, (samples, limited) => accept(decoded, encoding, samples, limited));
}

/**
 * Runs `accept` once the request's services are admitted (at once without cluster or when all are owned), with the
 * items of the services admitted: those of services past the cluster's limits.maxServices are left out and counted
 * (`vigil_limit_refused_total{limit="services"}`).
 */
function admitted<T extends { service: string }>(
  deps: Pick<OtlpAppDeps, 'admit' | 'metrics'>,
  items: T[],
  accept: (kept: T[], limited: readonly string[]) => IngestOutcome,
): IngestOutcome | Promise<IngestOutcome> {
  const a = deps.admit?.(items);
  if (a === undefined) return accept(items, []);
  const settle = (r: Admission): IngestOutcome => {
    if (!r.ok) return { kind: 'throttled', retryAfterSeconds: r.retryAfterSeconds, message: r.message };
    if (r.limited.length === 0) return accept(items, []);
    const kept = items.filter((i) => !r.limited.includes(i.service));
    deps.metrics.limitRefused.inc({ limit: 'services' }, items.length - kept.length);
    return accept(kept, r.limited);
  };
  return a instanceof Promise ? a.then(settle) : settle(a);
}

/**
 * The hand-off of an OTLP metrics request (HTTP and gRPC share it): decode (a malformed body throws the
 * decode error the receivers answer with 400 / INVALID_ARGUMENT), turn the histogram points into cohort
 * increments, feed them to the pipeline, and report rejected data points as a partial success. Points the
 * metric-stream limit dropped are counted in `vigil_limit_refused_total{limit="metric-streams"}`, points of a
 * service.name longer than limits.maxNameLength in `{limit="name-length"}` (and rejected).
 */
export function metricsConsumer(deps: {
  metrics: VigilMetrics;
  metricsIngest: MetricsIngest;
  ingestBatches(items: CohortIncrement[]): void;
  admit?: OtlpAppDeps['admit'];
}) {
  return (body: Buffer, encoding: OtlpEncoding): IngestOutcome | Promise<IngestOutcome> => {
    const refusedBefore = deps.metricsIngest.guard.refused;
    const r = deps.metricsIngest.ingest(body, encoding);
    const refused = deps.metricsIngest.guard.refused - refusedBefore;
    if (refused > 0) deps.metrics.limitRefused.inc({ limit: 'metric-streams' }, refused);
    const { serviceTooLongDataPoints, cutVersions } = r.decoded;
    if (serviceTooLongDataPoints !== undefined)
      deps.metrics.limitRefused.inc({ limit: 'name-length' }, serviceTooLongDataPoints);
    if (cutVersions !== undefined) deps.metrics.limitTruncated.inc({ field: 'version' }, cutVersions);
    // cluster: a refused request moved the streams' cumulative state here too; harmless, as the deltas are of
    // cumulative values (a later point counts from the last one this replica saw, whoever takes it)
    return admitted(deps, r.increments, (kept) => {
      deps.ingestBatches(kept);
      return r.rejected > 0
        ? { kind: 'accepted', rejected: r.rejected, message: r.message ?? '' }
        : { kind: 'accepted' };
    });
  };
}
