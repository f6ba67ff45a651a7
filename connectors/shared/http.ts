import type { Logger } from 'pino';
import { VigilError, vendorFetchError, vendorHttpError } from '../../src/errors.js';

export const DEFAULT_TIMEOUT_MS = 10_000;
/** At most this much of a vendor's answer is read (error snippets are cut to 300 chars anyway). */
const MAX_RESPONSE_BYTES = 16 * 1024;

export interface PostRequest {
  /** Vendor name used in errors and logs ("webhook", "slack"). */
  vendor: string;
  url: string;
  body: string;
  /** Request headers; they may hold credentials, so they are never logged nor put into errors. */
  headers: Record<string, string>;
  timeoutMs: number;
  /** The caller's signal (job cancellation, shutdown); combined with the timeout. */
  signal: AbortSignal;
  fetch: typeof globalThis.fetch;
  logger?: Logger;
  /** What the logs may show of the URL (see `describeUrl`); the full URL never reaches a log. */
  logUrl: string;
}

export interface PostResponse {
  status: number;
  /** The start of the body (at most 16 KiB), for callers that check the vendor's answer. */
  body: string;
}

/**
 * A URL as logs and dry-run details may show it: credentials, query and fragment dropped; with
 * `keepPath: false` only the origin (for URLs whose path is the secret, as Slack's incoming webhooks).
 */
export function describeUrl(url: string, opts: { keepPath: boolean }): string {
  const u = new URL(url);
  return opts.keepPath ? `${u.protocol}//${u.host}${u.pathname}` : `${u.protocol}//${u.host}`;
}

/** The caller aborted: the work was not done, another attempt may do it (retryable). */
export function abortedError(vendor: string, signal: AbortSignal): VigilError {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error ? reason.message : 'aborted';
  return new VigilError('VIGIL_ERR_CONNECTOR_ABORTED', [`${vendor}: ${why}`], {
    cause: reason,
    details: { vendor },
  });
}

async function readCapped(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_RESPONSE_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    if (size >= MAX_RESPONSE_BYTES) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, MAX_RESPONSE_BYTES);
}

/**
 * POSTs a body with a timeout and the caller's signal, and maps every failure to a VigilError:
 * - caller aborted (before or during) → VIGIL_ERR_CONNECTOR_ABORTED, retryable, cause = the abort reason;
 * - timeout → VIGIL_ERR_CONNECTOR_TIMEOUT, retryable, cause = the TimeoutError;
 * - network failure → VIGIL_ERR_CONNECTOR_NETWORK, retryable, cause = the fetch error;
 * - 3xx → VIGIL_ERR_CONNECTOR_FAILED, permanent: redirects are not followed, because a 307/308 would
 *   re-send a signed body to a host nobody configured; point the URL at the final endpoint instead;
 * - 4xx → permanent (408/429 retryable), 5xx → retryable, via `vendorHttpError` (status in `details`).
 * The timeout covers the whole exchange, reading the answer included. Headers are never logged.
 */
export async function postWithTimeout(req: PostRequest): Promise<PostResponse> {
  if (req.signal.aborted) throw abortedError(req.vendor, req.signal);
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = AbortSignal.any([req.signal, timeout]);
  let status: number;
  let body: string;
  try {
    const res = await req.fetch(req.url, {
      method: 'POST',
      headers: req.headers,
      body: req.body,
      signal,
      redirect: 'manual',
    });
    status = res.status;
    body = await readCapped(res);
  } catch (err) {
    if (req.signal.aborted) throw abortedError(req.vendor, req.signal);
    if (timeout.aborted) throw vendorFetchError(req.vendor, timeout.reason, req.timeoutMs);
    throw vendorFetchError(req.vendor, err, req.timeoutMs);
  }
  req.logger?.debug({ vendor: req.vendor, url: req.logUrl, status }, 'vendor answered');
  if (status >= 200 && status < 300) return { status, body };
  if (status >= 300 && status < 400) {
    throw new VigilError(
      'VIGIL_ERR_CONNECTOR_FAILED',
      [`${req.vendor} answered HTTP ${status} (redirect), which Vigil does not follow: configure the final URL`],
      { details: { vendor: req.vendor, status } },
    );
  }
  throw vendorHttpError(req.vendor, status, body);
}
