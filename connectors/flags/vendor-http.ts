import type { z } from 'zod';
import { VigilError } from '../../src/errors.js';
import type { HttpRequest, HttpResponse } from '../shared/http.js';
import { httpRequest } from '../shared/http.js';
import { redactUrl } from '../shared/redact.js';

/**
 * HTTP with a flag vendor's admin API (GET to read state, POST/PATCH to set it): `httpRequest` of
 * `connectors/shared/http.ts` reading whole answers (up to 4 MiB), with the same failure rules (timeout
 * combined with the caller's signal, redirects never followed, 4xx permanent with 408/429 retryable,
 * 5xx/timeouts/network retryable, credentials never logged), plus the helpers flag connectors share.
 */

export type VendorRequest = Omit<HttpRequest, 'logUrl' | 'read'>;

export type VendorResponse = HttpResponse;

/** What logs and details may show of a URL: `redactUrl` (no credentials; token-like path segments and secret query values hidden). */
export function logUrlOf(url: string): string {
  return redactUrl(url);
}

/** Joins a base URL (which may carry a path prefix, e.g. a self-hosted base path) and an API path. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

/** Sends one request and returns a 2xx answer, read whole; every failure becomes a VigilError. */
export function vendorRequest(req: VendorRequest): Promise<VendorResponse> {
  return httpRequest({ ...req, logUrl: logUrlOf(req.url), read: 'whole' });
}

/**
 * Parses a 2xx JSON answer with the schema of the fields the connector reads. An answer that is not the
 * documented JSON (an HTML login page behind a proxy, another API at that URL) is a permanent error: the
 * base URL is wrong, and retrying will not fix it.
 */
export function parseVendorJson<S extends z.ZodType>(
  vendor: string,
  what: string,
  body: string,
  schema: S,
): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    throw new VigilError(
      'VIGIL_ERR_CONNECTOR_FAILED',
      [`${vendor} answered ${what} with a body that is not JSON: check the base URL`],
      {
        cause: err,
        details: { vendor },
      },
    );
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const where = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new VigilError(
    'VIGIL_ERR_CONNECTOR_FAILED',
    [`${vendor} answered ${what} with an unexpected shape (${where})`],
    {
      cause: parsed.error,
      details: { vendor },
    },
  );
}
