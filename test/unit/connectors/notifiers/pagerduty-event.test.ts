import { describe, expect, it } from 'vitest';
import {
  PAGERDUTY_LIMITS,
  buildPagerDutyEvent,
  changeEventsUrl,
  dedupKeyOf,
  type PagerDutyChange,
  type PagerDutyEventOptions,
  type PagerDutyTrigger,
} from '../../../../connectors/notifiers/pagerduty-event.js';
import { pagerDutyNotifierFactory } from '../../../../connectors/notifiers/pagerduty.js';
import type { MetricVerdict } from '../../../../src/contracts/decision.js';
import { VigilError } from '../../../../src/errors.js';
import {
  HOSTILE,
  NOW_MS,
  actionFailed,
  errorRateFail,
  everyNotification,
  hugeOperatorNotification,
  manualRollback,
  operatorNotification,
  rollbackDecision,
} from '../../../helpers/connectors/fixtures.js';

const KEY = 'abcdefABCDEF0123456789abcdefABCD';
const opts: PagerDutyEventOptions = {
  routingKey: KEY,
  severity: 'error',
  onAbandoned: 'ignore',
  resolveAfterRollback: false,
  dryRun: false,
  nowMs: NOW_MS,
};
const trigger = (e: unknown) => e as PagerDutyTrigger;

describe('buildPagerDutyEvent', () => {
  it('triggers a rollback with the numbers in custom_details', () => {
    const e = trigger(buildPagerDutyEvent(everyNotification()[0]!, opts));
    expect(e).toMatchObject({ routing_key: KEY, event_action: 'trigger', dedup_key: 'checkout', client: 'Vigil' });
    expect(e.payload).toMatchObject({
      severity: 'error',
      source: 'checkout',
      component: 'checkout',
      class: 'error-rate',
      timestamp: '2026-01-01T00:01:00.000Z',
    });
    const m = (e.payload.custom_details.metrics as Record<string, unknown>[])[0];
    expect(m).toMatchObject({
      metric: 'error-rate',
      estimate: 2.1034,
      lower: 1.4521,
      upper: 3.0467,
      p_value: 0.00312,
      alpha: 0.025,
      samples_baseline: 12480,
      samples_canary: 1315,
    });
    expect(e.payload.custom_details.explanation).toContain('Rollback plan: kill-flag → shift-traffic → undo-deploy.');
  });

  it('writes unbounded bounds as "Infinity" (JSON would turn them into null)', () => {
    const e = trigger(buildPagerDutyEvent(everyNotification()[0]!, opts));
    const shadow = (e.payload.custom_details.metrics as Record<string, unknown>[]).find(
      (x) => x.metric === 'latency-p99',
    );
    expect(JSON.parse(JSON.stringify(shadow))).toMatchObject({ upper: 'Infinity', shadow: true });
  });

  it('resolves on promote with only routing key, action and dedup key', () => {
    const promote = { kind: 'decision' as const, decision: rollbackDecision({ outcome: 'promote', plan: [] }) };
    expect(buildPagerDutyEvent(promote, opts)).toEqual({
      routing_key: KEY,
      event_action: 'resolve',
      dedup_key: 'checkout',
    });
  });

  it('is critical for a failed step, whatever the configured severity, and info in a dry run', () => {
    expect(trigger(buildPagerDutyEvent(actionFailed(), { ...opts, severity: 'warning' })).payload.severity).toBe(
      'critical',
    );
    const dry = trigger(buildPagerDutyEvent(actionFailed(), { ...opts, dryRun: true }));
    expect(dry.payload.severity).toBe('info');
    expect(dry.payload.summary).toMatch(/^\[dry-run\] /);
    expect(dry.payload.custom_details.dry_run).toBe(true);
  });

  it('keeps summary, dedup key and the whole event within PagerDuty limits', () => {
    const huge = 'q'.repeat(20_000);
    const verdicts: MetricVerdict[] = Array.from({ length: 200 }, (_, i) => ({
      ...errorRateFail,
      metric: `m${i}-${huge}`,
      summary: huge,
    }));
    const d = rollbackDecision({ service: huge, reason: huge, analysis: huge, verdicts });
    const e = trigger(buildPagerDutyEvent({ ...actionFailed(d), failure: { connector: 'c', error: huge } }, opts));
    expect(Array.from(e.payload.summary).length).toBeLessThanOrEqual(PAGERDUTY_LIMITS.summary);
    expect(e.dedup_key.length).toBeLessThanOrEqual(PAGERDUTY_LIMITS.dedupKey);
    expect(e.payload.source.length).toBeLessThanOrEqual(PAGERDUTY_LIMITS.source);
    expect(Buffer.byteLength(JSON.stringify(e))).toBeLessThan(512 * 1024);
  });

  it('derives a stable dedup key from long analysis ids', () => {
    const long = 'svc:'.padEnd(400, 'v');
    expect(dedupKeyOf('checkout:v1.8.0')).toBe('checkout:v1.8.0');
    expect(dedupKeyOf(long)).toBe(dedupKeyOf(long));
    expect(dedupKeyOf(long)).not.toBe(dedupKeyOf(`${long}x`));
  });

  it('uses the configured source, and links the decision only for http(s) links', () => {
    const e = trigger(buildPagerDutyEvent(everyNotification()[0]!, { ...opts, source: 'checkout.prod.eu' }));
    expect(e.payload.source).toBe('checkout.prod.eu');
    expect(e.links).toEqual([
      { href: 'https://vigil.example.com/api/decisions/dec-01JH2Q7K8Z', text: 'Decision dec-01JH2Q7K8Z in Vigil' },
    ]);
    const bad = trigger(buildPagerDutyEvent({ ...everyNotification()[0]!, link: 'javascript:x' }, opts));
    expect(bad).not.toHaveProperty('links');
    expect(bad).not.toHaveProperty('client_url');
  });
});

describe('buildPagerDutyEvent for actions by hand', () => {
  it("an operator's pause is a change event (no incident, nobody paged): who, why and the analysis as sent", () => {
    const n = operatorNotification({ operator: { by: HOSTILE, reason: HOSTILE } });
    expect(buildPagerDutyEvent(n, opts)).toEqual({
      routing_key: KEY,
      payload: {
        summary: `checkout canary v1.8.0: analysis paused by ${HOSTILE}`,
        source: 'checkout',
        timestamp: '2026-01-01T00:01:05.000Z',
        custom_details: {
          explanation: [
            `checkout canary v1.8.0: analysis paused by ${HOSTILE}`,
            `Why: ${HOSTILE}`,
            `By: ${HOSTILE} (token ops-bot), at 2026-01-01T00:01:05.000Z.`,
            'Looks still run and are shown; nothing is decided until the analysis is resumed.',
            'checkout: canary v1.8.0 vs baseline v1.7.3, look 7, analysis checkout.',
            'Details: https://vigil.example.com/api/v1/analyses/checkout',
          ].join('\n'),
          kind: 'operator',
          action: 'pause',
          by: HOSTILE,
          reason: HOSTILE,
          token: 'ops-bot',
          dry_run: false,
          service: 'checkout',
          canary_version: 'v1.8.0',
          baseline_version: 'v1.7.3',
          analysis: 'checkout',
          look: 7,
          phase: 'running',
          why: 'paused by alice (database migration on the orders DB until 14:00): nothing is decided until it is resumed',
        },
      },
      links: [{ href: 'https://vigil.example.com/api/v1/analyses/checkout', text: 'Analysis checkout in Vigil' }],
    });
  });

  it('a dry run marks the change event; the configured source applies; huge texts stay within the limits', () => {
    const dry = buildPagerDutyEvent(operatorNotification({ operator: { action: 'resume' } }), {
      ...opts,
      dryRun: true,
      source: 'checkout.prod',
    });
    expect(dry).not.toHaveProperty('event_action');
    expect(dry).toMatchObject({
      payload: {
        summary: '[dry-run] checkout canary v1.8.0: analysis resumed by alice',
        source: 'checkout.prod',
        custom_details: { dry_run: true, action: 'resume' },
      },
    });
    const huge = buildPagerDutyEvent(hugeOperatorNotification('q'.repeat(100_000)), opts) as PagerDutyChange;
    expect(Array.from(huge.payload.summary).length).toBeLessThanOrEqual(PAGERDUTY_LIMITS.summary);
    expect(huge.payload.source.length).toBeLessThanOrEqual(PAGERDUTY_LIMITS.source);
    expect(Buffer.byteLength(JSON.stringify(huge))).toBeLessThan(512 * 1024);
  });

  it('a rollback by hand triggers the alert as any rollback, with who, why, token and when in custom_details', () => {
    const e = trigger(buildPagerDutyEvent({ kind: 'decision', decision: manualRollback() }, opts));
    expect(e.event_action).toBe('trigger');
    expect(e.payload.summary).toBe('Rollback by hand (alice): checkout canary v1.8.0 → baseline v1.7.3');
    expect(e.payload.custom_details.manual).toEqual({
      by: 'alice',
      reason: 'database migration on the orders DB until 14:00',
      token: 'ops-bot',
      at: '2026-01-01T00:01:05.000Z',
    });
    expect(trigger(buildPagerDutyEvent(everyNotification()[0]!, opts)).payload.custom_details).not.toHaveProperty(
      'manual',
    );
  });

  it('change events go to change/enqueue next to the alert events endpoint', () => {
    expect(changeEventsUrl('https://events.pagerduty.com/v2/enqueue')).toBe(
      'https://events.pagerduty.com/v2/change/enqueue',
    );
    expect(changeEventsUrl('https://events.eu.pagerduty.com/v2/enqueue')).toBe(
      'https://events.eu.pagerduty.com/v2/change/enqueue',
    );
  });
});

describe('pagerduty options', () => {
  it('require a 32-character routing key and never echo it', () => {
    const err: unknown = (() => {
      try {
        pagerDutyNotifierFactory.parse({ routingKey: 'short-secret-key' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(VigilError);
    expect((err as VigilError).message).toContain('options.routingKey');
    expect((err as VigilError).message).not.toContain('short-secret-key');
    expect(pagerDutyNotifierFactory.parse({ routingKey: KEY })).toMatchObject({
      url: 'https://events.pagerduty.com/v2/enqueue',
      severity: 'error',
      onAbandoned: 'ignore',
      resolveAfterRollback: false,
    });
    expect(() =>
      pagerDutyNotifierFactory.parse({ routingKey: KEY, url: 'http://events.example.com/v2/enqueue' }),
    ).toThrow(/https/);
    expect(() => pagerDutyNotifierFactory.parse({ routingKey: KEY, severity: 'fatal' })).toThrow(
      /critical, error, warning, info/,
    );
  });
});
