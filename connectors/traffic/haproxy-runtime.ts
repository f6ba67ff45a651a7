import { createConnection, type NetConnectOpts, type Socket } from 'node:net';
import { VigilError, vendorFetchError } from '../../src/errors.js';
import { abortedError } from '../shared/http.js';

/** Answers longer than this are cut: `get weight` and `set weight` answer one short line. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** Where the HAProxy runtime API listens: a UNIX socket path, or host:port of a `stats socket ipv4@…`. */
export type RuntimeAddress = { path: string } | { host: string; port: number };

/** Parses the `socket` option: an absolute path, or `host:port` (`[::1]:9999` for IPv6). */
export function parseRuntimeAddress(socket: string): RuntimeAddress | undefined {
  if (socket.startsWith('/')) return { path: socket };
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(socket);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

export function describeAddress(a: RuntimeAddress): string {
  return 'path' in a ? a.path : `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

export interface RuntimeCall {
  signal: AbortSignal;
  timeoutMs: number;
}

/**
 * Sends one command to the HAProxy runtime API and returns its answer. In non-interactive mode HAProxy
 * reads one line, answers, and closes the connection, so the answer is everything until the close.
 *
 * The caller's abort → VIGIL_ERR_CONNECTOR_ABORTED; timeout (connect to close) → TIMEOUT; refused or missing
 * socket → NETWORK (all retryable: HAProxy may be restarting); permission denied on the socket file →
 * FAILED, permanent (run Vigil as a user that may open it). `command` must be one line (the caller builds
 * it from validated names).
 */
export function runtimeCommand(
  vendor: string,
  address: RuntimeAddress,
  command: string,
  call: RuntimeCall,
): Promise<string> {
  if (call.signal.aborted) return Promise.reject(abortedError(vendor, call.signal));
  if (/[\r\n]/.test(command)) return Promise.reject(new Error('a runtime API command is one line'));
  const timeout = AbortSignal.timeout(call.timeoutMs);
  return new Promise((resolve, reject) => {
    const opts: NetConnectOpts =
      'path' in address ? { path: address.path } : { host: address.host, port: address.port };
    const socket: Socket = createConnection(opts);
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: Error | undefined): void => {
      if (settled) return;
      settled = true;
      call.signal.removeEventListener('abort', onAbort);
      timeout.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const failure = (e: unknown): Error => {
      if (call.signal.aborted) return abortedError(vendor, call.signal);
      if (timeout.aborted) return vendorFetchError(vendor, timeout.reason, call.timeoutMs);
      const code = (e as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'EACCES' || code === 'EPERM') {
        return new VigilError(
          'VIGIL_ERR_CONNECTOR_FAILED',
          [
            `${vendor}: permission denied on the runtime API socket ${describeAddress(address)}: run Vigil as a user that may open it`,
          ],
          {
            cause: e,
            details: { vendor },
          },
        );
      }
      return vendorFetchError(vendor, e, call.timeoutMs);
    };
    const onAbort = (): void => finish(failure(undefined));
    call.signal.addEventListener('abort', onAbort, { once: true });
    timeout.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (e) => finish(failure(e)));
    socket.on('data', (c: Buffer) => {
      if (size < MAX_ANSWER_BYTES) chunks.push(c.subarray(0, MAX_ANSWER_BYTES - size));
      size += c.byteLength;
    });
    socket.on('end', () => finish(undefined));
    socket.on('close', () => finish(undefined));
    socket.write(`${command}\n`);
  });
}

/** `get weight` answers "<current> (initial <initial>)". */
export function parseWeight(answer: string): { current: number; initial: number } | undefined {
  const m = /^(\d+) \(initial (\d+)\)\s*$/.exec(answer);
  return m ? { current: Number(m[1]), initial: Number(m[2]) } : undefined;
}
