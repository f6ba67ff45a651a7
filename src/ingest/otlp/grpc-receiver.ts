/**
 * The OTLP/gRPC receiver (port 4317): unary `Export` of
 * `opentelemetry.proto.collector.trace.v1.TraceService`, `...metrics.v1.MetricsService` and
 * `...logs.v1.LogsService` (logs are accepted and dropped, as over HTTP).
 *
 * No .proto is loaded: the services are registered with identity (de)serializers, so each handler gets the
 * raw (already gunzipped) request Buffer and decodes it with the project's protobuf decoder. Behaviour
 * (OTLP.md "Transport"):
 * - grpc-js handles `grpc-encoding: gzip`; `grpc.max_receive_message_length` is the configured body limit
 *   (checked by grpc-js after decompression too: RESOURCE_EXHAUSTED);
 * - success: an empty Export*ServiceResponse, or one with `partial_success` (rejected spans / data points
 *   and a message);
 * - undecodable data: INVALID_ARGUMENT with the decoder's message (field and offset), not retried;
 * - overload (the shared ingest queue is full, or the consumer says so): UNAVAILABLE with a google.rpc.Status
 *   carrying google.rpc.RetryInfo in `grpc-status-details-bin`, which the Collector honours;
 * - a consumer that throws: INTERNAL;
 * - a call whose request message has not arrived `messageTimeoutMs` after its metadata: DEADLINE_EXCEEDED,
 *   then the stream is reset (RST_STREAM NO_ERROR, as RFC 9113 8.1 lets a server that answered early do), so
 *   it no longer counts against the connection's `maxConcurrentStreams`;
 * - at most `maxConcurrentStreams` calls at once per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS:
 *   clients queue the rest, streams past it are refused with REFUSED_STREAM); a connection without calls for
 *   `idleTimeoutMs` is closed (GOAWAY).
 * Admission (the shared ingest queue) is an interceptor the caller gives (admission/grpc-interceptor.ts).
 */
import type {
  Metadata as MetadataType,
  ServerInterceptingCallInterface,
  ServerInterceptor,
  ServerUnaryCall,
  ServiceDefinition,
  UntypedServiceImplementation,
  sendUnaryData,
} from '@grpc/grpc-js';
import { Metadata, Server, ServerCredentials, ServerInterceptingCall, status } from '@grpc/grpc-js';
import type { DecodedTraces } from '../../contracts/telemetry.js';
import { isVigilError } from '../../errors.js';
import type { CohortRules } from '../cohort.js';
import { DEFAULT_COHORT_RULES } from '../cohort.js';
import { decodeTracesProtobuf } from './decode-traces-protobuf.js';
import type { IngestOutcome, OtlpSignal } from './http-receiver.js';
import { DEFAULT_OTLP_MAX_BODY_BYTES } from './http-receiver.js';
import { exportResponseBody, retryInfoStatusDetails } from './otlp-responses.js';

export { retryInfoStatusDetails };

export const TRACE_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
export const METRICS_EXPORT_PATH = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';
export const LOGS_EXPORT_PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';

export interface OtlpGrpcOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Largest request message, after decompression (default 16 MiB, as the HTTP body limit). */
  maxMessageBytes?: number;
  cohortRules?: CohortRules;
  /** Admission control: the ingest queue's interceptor (admission/grpc-interceptor.ts); absent: none. */
  admission?: ServerInterceptor;
  /** Time from a call's metadata to its whole request message; past it: DEADLINE_EXCEEDED. 0 or absent: none. */
  messageTimeoutMs?: number;
  /** Concurrent calls (HTTP/2 streams) per connection; absent: grpc-js's default (no limit). */
  maxConcurrentStreams?: number;
  /** A connection without calls for this long is closed (GOAWAY); 0 or absent: never. */
  idleTimeoutMs?: number;
  /** Synchronous hand-off of decoded traces; the caller aggregates. */
  onTraces(decoded: DecodedTraces, encoding: 'protobuf'): IngestOutcome | Promise<IngestOutcome>;
  /** Trace decoding (e.g. large messages in worker threads, DecodePool); default: the decoder, inline. */
  decodeTraces?(body: Buffer, encoding: 'protobuf'): DecodedTraces | Promise<DecodedTraces>;
  /** Metrics ingestion (same seam as the HTTP receiver); may throw VIGIL_ERR_INGEST_DECODE. Absent: dropped. */
  onMetrics?(body: Buffer, encoding: 'protobuf'): IngestOutcome | Promise<IngestOutcome>;
  /** Every non-OK answer: a short reason (`decode`, `throttled`, `deadline`, `internal`) and the gRPC status code. */
  onRejected?(reason: string, code: number): void;
  /** A request accepted and dropped unread (logs, and metrics while no onMetrics is given). */
  onDropped?(signal: OtlpSignal, bytes: number): void;
  /** Unexpected errors (answered INTERNAL). */
  onInternalError?(err: unknown): void;
}

export interface OtlpGrpcReceiver {
  /** Binds and starts serving; resolves with the bound address (`host:port`). */
  listen(): Promise<{ host: string; port: number; address: string }>;
  /** Stops accepting calls, lets running calls finish for up to `graceMs`, then cancels the rest. */
  close(graceMs?: number): Promise<void>;
}

const identity = (b: Buffer): Buffer => b;

function unaryMethod(path: string) {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    originalName: 'export',
  } as const;
}

function serviceOf(path: string): ServiceDefinition<UntypedServiceImplementation> {
  return { Export: unaryMethod(path) };
}

export interface GrpcError {
  code: number;
  details: string;
  metadata?: MetadataType;
}

/** UNAVAILABLE with a google.rpc.Status carrying RetryInfo (the Collector waits that long, then retries). */
export function unavailable(retryAfterSeconds: number, why: string): GrpcError {
  const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
  const details = `${why}; retry after ${seconds} s`;
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', retryInfoStatusDetails(status.UNAVAILABLE, details, seconds));
  return { code: status.UNAVAILABLE, details, metadata };
}

/**
 * A server interceptor that cancels a call whose request message has not arrived `ms` after its metadata:
 * DEADLINE_EXCEEDED ("the request message did not arrive within N ms"), then the HTTP/2 stream is reset with
 * NO_ERROR, so that a client that never ends its stream does not keep it open (grpc-js alone would leave it
 * half-closed, counted against the connection's concurrent streams). Calls that answered or were cancelled
 * stop their timer. It must be the first (innermost) interceptor: it resets the stream of the call it wraps.
 */
export function messageDeadline(ms: number, onExpired?: () => void): ServerInterceptor {
  return (_method, call) => {
    let timer: NodeJS.Timeout | undefined;
    const stop = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    const expire = (): void => {
      timer = undefined;
      onExpired?.();
      call.sendStatus({
        code: status.DEADLINE_EXCEEDED,
        details: `the request message did not arrive within ${ms} ms`,
        metadata: new Metadata(),
      });
      resetStream(call);
    };
    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            timer = setTimeout(expire, ms);
            nextMetadata(metadata);
          },
          onReceiveMessage: (message: unknown, nextMessage) => {
            stop();
            nextMessage(message);
          },
          onReceiveHalfClose: (nextHalfClose) => {
            stop();
            nextHalfClose();
          },
          onCancel: stop,
        });
      },
      sendStatus: (s, next) => {
        stop();
        next(s);
      },
    });
  };
}

/** The subset of node:http2's ServerHttp2Stream used to reset a stream. */
interface ResettableStream {
  readonly closed: boolean;
  readonly writableFinished: boolean;
  close(code?: number): void;
  once(event: 'finish', listener: () => void): unknown;
}

/**
 * Resets the HTTP/2 stream under a grpc-js server call (RST_STREAM NO_ERROR) once its answer is written.
 * grpc-js keeps the stream private (`stream` of its base call): when it cannot be found, nothing happens.
 */
function resetStream(call: ServerInterceptingCallInterface): void {
  const stream = (call as unknown as { stream?: Partial<ResettableStream> }).stream;
  if (stream === undefined || typeof stream.close !== 'function' || typeof stream.once !== 'function') return;
  const s = stream as ResettableStream;
  const close = (): void => {
    if (!s.closed) s.close(0); // NGHTTP2_NO_ERROR
  };
  if (s.writableFinished) close();
  else s.once('finish', close);
}

// ---- the receiver ------------------------------------------------------------------------------------

export function createOtlpGrpcReceiver(opts: OtlpGrpcOptions): OtlpGrpcReceiver {
  const limit = opts.maxMessageBytes ?? DEFAULT_OTLP_MAX_BODY_BYTES;
  const rules = opts.cohortRules ?? DEFAULT_COHORT_RULES;
  // the first interceptor is the innermost: the deadline sees the call before the admission does, and its
  // DEADLINE_EXCEEDED releases the admission through the call's cancellation
  const interceptors: ServerInterceptor[] = [];
  if ((opts.messageTimeoutMs ?? 0) > 0)
    interceptors.push(
      messageDeadline(opts.messageTimeoutMs!, () => opts.onRejected?.('deadline', status.DEADLINE_EXCEEDED)),
    );
  if (opts.admission !== undefined) interceptors.push(opts.admission);
  const server = new Server({
    'grpc.max_receive_message_length': limit,
    'grpc.max_send_message_length': 1024 * 1024,
    ...(opts.maxConcurrentStreams !== undefined ? { 'grpc.max_concurrent_streams': opts.maxConcurrentStreams } : {}),
    ...((opts.idleTimeoutMs ?? 0) > 0 ? { 'grpc.max_connection_idle_ms': opts.idleTimeoutMs } : {}),
    interceptors,
  });

  const answer = async (signal: OtlpSignal, body: Buffer): Promise<Buffer | GrpcError> => {
    if (signal === 'traces') {
      const decoded =
        opts.decodeTraces !== undefined ? await opts.decodeTraces(body, 'protobuf') : decodeTracesProtobuf(body, rules);
      const outcome = await opts.onTraces(decoded, 'protobuf');
      if (outcome.kind === 'throttled')
        return unavailable(outcome.retryAfterSeconds, outcome.message ?? 'ingest is saturated');
      const rejected = decoded.rejectedSpans + (outcome.rejected ?? 0);
      const message = [decoded.rejectionMessage, outcome.message].filter((m) => m).join('; ');
      return exportResponseBody('protobuf', rejected, message);
    }
    if (signal === 'metrics' && opts.onMetrics !== undefined) {
      const outcome = await opts.onMetrics(body, 'protobuf');
      if (outcome.kind === 'throttled')
        return unavailable(outcome.retryAfterSeconds, outcome.message ?? 'ingest is saturated');
      return exportResponseBody('protobuf', outcome.rejected ?? 0, outcome.message ?? '', 'rejectedDataPoints');
    }
    opts.onDropped?.(signal, body.length);
    return exportResponseBody('protobuf');
  };

  const failed = (err: unknown): GrpcError => {
    if (isVigilError(err) && err.code === 'VIGIL_ERR_INGEST_DECODE') {
      opts.onRejected?.('decode', status.INVALID_ARGUMENT);
      return { code: status.INVALID_ARGUMENT, details: err.message };
    }
    opts.onInternalError?.(err);
    opts.onRejected?.('internal', status.INTERNAL);
    return { code: status.INTERNAL, details: 'internal error while ingesting the request' };
  };

  const handler =
    (signal: OtlpSignal) =>
    (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void => {
      answer(signal, call.request).then(
        (result) => {
          if (Buffer.isBuffer(result)) {
            callback(null, result);
            return;
          }
          opts.onRejected?.('throttled', result.code);
          callback(result, null);
        },
        (err: unknown) => callback(failed(err), null),
      );
    };

  server.addService(serviceOf(TRACE_EXPORT_PATH), { Export: handler('traces') });
  server.addService(serviceOf(METRICS_EXPORT_PATH), { Export: handler('metrics') });
  server.addService(serviceOf(LOGS_EXPORT_PATH), { Export: handler('logs') });

  return lifecycle(server, opts.host, opts.port);
}

/** Binding and graceful shutdown of the server (a server never bound is shut down at once). */
function lifecycle(server: Server, host: string, port: number): OtlpGrpcReceiver {
  let bound = false;
  return {
    listen: () =>
      new Promise((resolve, reject) => {
        server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, boundPort) => {
          if (err) {
            reject(err);
            return;
          }
          bound = true;
          const shown = host.includes(':') ? `[${host}]` : host;
          resolve({ host, port: boundPort, address: `${shown}:${boundPort}` });
        });
      }),
    close: (graceMs = 5_000) =>
      new Promise<void>((resolve) => {
        if (!bound) {
          server.forceShutdown();
          resolve();
          return;
        }
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
