import type { Socket } from 'node:net';
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
  RPC_DEADLINE_EXCEEDED,
  RPC_INTERNAL,
  RPC_INVALID_ARGUMENT,
  RPC_RESOURCE_EXHAUSTED,
  RPC_UNAVAILABLE,
  RPC_UNIMPLEMENTED,
  exportResponseBody,
  statusBody,
} from './otlp-responses.js';
import { BodyAbortedError, inflateGzip, readBoundedBody, tooLarge } from './request-body.js';

/** What the consumer of decoded telemetry answers: take it (optionally with a partial rejection), or back off. */
export type IngestOutcome =
  | { kind: 'accepted'; rejected?: number; message?: string }
  /** Retryable refusal (503 + Retry-After / UNAVAILABLE): nothing of the request was taken. `message` says why
   *  (default: the ingest queue is saturated). */
  | { kind: 'throttled'; retryAfterSeconds: number; message?: string };

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
  /**
   * Time from a request's headers to the last byte of its body; past it: 408 with a google.rpc.Status
   * (DEADLINE_EXCEEDED) and the connection is closed. 0 or absent: no limit.
   */
  bodyTimeoutMs?: number;
  cohortRules?: CohortRules;
  /** Synchronous hand-off of decoded traces; the caller aggregates. */
  onTraces(decoded: DecodedTraces, encoding: OtlpEncoding): IngestOutcome | Promise<IngestOutcome>;
  /** Trace decoding (e.g. large bodies in worker threads, DecodePool); default: the decoders, inline. */
  decodeTraces?(body: Buffer, encoding: OtlpEncoding): DecodedTraces | Promise<DecodedTraces>;
  /** Seam for metrics ingestion; may throw VIGIL_ERR_INGEST_DECODE (400). Absent: 200 and dropped. */
  onMetrics?(body: Buffer, contentType: OtlpEncoding): IngestOutcome | Promise<IngestOutcome>;
  /** Every non-200 answer: a short reason (`media-type`, `encoding`, `too-large`, `decode`, `method`,
   *  `throttled`, `timeout`, `aborted`, `internal`) and the HTTP status. */
  onRejected?(reason: string, status: number): void;
  /** A request accepted and dropped unread (logs, and metrics while no onMetrics is given). */
  onDropped?(signal: OtlpSignal, bytes: number): void;
}

export const DEFAULT_OTLP_MAX_BODY_BYTES = 16 * 1024 * 1024;

const SUPPORTED = 'application/x-protobuf or application/json';
const OTHER_METHODS = ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/** Content-Type headers as received (the hook below replaces them so fastify never judges them). */
const receivedContentType = new WeakMap<object, string | undefined>();
/** When each request's headers were complete (the body timeout counts from there). */
const arrivedAt = new WeakMap<object, number>();
/** The encoding of the last OTLP request seen on each connection (for answers Node's parser asks for). */
const socketEncoding = new WeakMap<Socket, OtlpEncoding>();

class Answer {
  constructor(
    readonly status: number,
    readonly rpcCode: number,
    readonly reason: string,
    readonly message: string,
    /** The body was not read to its end: the connection is closed after the answer. */
    readonly closes = false,
  ) {}
}

class ThrottledAnswer extends Answer {
  constructor(
    readonly retryAfterSeconds: number,
    message = `ingest is saturated; retry after ${retryAfterSeconds} s`,
    closes = false,
  ) {
    super(503, RPC_UNAVAILABLE, 'throttled', message, closes);
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
 * 408 DEADLINE_EXCEEDED when the body is not complete `bodyTimeoutMs` after the headers, 500 INTERNAL when a
 * consumer throws). Logs are accepted and dropped (never 5xx). Fastify's own body parsing is bypassed: a
 * catch-all parser hands over the raw stream and the limits are enforced here, so every answer has an OTLP
 * body. An answer given before the body was read to its end (408, 413, a 503 of the ingest queue while the
 * body arrived) closes the connection. Each request is handled on its own; nothing thrown escapes the handler.
 * What Node's HTTP parser refuses before a request exists (bad framing, a header timeout) is answered by
 * `otlpClientErrorHandler`, which the server must be given.
 */
export async function otlpHttpPlugin(app: FastifyInstance, opts: OtlpHttpOptions): Promise<void> {
  const limit = opts.maxBodyBytes ?? DEFAULT_OTLP_MAX_BODY_BYTES;
  const rules = opts.cohortRules ?? DEFAULT_COHORT_RULES;
  const bodyTimeoutMs = opts.bodyTimeoutMs ?? 0;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => {
    done(null, payload);
  });
  app.addHook('onRequest', (request, _reply, done) => {
    remember(request);
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
      // the rest of the body is not read: do not keep the connection for another request
      if (answer.closes) reply.header('connection', 'close');
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
      const left = bodyTimeoutMs > 0 ? Math.max(1, arrivedAt.get(request.raw)! + bodyTimeoutMs - Date.now()) : 0;
      let body = await readBoundedBody(request.body as Readable | undefined, limit, left);
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

/**
 * What the routes need of a request's headers, kept before fastify sees them: the Content-Type as received
 * (replaced so that fastify never judges it), when the headers were complete (the body timeout counts from
 * there), and the connection's encoding (for what Node's parser refuses later on it).
 */
function remember(request: FastifyRequest): void {
  const ct = request.headers['content-type'];
  receivedContentType.set(request.raw, ct);
  arrivedAt.set(request.raw, Date.now());
  const encoding = parseOtlpMediaType(ct)?.encoding;
  if (encoding !== undefined) socketEncoding.set(request.raw.socket, encoding);
  if (ct !== undefined) request.headers['content-type'] = 'application/octet-stream';
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
      const outcome = await opts.onTraces(decoded, media.encoding);
      if (outcome.kind === 'throttled') return throttled(outcome.retryAfterSeconds, outcome.message);
      const rejected = decoded.rejectedSpans + (outcome.rejected ?? 0);
      const message = [decoded.rejectionMessage, outcome.message].filter((m) => m).join('; ');
      return exportResponseBody(media.encoding, rejected, message);
    },
    metrics: async (body, media) => {
      if (opts.onMetrics === undefined) {
        opts.onDropped?.('metrics', body.length);
        return exportResponseBody(media.encoding);
      }
      const outcome = await opts.onMetrics(body, media.encoding);
      if (outcome.kind === 'throttled') return throttled(outcome.retryAfterSeconds, outcome.message);
      return exportResponseBody(media.encoding, outcome.rejected ?? 0, outcome.message ?? '', 'rejectedDataPoints');
    },
    logs: (body, media) => {
      opts.onDropped?.('logs', body.length);
      return exportResponseBody(media.encoding);
    },
  };
}

function throttled(retryAfterSeconds: number, why?: string): Answer {
  const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
  return new ThrottledAnswer(seconds, why === undefined ? undefined : `${why}; retry after ${seconds} s`);
}

function answerFor(err: unknown, request: FastifyRequest): Answer {
  if (isVigilError(err)) {
    switch (err.code) {
      case 'VIGIL_ERR_INGEST_TOO_LARGE':
        return new Answer(413, RPC_RESOURCE_EXHAUSTED, 'too-large', err.message, true);
      case 'VIGIL_ERR_INGEST_DECODE':
        return new Answer(400, RPC_INVALID_ARGUMENT, 'decode', err.message);
      case 'VIGIL_ERR_INGEST_TIMEOUT':
        return new Answer(408, RPC_DEADLINE_EXCEEDED, 'timeout', err.message, true);
      case 'VIGIL_ERR_INGEST_THROTTLED': {
        const seconds = Number(err.details.retryAfterSeconds);
        return new ThrottledAnswer(Number.isFinite(seconds) ? Math.max(1, Math.ceil(seconds)) : 1, err.message, true);
      }
      default:
        break;
    }
  }
  if (err instanceof BodyAbortedError) {
    // nobody is left to read an answer; not worth more than a debug line (a client can cause it at will)
    request.log.debug({ err }, 'OTLP request aborted by the client');
    return new Answer(400, RPC_INVALID_ARGUMENT, 'aborted', err.message, true);
  }
  request.log.error({ err }, 'OTLP request failed');
  return new Answer(500, RPC_INTERNAL, 'internal', 'internal error while ingesting the request');
}

/** Node's parser errors fastify passes to `clientErrorHandler` (ConnectionError), as far as they are read here. */
interface ClientError extends Error {
  code?: string;
  /** The bytes the parser was reading (a Buffer from Node; typed loosely by fastify). */
  rawPacket?: unknown;
}

/** The HTTP status, google.rpc.Status code and message of what Node's parser refused, by its error code. */
function clientErrorAnswer(err: ClientError): { status: number; text: string; rpcCode: number; message: string } {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return {
      status: 408,
      text: 'Request Timeout',
      rpcCode: RPC_DEADLINE_EXCEEDED,
      message: 'the request headers or body did not arrive in time',
    };
  if (err.code === 'HPE_HEADER_OVERFLOW')
    return {
      status: 431,
      text: 'Request Header Fields Too Large',
      rpcCode: RPC_INVALID_ARGUMENT,
      message: 'the request headers are too large',
    };
  const why = err.code?.startsWith('HPE_') === true ? `${err.code}: ${err.message}` : 'malformed HTTP request';
  return { status: 400, text: 'Bad Request', rpcCode: RPC_INVALID_ARGUMENT, message: why.slice(0, 200) };
}

/** The encoding of the request Node's parser refused: its Content-Type if the bytes show one, else the connection's. */
function clientErrorEncoding(err: ClientError, socket: Socket): OtlpEncoding {
  if (Buffer.isBuffer(err.rawPacket)) {
    const head = err.rawPacket.subarray(0, 16 * 1024).toString('latin1');
    const ct = /^content-type:[ \t]*([^\r\n]*)/im.exec(head)?.[1];
    const media = parseOtlpMediaType(ct);
    if (media !== undefined) return media.encoding;
  }
  return socketEncoding.get(socket) ?? 'json';
}

/**
 * fastify's `clientErrorHandler` for the OTLP/HTTP server: what Node's HTTP parser refuses before a request
 * reaches a route (Content-Length / Transfer-Encoding conflicts, bad chunking, a header timeout, Node's request
 * timeout) is answered, as the routes answer, with a google.rpc.Status in the request's encoding (the
 * Content-Type in the refused bytes, else the connection's last request, else JSON): 400 INVALID_ARGUMENT,
 * 408 DEADLINE_EXCEEDED or 431. The connection is then closed. Nothing is written when an answer is already
 * under way on the connection, as Node does.
 */
export function otlpClientErrorHandler(opts: { onRejected?(reason: string, status: number): void } = {}) {
  return (err: ClientError, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const answer = clientErrorAnswer(err);
    opts.onRejected?.(answer.status === 408 ? 'timeout' : 'malformed', answer.status);
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && inFlight?.headersSent !== true) {
      const encoding = clientErrorEncoding(err, socket);
      const body = statusBody(encoding, answer.rpcCode, answer.message);
      const type = encoding === 'json' ? 'application/json' : 'application/x-protobuf';
      socket.write(
        `HTTP/1.1 ${answer.status} ${answer.text}\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      );
      socket.write(body);
    }
    socket.destroy(err);
  };
}
