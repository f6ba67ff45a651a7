import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying `sha256=<hex>`, the HMAC-SHA256 of `<timestamp>.<raw body>`. */
export const SIGNATURE_HEADER = 'x-vigil-signature';
/** Header carrying the signing time in unix seconds; it is part of the signed string (replay protection). */
export const TIMESTAMP_HEADER = 'x-vigil-timestamp';
/** Default replay window: a receiver accepts timestamps at most this far from its own clock (either way). */
export const DEFAULT_TOLERANCE_SEC = 300;

function hmacHex(secret: string, timestampSec: number | string, rawBody: string | Uint8Array): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestampSec}.`, 'utf8');
  if (typeof rawBody === 'string') mac.update(rawBody, 'utf8');
  else mac.update(rawBody);
  return mac.digest('hex');
}

/**
 * Signs a webhook body as DESIGN.md specifies: `sha256=` + hex(HMAC-SHA256(secret, `<timestampSec>.<rawBody>`)).
 * The body must be the exact bytes sent (sign after serialising, never re-serialise). O(body length).
 */
export function signPayload(secret: string, timestampSec: number, rawBody: string | Uint8Array): string {
  if (!Number.isSafeInteger(timestampSec) || timestampSec < 0) {
    throw new RangeError('timestampSec must be a non-negative integer (unix seconds)');
  }
  return `sha256=${hmacHex(secret, timestampSec, rawBody)}`;
}

export type VerifyFailure = 'missing-header' | 'bad-timestamp' | 'stale-timestamp' | 'bad-signature';
export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure };

export interface VerifyOptions {
  /** The receiver's clock, unix seconds (injected: the caller owns time). */
  nowSec: number;
  /** Accepted distance between the signed timestamp and `nowSec`, in seconds; default 300. */
  toleranceSec?: number;
}

/**
 * Verifies a signed Vigil webhook on the receiver side, over the RAW request body (before any JSON parse).
 *
 * Checks, in order: both headers present; the timestamp is an integer within `toleranceSec` of `nowSec`
 * (rejects replays of old captures and far-future stamps); the signature equals the expected HMAC, compared
 * in constant time with `crypto.timingSafeEqual` (a length mismatch is rejected first; the length of a
 * sha256 hex digest is public). Returns a reason on failure so receivers can log why, never the expected value.
 */
export function verifySignature(
  secret: string,
  timestampHeader: string | undefined | null,
  rawBody: string | Uint8Array,
  signatureHeader: string | undefined | null,
  opts: VerifyOptions,
): VerifyResult {
  if (!timestampHeader || !signatureHeader) return { ok: false, reason: 'missing-header' };
  if (!/^\d{1,15}$/.test(timestampHeader)) return { ok: false, reason: 'bad-timestamp' };
  const ts = Number(timestampHeader);
  const tolerance = opts.toleranceSec ?? DEFAULT_TOLERANCE_SEC;
  if (Math.abs(opts.nowSec - ts) > tolerance) return { ok: false, reason: 'stale-timestamp' };
  const expected = Buffer.from(`sha256=${hmacHex(secret, timestampHeader, rawBody)}`, 'utf8');
  const given = Buffer.from(signatureHeader.trim(), 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'bad-signature' };
  }
  return { ok: true };
}
