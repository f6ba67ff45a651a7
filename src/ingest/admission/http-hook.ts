/**
 * The ingest queue on the OTLP/HTTP server: a fastify `onRequest` hook that admits each POST through the
 * IngestGate before its body is read, and releases it when the response is finished or the connection
 * closes. A refused request is answered at once with 503, `Retry-After: <seconds>` and a google.rpc.Status
 * (UNAVAILABLE) in the request's encoding; its body is never buffered (Node discards it).
 */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { IngestGate } from './gate.js';
import { chargeFor } from './gate.js';
import { parseContentEncoding, parseOtlpMediaType } from '../otlp/media-type.js';
import { RPC_UNAVAILABLE, statusBody } from '../otlp/otlp-responses.js';

export interface HttpAdmissionOptions {
  gate: IngestGate;
  /** The receiver's body limit (the charge of one request never exceeds it twice). */
  maxBodyBytes: number;
  /** A request was refused (the answer is 503). */
  onThrottled?(reason: 'bytes' | 'requests', retryAfterSeconds: number): void;
  /** The gate's occupancy changed (admitted or released). */
  onChange?(): void;
}

export function httpAdmissionHook(opts: HttpAdmissionOptions): onRequestHookHandler {
  return (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    if (request.method !== 'POST') {
      done();
      return;
    }
    const length = request.headers['content-length'];
    const announced = length === undefined ? undefined : Number(length);
    const gzip = parseContentEncoding(request.headers['content-encoding']) === 'gzip';
    const json = parseOtlpMediaType(request.headers['content-type'])?.encoding === 'json';
    const admission = opts.gate.tryAdmit(chargeFor(announced, { gzip, json }, opts.maxBodyBytes));
    if (admission.ok) {
      reply.raw.once('close', () => {
        admission.release();
        opts.onChange?.();
      });
      opts.onChange?.();
      done();
      return;
    }
    opts.onThrottled?.(admission.reason, admission.retryAfterSeconds);
    const media = parseOtlpMediaType(request.headers['content-type']);
    const message = `ingest queue is full (${admission.reason}); retry after ${admission.retryAfterSeconds} s`;
    void reply
      .code(503)
      .header('retry-after', String(admission.retryAfterSeconds))
      .header('content-type', media?.mediaType ?? 'application/json')
      .send(statusBody(media?.encoding ?? 'json', RPC_UNAVAILABLE, message));
  };
}
