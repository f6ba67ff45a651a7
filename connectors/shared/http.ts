import type { Logger } from 'pino';
import { VigilError, vendorFetchError, vendorHttpError } from '../../src/errors.js';
import { scrubError, urlSecrets } from './redact.js';

export const DEFAULT_TIMEOUT_MS = 10_000;
/** `read: 'start'` reads this much of an answer (error snippets are cut to 300 chars anyway). */
const START_BYTES = 16 * 1024;
/** `read: 'whole'` refuses answers larger than this: a flag's state is a few KiB, not megabytes. */
const WHOLE_MAX_BYTES = 4 * 1024 * 1024;

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'PUT';

export interface HttpRequest {
  /** Vendor name used in errors and logs ("webhook", "slack", "unleash"). */
  vendor: string;
  method: HttpMethod;
  url: string;
  body?: string;
  /** Request headers; they may hold credentials, so they are never logged nor put into errors. */
  headers: Record<string, string>;
  timeoutMs: number;
  /** The caller's signal (job cancellation, shutdown); combined with the timeout. */
  signal: AbortSignal;
  fetch: typeof globalThis.fetch;
  logger?: Logger;
  /** What the logs may show of the URL (`redactUrl` or `originOf`, ./redact.ts); the full URL never reaches a log. */
  logUrl: string;
  /**
   * How much of the answer is read: `start` (default) its first 16 KiB, for acks and error snippets;
   * `whole` all of it up to 4 MiB (a vendor's state read), a larger answer being a permanent error.
   */
  read?: 'start' | 'whole';
}

export interface PostRequest extends Omit<HttpRequest, 'method' | 'read' | 'body'> {
  body: string;
}

export interface HttpResponse {
  status: number;
  /** The body: its start (at most 16 KiB) or, with `read: 'whole'`, all of it. */
  body: string;
}

export type PostResponse = HttpResponse;

/** The caller aborted: the work was not done, another attempt may do it (retryable). */
export function abortedError(vendor: string, signal: AbortSignal): VigilError {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error ? reason.message : 'aborted';
  return new VigilError('VIGIL_ERR_CONNECTOR_ABORTED', [`${vendor}: ${why}`], {
    cause: reason,
    details: { vendor },
  });
}

/** Reads the answer's first `START_BYTES`, or all of it up to `WHOLE_MAX_BYTES` (refusing more). */
async function readAnswer(res: Response, req: HttpRequest): Promise<string> {
  if (!res.body) return '';
  const whole = req.read === 'whole';
  const reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let cancel = false;
  try {
    while (whole || size < START_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (whole && size > WHOLE_MAX_BYTES) {
        await reader.cancel().catch(() => undefined);
        throw new VigilError(
          'VIGIL_ERR_CONNECTOR_FAILED',
          [`${req.vendor} answered more than ${WHOLE_MAX_BYTES} bytes`],
          {
            details: { vendor: req.vendor, status: res.status },
          },
        );
      }
      chunks.push(value);
    }
    cancel = !whole && size >= START_BYTES;
  } finally {
    if (cancel) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return whole ? text : text.slice(0, START_BYTES);
}

/**
 * undici reports every network failure as "fetch failed" with the reason in `cause`; lift the reason
 * ("connect ECONNREFUSED 10.0.0.7:4242", "getaddrinfo ENOTFOUND unleash.internal": hosts, never
 * credentials) into the message an operator reads, keeping the original error as the cause.
 */
function withNetworkCause(err: unknown): unknown {
  if (err instanceof Error && err.message === 'fetch failed' && err.cause instanceof Error) {
    return new Error(`fetch failed: ${err.cause.message}`, { cause: err });
  }
  return err;
}

/**
 * One HTTP exchange with a vendor, with a timeout and the caller's signal; returns a 2xx answer and maps
 * every failure to a VigilError:
 * - caller aborted (before or during) → VIGIL_ERR_CONNECTOR_ABORTED, retryable, cause = the abort reason;
 * - timeout → VIGIL_ERR_CONNECTOR_TIMEOUT, retryable, cause = the TimeoutError;
 * - network failure → VIGIL_ERR_CONNECTOR_NETWORK, retryable, cause = the fetch error (its reason in the
 *   message);
 * - 3xx → VIGIL_ERR_CONNECTOR_FAILED, permanent: redirects are not followed, because a 307/308 would
 *   re-send a signed body to a host nobody configured; point the URL at the final endpoint instead;
 * - 4xx → permanent (408/429 retryable), 5xx → retryable, via `vendorHttpError` (status in `details`).
 * The timeout covers the whole exchange, reading the answer included. Headers are never logged, and the secret
 * parts of the URL (`urlSecrets`: a path token, a `?sig=`) are scrubbed out of every error, should the vendor's
 * answer or the network error echo them.
 */
export async function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  try {
    return await exchange(req);
  } catch (err) {
    throw scrubError(err, urlSecrets(req.url), '****');
  }
}

async function exchange(req: HttpRequest): Promise<HttpResponse> {
  if (req.signal.aborted) throw abortedError(req.vendor, req.signal);
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = AbortSignal.any([req.signal, timeout]);
  let status: number;
  let body: string;
  try {
    const res = await req.fetch(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal,
      redirect: 'manual',
    });
    status = res.status;
    body = await readAnswer(res, req);
  } catch (err) {
    if (err instanceof VigilError) throw err;
    if (req.signal.aborted) throw abortedError(req.vendor, req.signal);
    if (timeout.aborted) throw vendorFetchError(req.vendor, timeout.reason, req.timeoutMs);
    throw vendorFetchError(req.vendor, withNetworkCause(err), req.timeoutMs);
  }
  req.logger?.debug({ vendor: req.vendor, method: req.method, url: req.logUrl, status }, 'vendor answered');
  if (status >= 200 && status < 300) return { status, body };
  if (status >= 300 && status < 400) {
    throw new VigilError(
      'VIGIL_ERR_CONNECTOR_FAILED',
      [
        `${req.vendor} answered HTTP ${status} (redirect) to ${req.method} ${req.logUrl}, which Vigil does not follow: configure the final URL`,
      ],
      { details: { vendor: req.vendor, status } },
    );
  }
  throw vendorHttpError(req.vendor, status, body);
}

/** POSTs a body and reads the start of the answer: `httpRequest` with method POST. */
export function postWithTimeout(req: PostRequest): Promise<PostResponse> {
  return httpRequest({ ...req, method: 'POST' });
}
