import { describe, expect, it } from 'vitest';
import type { LookEvent } from '../../../src/analysis/analysis-registry.js';
import { createPromoter } from '../../../src/agent/promoter.js';
import { parseConfig } from '../../../src/config/load.js';
import type { PlanConnector } from '../../../src/contracts/index.js';
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

describe('the promotion driver', () => {
  it('keeps its place while an operator pauses the analysis, and a failing connector holds then retries', async () => {
    const shares: number[] = [];
    let failNext = false;
    const router: PlanConnector = {
      name: 'router',
      type: 'test',
      kind: 'traffic',
      apply: async () => ({ changed: false, detail: '' }),
      setCanaryShare: async (p) => {
        if (failNext) {
          failNext = false;
          throw new Error('nginx -t failed');
        }
        shares.push(p);
        return { changed: true, detail: `canary share ${p}%` };
      },
    };
    const audit: Record<string, unknown>[] = [];
    const operated: string[] = [];
    const p = createPromoter({
      config,
      connectors: new Map([['router', router]]),
      audit: { append: async (e) => void audit.push(e) },
      logger: silentLogger(),
      dryRun: false,
      operate: async (id, action) => {
        operated.push(`${action} ${id}`);
        throw new Error('the registry is closing');
      },
    });
    p.onLook(look(1));
    await p.settled();
    expect(shares).toEqual([10]);
    // paused: nothing moves, nothing is forgotten
    p.onLook(look(2, { paused: { by: 'alice', reason: 'incident', token: 't', atUnixMs: 0 } }));
    await p.settled();
    expect(shares).toEqual([10]);
    // resumed: the next share; its connector fails once: held, recorded, tried again at the next look
    failNext = true;
    p.onLook(look(3));
    await p.settled();
    expect(audit.map((e) => e.type)).toEqual(['promote-step', 'promote-step-failed']);
    expect(audit[1]).toMatchObject({ share: 100, error: 'nginx -t failed' });
    p.onLook(look(4));
    await p.settled();
    expect(shares).toEqual([10, 100]);
    expect(p.share('checkout')).toBe(100);
    // the last step's look: promoted; an operate that fails is logged and does not stop the driver
    p.onLook(look(5));
    await p.settled();
    expect(operated).toEqual(['promote checkout:2']);
    await expect(p.approve('checkout:2', { by: 'a', reason: 'r', token: 't' })).resolves.toMatchObject({
      status: 'refused',
    });
    await expect(p.approve('nope', { by: 'a', reason: 'r', token: 't' })).resolves.toEqual({ status: 'unknown' });
  });
});
