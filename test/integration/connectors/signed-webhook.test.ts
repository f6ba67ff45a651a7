/**
 * Signed webhooks end to end: the real webhook connectors POST to a local server, which verifies the
 * signature with `verifySignature` over the RAW body exactly as a receiver (or the demo) would.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { webhookConnectorFactory } from '../../../connectors/webhooks/webhook.js';
import { webhookNotifierFactory } from '../../../connectors/notifiers/webhook.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySignature } from '../../../connectors/shared/signing.js';
import {
  NOW_MS,
  NOW_SEC,
  actionContext,
  actionFailed,
  asNotifier,
  asPlan,
  deps,
  notifyContext,
  operatorNotification,
  rollbackDecision,
} from '../../helpers/connectors/fixtures.js';
import { HttpPeer, type RecordedRequest } from '../../helpers/http-peer.js';

const SECRET = 'whsec_5b1e0c2a9d';

function header(r: RecordedRequest, name: string): string | undefined {
  const v = r.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function verify(r: RecordedRequest, body: Buffer | string = r.rawBody, nowSec = NOW_SEC, secret = SECRET) {
  return verifySignature(secret, header(r, TIMESTAMP_HEADER), body, header(r, SIGNATURE_HEADER), { nowSec });
}

describe('signed webhook delivery', () => {
  let receiver: HttpPeer;
  beforeAll(async () => {
    receiver = await HttpPeer.start();
  });
  afterAll(async () => {
    await receiver.close();
  });
  beforeEach(() => receiver.reset());

  const action = (options: Record<string, unknown> = {}) =>
    asPlan(
      webhookConnectorFactory.create(
        'kill-flag',
        webhookConnectorFactory.parse({ url: `${receiver.url}/vigil`, ...options }),
        deps,
      ),
    );

  it('POSTs a structured CloudEvent that the receiver verifies over the raw body', async () => {
    const d = rollbackDecision();
    const res = await action({ secret: SECRET }).apply(actionContext(d));
    expect(res.changed).toBe(true);
    expect(res.detail).toContain(`id=${d.id}`);
    expect(receiver.requests).toHaveLength(1);
    const r = receiver.requests[0]!;
    expect(r.method).toBe('POST');
    expect(r.path).toBe('/vigil');
    expect(header(r, 'content-type')).toBe('application/cloudevents+json; charset=utf-8');
    expect(header(r, TIMESTAMP_HEADER)).toBe(String(NOW_SEC));
    expect(header(r, 'idempotency-key')).toBe(d.id);
    expect(verify(r)).toEqual({ ok: true });

    const event = JSON.parse(r.text) as Record<string, unknown> & { data: Record<string, unknown> };
    expect(event).toMatchObject({
      specversion: '1.0',
      type: 'dev.vigil.rollback',
      source: 'vigil',
      id: d.id,
      time: new Date(NOW_MS).toISOString(),
      datacontenttype: 'application/json',
    });
    expect(event.data).toMatchObject({
      service: 'checkout',
      analysis: 'checkout',
      decisionId: d.id,
      outcome: 'rollback',
      canaryVersion: 'v1.8.0',
      baselineVersion: 'v1.7.3',
    });
    expect((event.data.verdicts as { metric: string }[]).map((v) => v.metric)).toEqual([
      'error-rate',
      'latency',
      'latency-p99',
    ]);
  });

  it('a tampered body, an old timestamp or another secret fail verification', async () => {
    await action({ secret: SECRET }).apply(actionContext(rollbackDecision()));
    const r = receiver.requests[0]!;
    const tampered = Buffer.from(r.rawBody);
    tampered[tampered.indexOf('v1.8.0')] = 'w'.charCodeAt(0);
    expect(verify(r, tampered)).toEqual({ ok: false, reason: 'bad-signature' });
    // Re-serialising the parsed JSON with other spacing is a different body, too: verify the raw bytes.
    expect(verify(r, JSON.stringify(JSON.parse(r.text), null, 1))).toEqual({ ok: false, reason: 'bad-signature' });
    expect(verify(r, r.rawBody, NOW_SEC + 301)).toEqual({ ok: false, reason: 'stale-timestamp' });
    expect(verify(r, r.rawBody, NOW_SEC, 'whsec_other')).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('sends no signature without a secret, and the configured extra headers', async () => {
    await action({ headers: { authorization: 'Bearer t0k', 'x-team': 'payments' } }).apply(
      actionContext(rollbackDecision()),
    );
    const r = receiver.requests[0]!;
    expect(header(r, SIGNATURE_HEADER)).toBeUndefined();
    expect(header(r, 'authorization')).toBe('Bearer t0k');
    expect(header(r, 'x-team')).toBe('payments');
  });

  it('dry run describes the POST (URL with its query secrets hidden) and sends nothing', async () => {
    const c = asPlan(
      webhookConnectorFactory.create(
        'kill-flag',
        webhookConnectorFactory.parse({ url: `${receiver.url}/vigil?token=qs-secret`, secret: SECRET }),
        deps,
      ),
    );
    const res = await c.apply(actionContext(rollbackDecision(), { dryRun: true }));
    expect(res).toMatchObject({ changed: false });
    expect(res.detail).toMatch(
      new RegExp(
        `^dry-run: would POST CloudEvent dev.vigil.rollback id=dec-01JH2Q7K8Z \\(\\d+ bytes, signed\\) to ${receiver.url}/vigil\\?token=\\*\\*\\*\\*$`,
      ),
    );
    expect(res.detail).not.toContain('qs-secret');
    expect(receiver.requests).toHaveLength(0);
  });

  it('the notifier signs the same way; its event id is "<decision>:<kind>"', async () => {
    const notifier = asNotifier(
      webhookNotifierFactory.create(
        'audit-hook',
        webhookNotifierFactory.parse({ url: `${receiver.url}/notify`, secret: SECRET, source: '/vigil/prod' }),
        deps,
      ),
    );
    await notifier.post(actionFailed(), notifyContext());
    const r = receiver.requests[0]!;
    expect(verify(r)).toEqual({ ok: true });
    const event = JSON.parse(r.text) as { id: string; type: string; source: string; data: Record<string, unknown> };
    expect(event.id).toBe('dec-01JH2Q7K8Z:action-failed');
    expect(event.type).toBe('dev.vigil.notification.action-failed');
    expect(event.source).toBe('/vigil/prod');
    expect(event.data).toMatchObject({ kind: 'action-failed', failure: { connector: 'shift-traffic' }, dryRun: false });
    expect(r.text).not.toContain(SECRET);
  });

  it("the notifier posts an operator's pause as dev.vigil.notification.operator, signed, keyed by its action", async () => {
    const notifier = asNotifier(
      webhookNotifierFactory.create(
        'audit-hook',
        webhookNotifierFactory.parse({ url: `${receiver.url}/notify`, secret: SECRET }),
        deps,
      ),
    );
    await notifier.post(operatorNotification(), notifyContext({ dryRun: true }));
    const r = receiver.requests[0]!;
    expect(verify(r)).toEqual({ ok: true });
    expect(header(r, 'idempotency-key')).toBe('checkout:pause:1767225665000');
    const event = JSON.parse(r.text) as { id: string; type: string; data: Record<string, unknown> };
    expect(event.type).toBe('dev.vigil.notification.operator');
    expect(event.id).toBe('checkout:pause:1767225665000');
    expect(event.data).toMatchObject({
      kind: 'operator',
      action: 'pause',
      by: 'alice',
      reason: 'database migration on the orders DB until 14:00',
      token: 'ops-bot',
      analysis: 'checkout',
      dryRun: true,
    });
  });
});
