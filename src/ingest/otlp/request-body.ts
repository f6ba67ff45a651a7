import type { Readable } from 'node:stream';
import { gunzip } from 'node:zlib';
import { VigilError } from '../../errors.js';

/** A client that went away before its body was complete (nobody is left to answer). */
export class BodyAbortedError extends Error {
  constructor() {
    super('request body aborted by the client');
    this.name = 'BodyAbortedError';
  }
}

/**
 * Reads a request body into one Buffer, refusing more than `limit` bytes. When the limit is crossed the
 * promise rejects at once with VIGIL_ERR_INGEST_TOO_LARGE; the rest of the body is drained and discarded
 * (never buffered) so that the answer can still be written. Memory is bounded by `limit`.
 *
 * `timeoutMs` (> 0) bounds the time until the last byte: past it the promise rejects with
 * VIGIL_ERR_INGEST_TIMEOUT and nothing more is read (the caller answers and closes the connection). An error
 * of the stream (e.g. the ingest queue refusing the bytes that arrived) rejects with that error; a stream
 * closed before its end with BodyAbortedError.
 */
export function readBoundedBody(stream: Readable | undefined, limit: number, timeoutMs = 0): Promise<Buffer> {
  if (stream === undefined) return Promise.resolve(Buffer.alloc(0));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            cleanup();
            stream.on('error', () => undefined);
            reject(new VigilError('VIGIL_ERR_INGEST_TIMEOUT', ['body', timeoutMs], { details: { received: size } }));
          }, timeoutMs)
        : undefined;
    const cleanup = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onData = (chunk: Buffer | string): void => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += buf.length;
      if (size > limit) {
        cleanup();
        stream.on('error', () => undefined); // a client that goes away while we drain must not crash us
        stream.resume();
        reject(tooLarge(limit, 'received'));
        return;
      }
      chunks.push(buf);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new BodyAbortedError());
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

export function tooLarge(limit: number, stage: 'announced' | 'received' | 'inflated'): VigilError {
  return new VigilError('VIGIL_ERR_INGEST_TOO_LARGE', [limit], { details: { stage } });
}

/**
 * Inflates a gzip body (several members allowed) to at most `limit` bytes: zlib stops at `maxOutputLength`,
 * so a gzip bomb costs at most `limit` bytes of memory.
 * @throws VigilError VIGIL_ERR_INGEST_TOO_LARGE past the limit, VIGIL_ERR_INGEST_DECODE for corrupt gzip.
 */
export function inflateGzip(body: Buffer, limit: number): Promise<Buffer> {
  if (body.length === 0) return Promise.resolve(body);
  return new Promise<Buffer>((resolve, reject) => {
    gunzip(body, { maxOutputLength: Math.max(1, limit) }, (err, out) => {
      if (err === null) {
        resolve(out);
        return;
      }
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
        reject(tooLarge(limit, 'inflated'));
        return;
      }
      reject(new VigilError('VIGIL_ERR_INGEST_DECODE', [`gzip: ${err.message}`], { cause: err }));
    });
  });
}
