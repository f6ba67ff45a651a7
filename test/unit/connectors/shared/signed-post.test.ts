import { describe, expect, it } from 'vitest';
import { postSigned, signedHeaders } from '../../../../connectors/shared/signed-post.js';
import type { VigilError } from '../../../../src/errors.js';

const body = '{"id":"dec-1"}';

describe('signedHeaders', () => {
  it('signed: configured headers first, then framing, idempotency key, timestamp and signature (openssl vector)', () => {
    const headers = signedHeaders({
      body,
      contentType: 'application/cloudevents+json; charset=utf-8',
      headers: { authorization: 'Bearer t' },
      signing: { id: 'dec-1', nowMs: 1767225670_999, secret: 'whsec_test' },
    });
    expect(Object.entries(headers)).toEqual([
      ['authorization', 'Bearer t'],
      ['content-type', 'application/cloudevents+json; charset=utf-8'],
      ['user-agent', 'vigil'],
      ['idempotency-key', 'dec-1'],
      ['x-vigil-timestamp', '1767225670'],
      ['x-vigil-signature', 'sha256=6896884fb25dfe3ca69e1f66fb7597ad1aab64116b50a7b24e9d0858e4cf7500'],
    ]);
  });

  it('no secret: no signature; no signing: only the framing headers', () => {
    expect(
      signedHeaders({ body, contentType: 'application/json', signing: { id: 'dec-1', nowMs: 0, secret: undefined } }),
    ).toEqual({
      'content-type': 'application/json',
      'user-agent': 'vigil',
      'idempotency-key': 'dec-1',
      'x-vigil-timestamp': '0',
    });
    expect(signedHeaders({ body, contentType: 'application/json' })).toEqual({
      'content-type': 'application/json',
      'user-agent': 'vigil',
    });
  });
});

describe('postSigned', () => {
  it('never lets a concealed credential leave in an error', async () => {
    const fetch: typeof globalThis.fetch = () => Promise.resolve(new Response('bad key k3y-123', { status: 400 }));
    const err = (await postSigned({
      vendor: 'pagerduty',
      url: 'https://events.example/v2/enqueue',
      logUrl: 'https://events.example/v2/enqueue',
      body,
      contentType: 'application/json',
      conceal: { secret: 'k3y-123', as: '[routing key]' },
      timeoutMs: 1_000,
      signal: new AbortController().signal,
      fetch,
    }).catch((e: unknown) => e)) as VigilError;
    expect(err.code).toBe('VIGIL_ERR_CONNECTOR_HTTP_4XX');
    expect(err.message).toContain('bad key [routing key]');
    expect(`${err.message} ${err.stack}`).not.toContain('k3y-123');
  });
});
