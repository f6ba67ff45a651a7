import type { Logger } from 'pino';
import { postWithTimeout, type PostResponse } from './http.js';
import { scrubError } from './redact.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signPayload } from './signing.js';

/** One POST of a message Vigil delivers: a webhook event, a notification, a PagerDuty event, a chat message. */
export interface SignedPost {
  /** Vendor name used in errors and logs ("webhook", "pagerduty", "slack"). */
  vendor: string;
  url: string;
  /** What the logs may show of the URL (`redactUrl` or `originOf`, ./redact.ts). */
  logUrl: string;
  /** The exact bytes sent, serialised once by the caller: the signature covers exactly these. */
  body: string;
  contentType: string;
  /**
   * Configured extra headers (e.g. Authorization; never logged). They come first, so they can never replace
   * the content type, user agent or signing headers (options reject that too).
   */
  headers?: Record<string, string>;
  /**
   * Vigil's webhook signing (DESIGN.md, signed webhooks): `Idempotency-Key` = `id`, `X-Vigil-Timestamp` =
   * unix seconds of `nowMs` and, with a `secret`, `X-Vigil-Signature: sha256=<hex>` over
   * `<timestamp>.<body>`. Absent for vendors that authenticate otherwise (a chat webhook URL, PagerDuty's
   * routing key in the body).
   */
  signing?: { id: string; nowMs: number; secret: string | undefined };
  /** A credential that travels in the body (PagerDuty's routing key): replaced by `as` in an error. */
  conceal?: { secret: string; as: string };
  timeoutMs: number;
  signal: AbortSignal;
  fetch: typeof globalThis.fetch;
  logger?: Logger;
}

/** The request headers of a `SignedPost`, in the order they are sent. */
export function signedHeaders(
  p: Pick<SignedPost, 'body' | 'contentType' | 'headers' | 'signing'>,
): Record<string, string> {
  const headers: Record<string, string> = { ...p.headers, 'content-type': p.contentType, 'user-agent': 'vigil' };
  if (p.signing === undefined) return headers;
  const timestampSec = Math.floor(p.signing.nowMs / 1000);
  headers['idempotency-key'] = p.signing.id;
  headers[TIMESTAMP_HEADER] = String(timestampSec);
  if (p.signing.secret !== undefined) headers[SIGNATURE_HEADER] = signPayload(p.signing.secret, timestampSec, p.body);
  return headers;
}

/**
 * POSTs one message: signs it when asked (`signing`), sends it with `postWithTimeout` (timeout, the
 * caller's signal, redirects not followed, every failure mapped to a VigilError) and returns the 2xx
 * answer. Headers are never logged; a `conceal`ed credential never leaves in an error. O(body length).
 */
export async function postSigned(p: SignedPost): Promise<PostResponse> {
  try {
    return await postWithTimeout({
      vendor: p.vendor,
      url: p.url,
      body: p.body,
      headers: signedHeaders(p),
      timeoutMs: p.timeoutMs,
      signal: p.signal,
      fetch: p.fetch,
      logger: p.logger,
      logUrl: p.logUrl,
    });
  } catch (err) {
    // a concealed credential is cut out of the error's message and stack, should a vendor ever echo it
    throw p.conceal === undefined ? err : scrubError(err, [p.conceal.secret], p.conceal.as);
  }
}
