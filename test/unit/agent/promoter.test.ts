import { describe, expect, it } from 'vitest';
import type { LookEvent } from '../../../src/analysis/analysis-registry.js';
import { createPromoter } from '../../../src/agent/promoter.js';
import { parseConfig } from '../../../src/config/load.js';
import type { PromotionRecord } from '../../../src/analysis/promotion.js';
import type { OperatorNotification, PlanConnector } from '../../../src/contracts/index.js';
import { emptyPair } from '../../../src/evidence/cohort-batch.js';
import { silentLogger } from '../../../src/logger.js';
import { BUILTIN_REGISTRIES } from '../../../src/registries.js';

const config = parseConfig(
  `connectors: [{ name: router, type: noop, options: { kind: traffic } }]
plan: [router]
analysis: { minSamples: 10 }
rollouts: [{ service: checkout, promote: { via: router, steps: [10, 100], minLooksPerStep: 1 } }]
server: { auth: { open: true } }
`,
  'p.yaml',
  BUILTIN_REGISTRIES,
  {},
).config;

function look(n: number, over: Partial<LookEvent['analysis']> = {}): LookEvent {
  return {
    batch: emptyPair(),
    analysis: {
      id: 'checkout:2',
      service: 'checkout',
      canaryVersion: '2',
      baselineVersion: '1',
      phase: 'running',
      why: '',
      look: n,
      startedAtUnixMs: 0,
      watermarkUnixMs: n * 10_000,
      totals: { baseline: { requests: 100 * n, errors: 0 }, canary: { requests: 100 * n, errors: 0 } },
      late: { baseline: 0, canary: 0 },
      used: { baseline: 1, canary: 1 },
      idleClosedLooks: { baseline: 0, canary: 0 },
      verdicts: [],
      ...over,
    },
  };
}

/** The registry's promotion records, as the driver uses them (AnalysisRegistry.keepPromotion has its own tests). */
function records(last: () => LookEvent) {
  const map = new Map<string, PromotionRecord>();
  return {
    map,
    promotion: (id: string) => map.get(id),
    keepPromotion: (id: string, r: PromotionRecord, share?: { percent: number; afterLook: number }) => {
      const at = (share?.afterLook ?? 0) * 10_000;
      map.set(id, {
        ...r,
        shares: share ? [...r.shares, { percent: share.percent, afterUnixMs: at, fromUnixMs: at }] : r.shares,
      });
      return true;
    },
    get: (id: string) => (id === last().analysis.id ? last().analysis : undefined),
  };
}

/** A traffic connector that records each share it sets; `fails()` true: this call throws as nginx -t would. */
function recordingRouter(shares: number[], fails: () => boolean = () => false): PlanConnector {
  return {
    name: 'router',
    type: 'test',
    kind: 'traffic',
    apply: async () => ({ changed: false, detail: '' }),
    setCanaryShare: async (p) => {
      if (fails()) throw new Error('nginx -t failed');
      shares.push(p);
      return { changed: true, detail: `canary share ${p}%` };
    },
  };
}

describe('the promotion driver', () => {
  it('keeps its place while an operator pauses the analysis, and a failing connector holds then retries', async () => {
    const shares: number[] = [];
    let failNext = 0;
    const router = recordingRouter(shares, () => {
      if (failNext === 0) return false;
      failNext--;
      return true;
    });
    const audit: Record<string, unknown>[] = [];
    const operated: string[] = [];
    const notes: OperatorNotification[] = [];
    let current = look(1);
    const registry = records(() => current);
    const p = createPromoter({
      config,
      connectors: new Map([['router', router]]),
      registry,
      notify: async (n) => void notes.push(n),
      audit: { append: async (e) => void audit.push(e) },
      logger: silentLogger(),
      dryRun: false,
      operate: async (id, action) => {
        operated.push(`${action} ${id}`);
        throw new Error('the registry is closing');
      },
    });
    const at = async (e: LookEvent) => {
      current = e;
      p.onLook(e);
      await p.settled();
    };
    await at(look(1));
    expect(shares).toEqual([10]);
    expect(registry.map.get('checkout:2')).toMatchObject({
      state: { step: 0, sinceLook: 1 },
      shares: [{ percent: 10 }],
    });
    // paused: nothing moves, nothing is forgotten
    await at(look(2, { paused: { by: 'alice', reason: 'incident', token: 't', atUnixMs: 0 } }));
    expect(shares).toEqual([10]);
    // resumed: the next share; its connector fails twice: held, recorded each time, announced once, tried again
    failNext = 2;
    await at(look(3));
    await at(look(4));
    expect(audit.map((e) => e.type)).toEqual(['promote-step', 'promote-step-failed', 'promote-step-failed']);
    expect(audit[1]).toMatchObject({ share: 100, error: 'nginx -t failed' });
    expect(registry.map.get('checkout:2')).toMatchObject({ state: { step: 0, failed: { share: 100 } } });
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({
      kind: 'operator',
      operator: { action: 'promotion-held', by: 'promotion plan', token: 'vigil' },
      analysis: { id: 'checkout:2' },
      promotion: { share: 100, inPlace: 10, connector: 'router', error: 'nginx -t failed' },
    });
    await at(look(5));
    expect(shares).toEqual([10, 100]);
    expect(registry.map.get('checkout:2')?.shares.map((x) => x.percent)).toEqual([10, 100]);
    expect(registry.map.get('checkout:2')?.state.failed).toBeUndefined();
    // the last step's look: promoted; an operate that fails is logged and does not stop the driver
    current = look(6);
    p.onLook(current);
    await p.settled();
    expect(operated).toEqual(['promote checkout:2']);
    await expect(p.approve('checkout:2', { by: 'a', reason: 'r', token: 't' })).resolves.toMatchObject({
      status: 'refused',
    });
    await expect(p.approve('nope', { by: 'a', reason: 'r', token: 't' })).resolves.toEqual({ status: 'unknown' });
  });
});

describe('the promotion driver at an approval gate', () => {
  const gated = parseConfig(
    `connectors: [{ name: router, type: noop, options: { kind: traffic } }]
plan: [router]
analysis: { minSamples: 10 }
rollouts: [{ service: checkout, promote: { via: router, steps: [10, 100], minLooksPerStep: 1, approve: [100] } }]
server: { auth: { open: true } }
`,
    'p.yaml',
    BUILTIN_REGISTRIES,
    {},
  ).config;

  it('asks once, keeps the share while it waits, records and announces the approval, then sets the share', async () => {
    const shares: number[] = [];
    const router = recordingRouter(shares);
    const audit: Record<string, unknown>[] = [];
    const notes: OperatorNotification[] = [];
    let current = look(1);
    const registry = records(() => current);
    const p = createPromoter({
      config: gated,
      connectors: new Map([['router', router]]),
      registry,
      notify: async (n) => void notes.push(n),
      audit: { append: async (e) => void audit.push(e) },
      logger: silentLogger(),
      dryRun: false,
      operate: async () => ({ status: 'unknown' }),
      now: () => 42,
    });
    const at = async (e: LookEvent) => {
      current = e;
      p.onLook(e);
      await p.settled();
    };
    const alice = { by: 'alice', reason: 'error budget fine', token: 'ops' };
    await at(look(1));
    await expect(p.approve('checkout:2', alice)).resolves.toMatchObject({ status: 'refused' });
    await at(look(2));
    await at(look(3));
    expect(shares).toEqual([10]);
    expect(registry.map.get('checkout:2')).toMatchObject({ awaiting: 100, why: 'waiting for an approval of 100%' });
    expect(notes.map((n) => n.operator.action)).toEqual(['approval-needed']);
    expect(notes[0]).toMatchObject({ promotion: { share: 100, inPlace: 10 }, operator: { by: 'promotion plan' } });
    await expect(p.approve('checkout:2', alice)).resolves.toEqual({ status: 'done', share: 100 });
    await p.settled();
    expect(audit.at(-1)).toEqual({ type: 'approve', analysis: 'checkout:2', share: 100, ...alice, atUnixMs: 42 });
    expect(notes.map((n) => n.operator.action)).toEqual(['approval-needed', 'approve']);
    expect(notes[1]).toMatchObject({ operator: { by: 'alice', reason: 'error budget fine', token: 'ops' } });
    await at(look(4));
    expect(shares).toEqual([10, 100]);
    expect(registry.map.get('checkout:2')?.state.approved).toEqual([100]);
    expect(registry.map.get('checkout:2')?.awaiting).toBeUndefined();
  });
});
