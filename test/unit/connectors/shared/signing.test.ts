import { describe, expect, it } from 'vitest';
import { signPayload, verifySignature } from '../../../../connectors/shared/signing.js';

// Vector computed independently with:
//   printf '%s' '1767225670.{"id":"dec-1"}' | openssl dgst -sha256 -hmac 'whsec_test'
const VECTOR = {
  secret: 'whsec_test',
  ts: 1767225670,
  body: '{"id":"dec-1"}',
  signature: 'sha256=6896884fb25dfe3ca69e1f66fb7597ad1aab64116b50a7b24e9d0858e4cf7500',
};

describe('signPayload', () => {
  it('is HMAC-SHA256 over "<timestamp>.<raw body>" (openssl vector)', () => {
    expect(signPayload(VECTOR.secret, VECTOR.ts, VECTOR.body)).toBe(VECTOR.signature);
    expect(signPayload(VECTOR.secret, VECTOR.ts, Buffer.from(VECTOR.body))).toBe(VECTOR.signature);
  });

  it('rejects a timestamp that is not whole unix seconds', () => {
    expect(() => signPayload('s', 1.5, 'x')).toThrow(RangeError);
    expect(() => signPayload('s', -1, 'x')).toThrow(RangeError);
  });
});

describe('verifySignature', () => {
  const ok = (
    over: Partial<{
      secret: string;
      ts: string | undefined;
      body: string;
      sig: string | undefined;
      now: number;
      tol: number;
    }> = {},
  ) =>
    verifySignature(
      over.secret ?? VECTOR.secret,
      'ts' in over ? over.ts : String(VECTOR.ts),
      over.body ?? VECTOR.body,
      'sig' in over ? over.sig : VECTOR.signature,
      { nowSec: over.now ?? VECTOR.ts + 10, toleranceSec: over.tol },
    );

  it('accepts the genuine signature within the window', () => {
    expect(ok()).toEqual({ ok: true });
    expect(ok({ now: VECTOR.ts + 300 })).toEqual({ ok: true });
    expect(ok({ now: VECTOR.ts - 300 })).toEqual({ ok: true });
  });

  it('rejects a tampered body, a wrong secret and a forged signature', () => {
    expect(ok({ body: '{"id":"dec-2"}' })).toEqual({ ok: false, reason: 'bad-signature' });
    expect(ok({ body: `${VECTOR.body} ` })).toEqual({ ok: false, reason: 'bad-signature' });
    expect(ok({ secret: 'whsec_other' })).toEqual({ ok: false, reason: 'bad-signature' });
    expect(ok({ sig: VECTOR.signature.replace(/.$/, '1') })).toEqual({ ok: false, reason: 'bad-signature' });
    expect(ok({ sig: VECTOR.signature.slice(0, -2) })).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('rejects old and far-future timestamps (replay window), default 300 s', () => {
    expect(ok({ now: VECTOR.ts + 301 })).toEqual({ ok: false, reason: 'stale-timestamp' });
    expect(ok({ now: VECTOR.ts - 301 })).toEqual({ ok: false, reason: 'stale-timestamp' });
    expect(ok({ now: VECTOR.ts + 61, tol: 60 })).toEqual({ ok: false, reason: 'stale-timestamp' });
  });

  it('rejects a timestamp moved into the window: the timestamp is signed too', () => {
    const now = VECTOR.ts + 3600;
    expect(ok({ ts: String(now), now })).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('rejects missing and malformed headers', () => {
    expect(ok({ ts: undefined })).toEqual({ ok: false, reason: 'missing-header' });
    expect(ok({ sig: undefined })).toEqual({ ok: false, reason: 'missing-header' });
    expect(ok({ ts: '1767225670.5' })).toEqual({ ok: false, reason: 'bad-timestamp' });
    expect(ok({ ts: 'yesterday' })).toEqual({ ok: false, reason: 'bad-timestamp' });
  });
});
