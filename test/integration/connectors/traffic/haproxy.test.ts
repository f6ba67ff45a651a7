/**
 * The haproxy connector against a REAL haproxy (Debian package, `startHaproxy` in proxy-peers.ts) with a `level
 * admin` stats socket in a temp directory, load-balancing two local backends that answer their names.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { haproxyTrafficFactory } from '../../../../connectors/traffic/haproxy.js';
import type { VigilError } from '../../../../src/errors.js';
import { connectorConformance } from '../../../helpers/connectors/conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../../helpers/connectors/fixtures.js';
import { type Haproxy, fitsShare, startHaproxy, tally } from './proxy-peers.js';

function connector(socket: string, extra: object = {}) {
  return asPlan(
    haproxyTrafficFactory.create(
      'lb',
      haproxyTrafficFactory.parse({
        socket,
        backend: 'checkout',
        baselineServer: 'baseline',
        canaryServer: 'canary',
        ...extra,
      }),
      deps,
    ),
  );
}

connectorConformance('haproxy', (t) => connector(t.url, { timeoutMs: t.timeoutMs }), {
  stateful: async () => {
    const h = await startHaproxy();
    return {
      url: h.socket,
      rollOut: async () => {
        await h.cli('set weight checkout/baseline 100%');
        await h.cli('set weight checkout/canary 100%');
      },
      snapshot: async () => JSON.stringify(await h.weights()),
      close: () => h.close(),
    };
  },
});

describe('haproxy against a real haproxy', () => {
  let h: Haproxy;
  beforeAll(async () => {
    h = await startHaproxy();
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.cli('set weight checkout/baseline 100%');
    await h.cli('set weight checkout/canary 100%');
  });

  it('before: both backends get traffic; after apply: every request reaches the baseline', async () => {
    const before = await tally(h.url, 20);
    expect(before.baseline).toBeGreaterThan(0);
    expect(before.canary).toBeGreaterThan(0);

    const c = connector(h.socket);
    const res = await c.apply(actionContext(rollbackDecision()));
    expect(res).toEqual({
      changed: true,
      detail: `sent "set weight checkout/canary 0%" to backend checkout via ${h.socket}: baseline 100→100, canary 100→0`,
    });
    expect(await h.weights()).toEqual({ baseline: 100, canary: 0 });
    const canaryHits = h.canary.hits;
    expect(await tally(h.url, 60)).toEqual({ baseline: 60 });
    expect(h.canary.hits).toBe(canaryHits);

    expect(await c.apply(actionContext(rollbackDecision()))).toEqual({
      changed: false,
      detail: `backend checkout via ${h.socket}: all weight already on baseline (baseline=100, canary=0)`,
    });
  });

  it('restores a drained baseline to its configured weight before taking the canary out', async () => {
    await h.cli('set weight checkout/baseline 0');
    const res = await connector(h.socket).apply(actionContext(rollbackDecision()));
    expect(res.detail).toBe(
      `sent "set weight checkout/baseline 100%; set weight checkout/canary 0%" to backend checkout via ${h.socket}: baseline 0→100, canary 100→0`,
    );
    expect(await h.weights()).toEqual({ baseline: 100, canary: 0 });
    expect(await tally(h.url, 10)).toEqual({ baseline: 10 });
  });

  it('dry run reads the weights and changes nothing', async () => {
    const res = await connector(h.socket).apply(actionContext(rollbackDecision(), { dryRun: true }));
    expect(res).toEqual({
      changed: false,
      detail: `dry-run: would send "set weight checkout/canary 0%" to backend checkout via ${h.socket} (now baseline=100, canary=100)`,
    });
    expect(await h.weights()).toEqual({ baseline: 100, canary: 100 });
  });

  it("fails permanently with HAProxy's own answer for an unknown server or a socket without admin level", async () => {
    const unknown = (await connector(h.socket, { canaryServer: 'nope' })
      .apply(actionContext(rollbackDecision()))
      .catch((e: unknown) => e)) as VigilError;
    expect([unknown.code, unknown.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
    expect(unknown.message).toBe('connector failed: haproxy: get weight checkout/nope answered: No such server.');

    const userLevel = connector(join(h.dir, 'user.sock'));
    const denied = (await userLevel.apply(actionContext(rollbackDecision())).catch((e: unknown) => e)) as VigilError;
    expect(denied.message).toBe('connector failed: haproxy: set weight checkout/canary 0% answered: Permission denied');
    const ctx = actionContext(rollbackDecision());
    await expect(userLevel.healthCheck!({ logger: ctx.logger, signal: ctx.signal })).rejects.toThrow(
      /grants level "user": set weights needs "level admin"/,
    );
    await expect(connector(h.socket).healthCheck!({ logger: ctx.logger, signal: ctx.signal })).resolves.toBeUndefined();
    expect(await h.weights()).toEqual({ baseline: 100, canary: 100 });
  });

  it('a socket nobody listens on is a retryable network error', async () => {
    const err = (await connector(join(h.dir, 'missing.sock'))
      .apply(actionContext(rollbackDecision()))
      .catch((e: unknown) => e)) as VigilError;
    expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_NETWORK', true]);
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});

describe('haproxy with a static algorithm (balance source)', () => {
  let h: Haproxy;
  beforeAll(async () => {
    h = await startHaproxy({ balance: 'source' });
  });
  afterAll(() => h.close());

  it('uses relative weights, which static algorithms accept', async () => {
    const res = await connector(h.socket).apply(actionContext(rollbackDecision()));
    expect(res.changed).toBe(true);
    expect(await h.weights()).toEqual({ baseline: 100, canary: 0 });
    expect(await tally(h.url, 10)).toEqual({ baseline: 10 });
  });
});

describe('haproxy setCanaryShare against a real haproxy', () => {
  let h: Haproxy;
  const observed: string[] = [];
  beforeAll(async () => {
    h = await startHaproxy();
  });
  afterAll(async () => {
    console.info(`haproxy observed canary answers: ${observed.join('; ')}`);
    await h.close();
  });
  beforeEach(async () => {
    await h.cli('set weight checkout/baseline 100%');
    await h.cli('set weight checkout/canary 100%');
  });

  it('5 → 25 → 100: the weights HAProxy reports and the traffic through it follow the share', async () => {
    const c = connector(h.socket);
    const steps: [number, { baseline: number; canary: number }, string][] = [
      [5, { baseline: 95, canary: 5 }, 'canary share 5% (was 50%)'],
      [25, { baseline: 75, canary: 25 }, 'canary share 25% (was 5%)'],
      [100, { baseline: 0, canary: 100 }, 'canary share 100% (was 25%)'],
      [2.5, { baseline: 195, canary: 5 }, 'canary share 2.5% (was 100%)'],
    ];
    for (const [share, weights, head] of steps) {
      const res = await c.setCanaryShare!(share, actionContext(rollbackDecision()));
      expect(res.changed).toBe(true);
      expect(res.detail.startsWith(`${head}: sent "set weight checkout/baseline ${weights.baseline}; `)).toBe(true);
      expect(await h.weights()).toEqual(weights);
      const t = await tally(h.url, 200);
      observed.push(`${share}%: ${t.canary ?? 0}/200`);
      expect(fitsShare(t.canary ?? 0, 200, share), JSON.stringify(t)).toBe(true);
    }
  });

  it('the same share twice sends nothing; a dry run reads, says it would change, and sends nothing', async () => {
    const c = connector(h.socket);
    const dry = await c.setCanaryShare!(25, actionContext(rollbackDecision(), { dryRun: true }));
    expect(dry).toEqual({
      changed: true,
      detail: `dry-run: canary share 25% (was 50%): would send "set weight checkout/baseline 75; set weight checkout/canary 25" to backend checkout via ${h.socket} (now baseline=100, canary=100)`,
    });
    expect(await h.weights()).toEqual({ baseline: 100, canary: 100 });
    expect((await c.setCanaryShare!(25, actionContext(rollbackDecision()))).changed).toBe(true);
    expect(await c.setCanaryShare!(25, actionContext(rollbackDecision()))).toEqual({
      changed: false,
      detail: `canary share 25% (was 25%): backend checkout via ${h.socket} already has baseline=75, canary=25`,
    });
    expect((await c.setCanaryShare!(25, actionContext(rollbackDecision(), { dryRun: true }))).changed).toBe(false);
    expect(await h.weights()).toEqual({ baseline: 75, canary: 25 });
  });

  it('setCanaryShare(0) leaves the weights apply leaves; apply after it changes nothing', async () => {
    const c = connector(h.socket);
    await c.setCanaryShare!(25, actionContext(rollbackDecision()));
    await c.apply(actionContext(rollbackDecision()));
    const applied = await h.weights();
    await c.setCanaryShare!(25, actionContext(rollbackDecision()));
    const zero = await c.setCanaryShare!(0, actionContext(rollbackDecision()));
    expect(zero.changed).toBe(true);
    expect(zero.detail).toMatch(/^canary share 0% \(was 25%\): sent "set weight checkout\/canary 0%"/);
    expect(await h.weights()).toEqual(applied);
    expect(applied).toEqual({ baseline: 75, canary: 0 });
    expect((await c.apply(actionContext(rollbackDecision()))).changed).toBe(false);
    expect((await c.setCanaryShare!(0, actionContext(rollbackDecision()))).changed).toBe(false);
    expect(await tally(h.url, 20)).toEqual({ baseline: 20 });
  });

  it('rejects a share outside 0–100 or not finite, permanently, and sends nothing', async () => {
    for (const bad of [-0.1, 101, Number.NaN]) {
      const err = (await connector(h.socket).setCanaryShare!(bad, actionContext(rollbackDecision())).catch(
        (e: unknown) => e,
      )) as VigilError;
      expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
    }
    expect(await h.weights()).toEqual({ baseline: 100, canary: 100 });
  });
});
