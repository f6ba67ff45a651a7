/**
 * The ingest queue on the OTLP/HTTP server: two fastify hooks around each POST.
 * - `onRequest` admits the request through the IngestGate when its headers have arrived: a slot, and a
 *   charge of 0 bytes; what its Content-Length announces is only tested against the room left. A refused
 *   request is answered at once with 503, `Retry-After: <seconds>` and a google.rpc.Status (UNAVAILABLE) in
 *   the request's encoding; its body is never buffered (Node discards it).
 * - `preParsing` meters the body: each chunk raises the charge to what has arrived (`chargeFor` the bytes
 *   received). When the queue has no room for them, the body stream fails with VIGIL_ERR_INGEST_THROTTLED
 *   and the receiver answers 503 + Retry-After and closes the connection; nothing more is buffered.
 * The admission is released when the response is finished or the connection closes. So a client that
 * announces a large body and sends nothing holds a slot and no bytes, until the receiver's body timeout.
 */
import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { VigilError } from '../../errors.js';
import type { Admission, IngestGate } from './gate.js';
import { chargeFor } from './gate.js';
import { parseContentEncoding, parseOtlpMediaType } from '../otlp/media-type.js';
import { RPC_UNAVAILABLE, statusBody } from '../otlp/otlp-responses.js';

export interface HttpAdmissionOptions {
  gate: IngestGate;
  /** The receiver's body limit (the charge of one request never exceeds it twice). */
  maxBodyBytes: number;
  /**
   * A request was refused: when it arrived (`arrival`: answered here with 503) or while its body arrived
   * (`body`: the receiver answers 503 and reports it as its other answers).
   */
  onThrottled?(reason: 'bytes' | 'requests', retryAfterSeconds: number, stage: 'arrival' | 'body'): void;
  /** The gate's occupancy changed (admitted, released, or bytes arrived). */
  onChange?(): void;
}

interface Admitted {
  admission: Extract<Admission, { ok: true }>;
  body: { gzip: boolean; json: boolean };
}

/** The admission of each request admitted by the onRequest hook, for its body's meter. */
const admitted = new WeakMap<IncomingMessage, Admitted>();

/** Adds the admission hooks to `app` (every POST of the app, the OTLP routes' plugin included). */
export function registerHttpAdmission(app: FastifyInstance, opts: HttpAdmissionOptions): void {
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    if (request.method !== 'POST') {
      done();
      return;
    }
    const length = request.headers['content-length'];
    const announced = length === undefined ? undefined : Number(length);
    const body = {
      gzip: parseContentEncoding(request.headers['content-encoding']) === 'gzip',
      json: parseOtlpMediaType(request.headers['content-type'])?.encoding === 'json',
    };
    const admission = opts.gate.tryAdmit(0, chargeFor(announced, body, opts.maxBodyBytes));
    if (admission.ok) {
      admitted.set(request.raw, { admission, body });
      reply.raw.once('close', () => {
        admission.release();
        opts.onChange?.();
      });
      opts.onChange?.();
      done();
      return;
    }
    opts.onThrottled?.(admission.reason, admission.retryAfterSeconds, 'arrival');
    const media = parseOtlpMediaType(request.headers['content-type']);
    const message = `ingest queue is full (${admission.reason}); retry after ${admission.retryAfterSeconds} s`;
    void reply
      .code(503)
      .header('retry-after', String(admission.retryAfterSeconds))
      .header('content-type', media?.mediaType ?? 'application/json')
      .send(statusBody(media?.encoding ?? 'json', RPC_UNAVAILABLE, message));
  });

  app.addHook('preParsing', (request, _reply, payload, done) => {
    const a = admitted.get(request.raw);
    if (a === undefined) {
      done(null, payload);
      return;
    }
    const meter = new BodyMeter(a, opts);
    payload.on('error', (err) => meter.destroy(err));
    // a client that goes away mid-body: the reader learns it from the meter
    payload.on('close', () => {
      if (!payload.readableEnded) meter.destroy();
    });
    done(null, payload.pipe(meter));
  });
}

/** Passes the body through, raising its admission's charge as each chunk arrives. */
class BodyMeter extends Transform {
  private received = 0;

  constructor(
    private readonly a: Admitted,
    private readonly opts: HttpAdmissionOptions,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    // past the body limit the receiver buffers nothing more (it answers 413 and discards the rest)
    const limit = this.opts.maxBodyBytes;
    const charge = chargeFor(Math.min(this.received, limit), this.a.body, limit);
    if (!this.a.admission.grow(charge)) {
      const seconds = this.opts.gate.retryAfterSeconds;
      this.opts.onThrottled?.('bytes', seconds, 'body');
      callback(
        new VigilError('VIGIL_ERR_INGEST_THROTTLED', ['bytes', seconds], {
          details: { reason: 'bytes', retryAfterSeconds: seconds },
        }),
      );
      return;
    }
    this.opts.onChange?.();
    callback(null, chunk);
  }
}
