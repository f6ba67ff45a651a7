import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DecodedTraces } from '../../contracts/telemetry.js';
import { isVigilError } from '../../errors.js';
import type { CohortRules } from '../cohort.js';
import { DEFAULT_COHORT_RULES } from '../cohort.js';
import { decodeTracesJson } from './decode-traces-json.js';
import { decodeTracesProtobuf } from './decode-traces-protobuf.js';
import type { MediaType } from './media-type.js';
import { parseContentEncoding, parseOtlpMediaType } from './media-type.js';
import type { OtlpEncoding } from './otlp-responses.js';
import {
  RPC_INTERNAL,
  RPC_INVALID_ARGUMENT,
  RPC_RESOURCE_EXHAUSTED,
  RPC_UNAVAILABLE,
  RPC_UNIMPLEMENTED,
  exportResponseBody,
  statusBody,
} from './otlp-responses.js';
import { inflateGzip, readBoundedBody, tooLarge } from './request-body.js';

/** What the consumer of decoded telemetry answers: take it (optionally with a partial rejection), or back off. */
export type IngestOutcome =
  { kind: 'accepted'; rejected?: number; message?: string } | { kind: 'throttled'; retryAfterSeconds: number };

export type OtlpSignal = 'traces' | 'metrics' | 'logs';

export interface OtlpHttpOptions {
  /** Default '/v1/traces'. */
  tracesPath?: string;
  /** Default '/v1/metrics'. */
  metricsPath?: string;
  /** Default '/v1/logs'. */
  logsPath?: string;
  /** Limit on the body, checked before (Content-Length, bytes received) and after gzip inflation. */
  maxBodyBytes?: number;
  cohortRules?: CohortRules;
  /** Synchronous hand-off of decoded traces; the caller aggregates. */
  onTraces(decoded: DecodedTraces, encoding: OtlpEncoding): IngestOutcome;
  /** Trace decoding (e.g. large bodies in worker threads, DecodePool); default: the decoders, inline. */
  decodeTraces?(body: Buffer, encoding: OtlpEncoding): DecodedTraces | Promise<DecodedTraces>;
  /** Seam for metrics ingestion; may throw VIGIL_ERR_INGEST_DECODE (400). Absent: 200 and dropped. */
  onMetrics?(body: Buffer, contentType: OtlpEncoding): IngestOutcome;
  /** Every non-200 answer: a short reason (`media-type`, `encoding`, `too-large`, `decode`, `method`,
   *  `throttled`, `internal`) and the HTTP status. */
  onRejected?(reason: string, status: number): void;
  /** A request accepted and dropped unread (logs, and metrics while no onMetrics is given). */
  onDropped?(signal: OtlpSignal, bytes: number): void;
}

export const DEFAULT_OTLP_MAX_BODY_BYTES = 16 * 1024 * 1024;

const SUPPORTED = 'application/x-protobuf or application/json';
const OTHER_METHODS = ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/** Content-Type headers as received (the hook below replaces them so fastify never judges them). */
const receivedContentType = new WeakMap<object, string | undefined>();

class Answer {
  constructor(
    readonly status: number,
    readonly rpcCode: number,
    readonly reason: string,
    readonly message: string,
  ) {}
}

class ThrottledAnswer extends Answer {
  constructor(readonly retryAfterSeconds: number) {
    super(503, RPC_UNAVAILABLE, 'throttled', `ingest is saturated; retry after ${retryAfterSeconds} s`);
  }
}

/**
 * The OTLP/HTTP receiver as a fastify plugin; register it encapsulated (`app.register(otlpHttpPlugin, opts)`)
 * because it replaces the content-type parsers of its scope.
 *
 * Behaviour (OTLP.md "Transport"): POST only (405 + `Allow: POST`); `application/x-protobuf` or
 * `application/json` (parameters allowed), else 415; `Content-Encoding` gzip or identity, else 415; body
 * limit before and after inflation, 413; answers carry the request's media type; 200 with an empty
 * Export*ServiceResponse or a partial success; errors carry a google.rpc.Status (400 INVALID_ARGUMENT,
 * 413 RESOURCE_EXHAUSTED, 415 INVALID_ARGUMENT, 405 UNIMPLEMENTED, 503 UNAVAILABLE + Retry-After,
 * 500 INTERNAL when a consumer throws). Logs are accepted and dropped (never 5xx). Fastify's own body
 * parsing is bypassed: a catch-all parser hands over the raw stream and the limits are enforced here, so
 * every answer has an OTLP body. Each request is handled on its own; nothing thrown escapes the handler.
 */
export async function otlpHttpPlugin(app: FastifyInstance, opts: OtlpHttpOptions): Promise<void> {
  const limit = opts.maxBodyBytes ?? DEFAULT_OTLP_MAX_BODY_BYTES;
  const rules = opts.cohortRules ?? DEFAULT_COHORT_RULES;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => {
    done(null, payload);
  });
  app.addHook('onRequest', (request, _reply, done) => {
    const ct = request.headers['content-type'];
    receivedContentType.set(request.raw, ct);
    if (ct !== undefined) request.headers['content-type'] = 'application/octet-stream';
    done();
  });

  const handlers = signalHandlers(opts, rules);

  const register = (signal: OtlpSignal, path: string): void => {
    app.post(path, async (request, reply) => handle(signal, request, reply));
    app.route({
      method: [...OTHER_METHODS],
      url: path,
      handler: async (_request, reply) => {
        reply.header('allow', 'POST');
        return send(reply, undefined, new Answer(405, RPC_UNIMPLEMENTED, 'method', `use POST on ${path}`));
      },
    });
  };

  const send = (reply: FastifyReply, media: MediaType | undefined, answer: Answer | Buffer): FastifyReply => {
    const encoding = media?.encoding ?? 'json';
    reply.header('content-type', media?.mediaType ?? 'application/json');
    if (answer instanceof Answer) {
      if (answer instanceof ThrottledAnswer) reply.header('retry-after', String(answer.retryAfterSeconds));
      // the rest of an oversized body is not read: do not keep the connection for another request
      if (answer.status === 413) reply.header('connection', 'close');
      opts.onRejected?.(answer.reason, answer.status);
      return reply.code(answer.status).send(statusBody(encoding, answer.rpcCode, answer.message));
    }
    return reply.code(200).send(answer);
  };

  const handle = async (signal: OtlpSignal, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const ct = receivedContentType.get(request.raw);
    const media = parseOtlpMediaType(ct);
    if (media === undefined) {
      return send(
        reply,
        undefined,
        new Answer(
          415,
          RPC_INVALID_ARGUMENT,
          'media-type',
          `unsupported media type ${ct === undefined ? '(none)' : JSON.stringify(ct)}; use ${SUPPORTED}`,
        ),
      );
    }
    const encodingHeader = request.headers['content-encoding'];
    const contentEncoding = parseContentEncoding(encodingHeader);
    if (contentEncoding === undefined) {
      return send(
        reply,
        media,
        new Answer(
          415,
          RPC_INVALID_ARGUMENT,
          'encoding',
          `unsupported content encoding ${JSON.stringify(encodingHeader)}; use gzip or none`,
        ),
      );
    }
    try {
      const announced = Number(request.headers['content-length'] ?? 0);
      if (announced > limit) throw tooLarge(limit, 'announced');
      let body = await readBoundedBody(request.body as Readable | undefined, limit);
      if (contentEncoding === 'gzip' && signal !== 'logs') body = await inflateGzip(body, limit);
      return send(reply, media, await handlers[signal](body, media));
    } catch (err) {
      return send(reply, media, answerFor(err, request));
    }
  };

  register('traces', opts.tracesPath ?? '/v1/traces');
  register('metrics', opts.metricsPath ?? '/v1/metrics');
  register('logs', opts.logsPath ?? '/v1/logs');
  return Promise.resolve();
}

type SignalHandler = (body: Buffer, media: MediaType) => Answer | Buffer | Promise<Answer | Buffer>;

/** What each signal's body becomes: decoded and handed to its consumer (traces, metrics) or dropped (logs). */
function signalHandlers(opts: OtlpHttpOptions, rules: CohortRules): Record<OtlpSignal, SignalHandler> {
  return {
    traces: async (body, media) => {
      const decoded =
        opts.decodeTraces !== undefined
          ? await opts.decodeTraces(body, media.encoding)
          : media.encoding === 'protobuf'
            ? decodeTracesProtobuf(body, rules)
            : decodeTracesJson(body, rules);
      const outcome = opts.onTraces(decoded, media.encoding);
      if (outcome.kind === 'throttled') return throttled(outcome.retryAfterSeconds);
      const rejected = decoded.rejectedSpans + (outcome.rejected ?? 0);
      const message = [decoded.rejectionMessage, outcome.message].filter((m) => m).join('; ');
      return exportResponseBody(media.encoding, rejected, message);
    },
    metrics: (body, media) => {
      if (opts.onMetrics === undefined) {
        opts.onDropped?.('metrics', body.length);
        return exportResponseBody(media.encoding);
      }
      const outcome = opts.onMetrics(body, media.encoding);
      if (outcome.kind === 'throttled') return throttled(outcome.retryAfterSeconds);
      return exportResponseBody(media.encoding, outcome.rejected ?? 0, outcome.message ?? '', 'rejectedDataPoints');
    },
    logs: (body, media) => {
      opts.onDropped?.('logs', body.length);
      return exportResponseBody(media.encoding);
    },
  };
}

function throttled(retryAfterSeconds: number): Answer {
  const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
  return new ThrottledAnswer(seconds);
}

function answerFor(err: unknown, request: FastifyRequest): Answer {
  if (isVigilError(err)) {
    if (err.code === 'VIGIL_ERR_INGEST_TOO_LARGE')
      return new Answer(413, RPC_RESOURCE_EXHAUSTED, 'too-large', err.message);
    if (err.code === 'VIGIL_ERR_INGEST_DECODE') return new Answer(400, RPC_INVALID_ARGUMENT, 'decode', err.message);
  }
  request.log.error({ err }, 'OTLP request failed');
  return new Answer(500, RPC_INTERNAL, 'internal', 'internal error while ingesting the request');
}
