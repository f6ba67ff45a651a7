/**
 * The ingest queue on the OTLP/gRPC server: a server interceptor that admits each call through the
 * IngestGate when its metadata arrives (a slot and 0 bytes; an unknown-size body, gzip if `grpc-encoding`
 * says so, must fit in the room left), charges the message once it has arrived (grpc-js hands it over
 * whole), and releases it when the status is sent or the call is cancelled. A refused call gets UNAVAILABLE
 * + RetryInfo at once and its message is never read. A call whose message never comes holds its slot, no
 * bytes, until the receiver's message deadline cancels it. The gRPC counterpart of http-hook.ts.
 */
import type { ServerInterceptingCallInterface, ServerInterceptor } from '@grpc/grpc-js';
import { ServerInterceptingCall, status } from '@grpc/grpc-js';
import { unavailable } from '../otlp/grpc-receiver.js';
import type { Admission, IngestGate } from './gate.js';
import { chargeFor } from './gate.js';

export interface GrpcAdmissionOptions {
  gate: IngestGate;
  /** The receiver's message limit (the charge of one call never exceeds it twice). */
  maxMessageBytes: number;
  /** A call was refused (`bytes` or `requests`); also reported to onRejected as `throttled`. */
  onThrottled?(reason: 'bytes' | 'requests'): void;
  /** The refused call's answer (UNAVAILABLE), as the receiver reports its other non-OK answers. */
  onRejected?(reason: 'throttled', code: number): void;
  /** The gate's occupancy changed (admitted or released). */
  onChange?(): void;
}

export function grpcAdmissionInterceptor(opts: GrpcAdmissionOptions): ServerInterceptor {
  const { gate, maxMessageBytes: limit } = opts;
  return (_method, call: ServerInterceptingCallInterface) => {
    let admission: Admission | undefined;
    const release = (): void => {
      if (admission?.ok) {
        admission.release();
        opts.onChange?.();
      }
      admission = undefined;
    };
    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const gzip = metadata.get('grpc-encoding')[0] === 'gzip';
            const a = gate.tryAdmit(0, chargeFor(undefined, { gzip, json: false }, limit));
            if (!a.ok) {
              opts.onThrottled?.(a.reason);
              opts.onRejected?.('throttled', status.UNAVAILABLE);
              call.sendStatus(unavailable(a.retryAfterSeconds, `ingest queue is full (${a.reason})`));
              return;
            }
            admission = a;
            opts.onChange?.();
            nextMetadata(metadata);
          },
          onReceiveMessage: (message: unknown, nextMessage) => {
            if (admission?.ok && Buffer.isBuffer(message)) {
              admission.resize(2 * message.length);
              opts.onChange?.();
            }
            nextMessage(message);
          },
          onCancel: release,
        });
      },
      sendStatus: (s, next) => {
        release();
        next(s);
      },
    });
  };
}
