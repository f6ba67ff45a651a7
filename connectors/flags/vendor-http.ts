import type { Logger } from 'pino';
import type { z } from 'zod';
import { VigilError, vendorFetchError, vendorHttpError } from '../../src/errors.js';
import { abortedError } from '../shared/http.js';

/**
 * One HTTP exchange with a flag vendor's admin API (GET to read state, POST/PATCH to set it), with the
 * same failure rules as `connectors/shared/http.ts` (which only POSTs and reads 16 KiB): a timeout per
 * request combined with the caller's signal, redirects never followed, 4xx permanent (408/429 retryable),
 * 5xx/timeouts/network retryable, headers (credentials) never logged nor put into errors.
 */

/** Vendor answers larger than this are refused: a flag's state is a few KiB, not megabytes. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export interface VendorRequest {
  /** Vendor name used in errors and logs ("unleash", "launchdarkly", "flagsmith"). */
  vendor: string;
  method: 'GET' | 'POST' | 'PATCH' | 'PUT';
  url: string;
  /** May hold credentials: never logged, never in errors. */
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  signal: AbortSignal;
  fetch: typeof globalThis.fetch;
  logger?: Logger;
}

export interface VendorResponse {
  status: number;
  body: string;
}

/** What logs and details may show of a URL: origin and path (no credentials, query or fragment). */
export function logUrlOf(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** Joins a base URL (which may carry a path prefix, e.g. a self-hosted base path) and an API path. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

async function readCapped(res: Response, vendor: string): Promise<string> {
  if (!res.body) return '';
  const reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_RESPONSE_BYTES) {
        await reader.cancel().catch(() => undefined);
        throw new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`${vendor} answered more than ${MAX_RESPONSE_BYTES} bytes`], {
          details: { vendor, status: res.status },
        });
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks).toString('utf8');
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
 * Sends one request and returns a 2xx answer; every failure becomes a VigilError (see the file comment).
 * The timeout covers the whole exchange, reading the answer included.
 */
export async function vendorRequest(req: VendorRequest): Promise<VendorResponse> {
  if (req.signal.aborted) throw abortedError(req.vendor, req.signal);
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = AbortSignal.any([req.signal, timeout]);
  const logUrl = logUrlOf(req.url);
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
    body = await readCapped(res, req.vendor);
  } catch (err) {
    if (err instanceof VigilError) throw err;
    if (req.signal.aborted) throw abortedError(req.vendor, req.signal);
    if (timeout.aborted) throw vendorFetchError(req.vendor, timeout.reason, req.timeoutMs);
    throw vendorFetchError(req.vendor, withNetworkCause(err), req.timeoutMs);
  }
  req.logger?.debug({ vendor: req.vendor, method: req.method, url: logUrl, status }, 'vendor answered');
  if (status >= 200 && status < 300) return { status, body };
  if (status >= 300 && status < 400) {
    throw new VigilError(
      'VIGIL_ERR_CONNECTOR_FAILED',
      [`${req.vendor} answered HTTP ${status} (redirect) to ${req.method} ${logUrl}, which Vigil does not follow: configure the final base URL`],
      { details: { vendor: req.vendor, status } },
    );
  }
  throw vendorHttpError(req.vendor, status, body);
}

/**
 * Parses a 2xx JSON answer with the schema of the fields the connector reads. An answer that is not the
 * documented JSON (an HTML login page behind a proxy, another API at that URL) is a permanent error: the
 * base URL is wrong, and retrying will not fix it.
 */
export function parseVendorJson<S extends z.ZodType>(vendor: string, what: string, body: string, schema: S): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    throw new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`${vendor} answered ${what} with a body that is not JSON: check the base URL`], {
      cause: err,
      details: { vendor },
    });
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const where = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`${vendor} answered ${what} with an unexpected shape (${where})`], {
    cause: parsed.error,
    details: { vendor },
  });
}
