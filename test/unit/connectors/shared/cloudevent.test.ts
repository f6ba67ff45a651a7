import { describe, expect, it } from 'vitest';
import {
  decisionEventData,
  notificationEvent,
  operatorEvent,
  rollbackEvent,
} from '../../../../connectors/shared/cloudevent.js';
import {
  NOW_MS,
  actionFailed,
  manualRollback,
  operatorNotification,
  rollbackDecision,
} from '../../../helpers/connectors/fixtures.js';

describe('CloudEvents', () => {
  it('rollback event: CloudEvents 1.0 attributes, id = decision id, time from the injected clock', () => {
    const d = rollbackDecision({ route: '/pay' });
    const e = rollbackEvent(d, { nowMs: NOW_MS });
    expect(e).toMatchObject({
      specversion: '1.0',
      type: 'dev.vigil.rollback',
      source: 'vigil',
      id: d.id,
      time: '2026-01-01T00:01:10.000Z',
      datacontenttype: 'application/json',
      subject: 'checkout',
    });
    expect(e.data).toMatchObject({
      decisionId: d.id,
      analysis: 'checkout',
      service: 'checkout',
      route: '/pay',
      outcome: 'rollback',
      canaryVersion: 'v1.8.0',
      baselineVersion: 'v1.7.3',
    });
    expect(e.data.verdicts.map((v) => [v.metric, v.phase, v.pValue])).toEqual(
      d.verdicts.map((v) => [v.metric, v.phase, v.pValue]),
    );
    expect(rollbackEvent(d, { nowMs: NOW_MS, source: '/clusters/prod' }).source).toBe('/clusters/prod');
  });

  it('a test decision (vigil connectors test --send) is marked: extension vigiltest and data.test; others carry neither', () => {
    const real = rollbackEvent(rollbackDecision(), { nowMs: NOW_MS });
    expect('vigiltest' in real).toBe(false);
    expect('test' in real.data).toBe(false);
    const test = rollbackEvent({ ...rollbackDecision(), dryRun: true, test: true }, { nowMs: NOW_MS });
    expect(test.vigiltest).toBe(true);
    expect(test.data).toMatchObject({ test: true, dryRun: true });
    const n = notificationEvent(
      { ...actionFailed(), decision: { ...actionFailed().decision, test: true } },
      { nowMs: NOW_MS },
    );
    expect(n.vigiltest).toBe(true);
    expect(n.data.test).toBe(true);
  });

  it('data is a copy: changing it does not change the decision', () => {
    const d = rollbackDecision();
    const data = decisionEventData(d);
    data.verdicts[0]!.samples.canary = -1;
    data.plan.push('x');
    expect(d.verdicts[0]!.samples.canary).toBe(1315);
    expect(d.plan).toHaveLength(3);
  });

  it('notification event: type per kind, id "<decision>:<kind>", failure and dry-run carried', () => {
    const e = notificationEvent(actionFailed(), { nowMs: NOW_MS, dryRun: true });
    expect(e.type).toBe('dev.vigil.notification.action-failed');
    expect(e.id).toBe('dec-01JH2Q7K8Z:action-failed');
    expect(e.data.kind).toBe('action-failed');
    expect(e.data.failure?.connector).toBe('shift-traffic');
    expect(e.data.dryRun).toBe(true);
    expect(notificationEvent(actionFailed(), { nowMs: NOW_MS }).data.dryRun).toBe(false);
  });

  it("an operator's pause: type dev.vigil.notification.operator, id <analysis>:<action>:<atUnixMs>, who and why verbatim", () => {
    const n = operatorNotification({ operator: { by: '<b>eve</b> @here', reason: '*now* <!channel>' } });
    expect(notificationEvent(n, { nowMs: NOW_MS, source: '/clusters/prod' })).toEqual({
      specversion: '1.0',
      type: 'dev.vigil.notification.operator',
      source: '/clusters/prod',
      id: 'checkout:pause:1767225665000',
      time: '2026-01-01T00:01:10.000Z',
      datacontenttype: 'application/json',
      subject: 'checkout',
      data: {
        kind: 'operator',
        action: 'pause',
        by: '<b>eve</b> @here',
        reason: '*now* <!channel>',
        token: 'ops-bot',
        atUnixMs: 1767225665000,
        analysis: 'checkout',
        service: 'checkout',
        canaryVersion: 'v1.8.0',
        baselineVersion: 'v1.7.3',
        look: 7,
        phase: 'running',
        why: 'paused by alice (database migration on the orders DB until 14:00): nothing is decided until it is resumed',
        dryRun: false,
        link: 'https://vigil.example.com/api/v1/analyses/checkout',
      },
    });
  });

  it('the operator event id is the same on every delivery of one action, and differs per action and time', () => {
    const id = (n: Parameters<typeof operatorEvent>[0], nowMs: number) => operatorEvent(n, { nowMs }).id;
    const pause = operatorNotification();
    expect(id(pause, NOW_MS)).toBe(id(pause, NOW_MS + 60_000));
    expect(id(operatorNotification({ operator: { action: 'resume' } }), NOW_MS)).toBe('checkout:resume:1767225665000');
    expect(id(operatorNotification({ operator: { atUnixMs: 1 } }), NOW_MS)).toBe('checkout:pause:1');
    expect(operatorEvent(pause, { nowMs: NOW_MS, dryRun: true }).data.dryRun).toBe(true);
    expect(operatorEvent({ ...pause, dryRun: true }, { nowMs: NOW_MS }).data.dryRun).toBe(true);
  });

  it("a decision by hand carries manual (who, why, token, when) in its data; the detectors' do not", () => {
    const manual = rollbackEvent(manualRollback(), { nowMs: NOW_MS });
    expect(manual.data.manual).toEqual({
      by: 'alice',
      reason: 'database migration on the orders DB until 14:00',
      token: 'ops-bot',
      atUnixMs: 1767225665000,
    });
    expect(notificationEvent({ kind: 'decision', decision: manualRollback() }, { nowMs: NOW_MS }).data.manual?.by).toBe(
      'alice',
    );
    expect('manual' in rollbackEvent(rollbackDecision(), { nowMs: NOW_MS }).data).toBe(false);
  });
});
