/**
 * The shutdown is bounded by server.shutdownTimeout, Redis or not (src/main.ts `shutdown`): an in-process agent on the
 * embedded queue whose rollback step hangs (a webhook that never answers, well under its stepTimeout) gives up at the
 * deadline and reports the unfinished job; an agent with nothing left returns at once with nothing undone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestSample } from '../../src/contracts/index.js';
import type { Agent } from '../../src/main.js';
import { HttpPeer } from '../helpers/http-peer.js';
import { startTestAgent } from '../helpers/test-agent.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** One look of requests where the canary fails 20% of the time and the baseline 1%. */
function regressed(look: number): RequestSample[] {
  const out: RequestSample[] = [];
  for (let i = 0; i < 200; i++) {
    const t = 1_767_225_600_000 + look * 10_000 + i * 50;
    const base = { service: 'cart', endUnixMs: t, durationMs: 30 } as const;
    out.push({ ...base, version: '1', cohort: 'baseline', error: i % 100 === 0 });
    out.push({ ...base, version: '2', cohort: 'canary', endUnixMs: t + 1, error: i % 5 === 0 });
  }
  return out;
}

async function agentWith(hookUrl: string): Promise<Agent> {
  const { agent } = await startTestAgent(
    `server: { shutdownTimeout: 1s }
analysis: { interval: 10s, allowedLateness: 0s, minSamples: 20 }
actions: { stepTimeout: 60s, attempts: 1 }
connectors:
  - { name: router, type: webhook, options: { url: "${hookUrl}/router" } }
plan: [router]
`,
    'shutdown',
  );
  return agent;
}

describe('a bounded shutdown', () => {
  it('a step that hangs: shutdown() gives up at server.shutdownTimeout and names the unfinished job', async () => {
    const peer = await HttpPeer.start(() => 'hang');
    cleanups.push(() => peer.close());
    const agent = await agentWith(peer.url);
    // one look never decides (one bounded bet per look: docs/detectors.md, "Real traffic"): this canary is rolled back
    // at its look 7, when the requests of regressed(7) (its 8th look) close its 7th (measured: 7 looks sent never
    // decide); 10 looks leave 2 of margin
    for (let look = 0; look < 10; look++) agent.ingest(regressed(look));
    await agent.settle(1).catch(() => undefined); // the decision is recorded; its step hangs
    await peer.waitForRequests(1);
    const t0 = performance.now();
    const report = await agent.shutdown();
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(700); // it waited (the last quarter of the timeout is for giving up)...
    expect(ms).toBeLessThan(1_000 + 500); // ...and returned within the timeout
    expect(report.timedOut).toBe(true);
    expect(report.undone).toEqual([
      expect.stringMatching(
        /^actions job \S+ not finished \(decision \S+, step 0 of its plan, connector router\): the next start resumes the plan from this step \(audit log\)$/,
      ),
    ]);
  });

  it('nothing left: shutdown() returns at once with nothing undone, and stop() after it is the same shutdown', async () => {
    const peer = await HttpPeer.start();
    cleanups.push(() => peer.close());
    const agent = await agentWith(peer.url);
    const t0 = performance.now();
    expect(await agent.shutdown()).toEqual({ timedOut: false, undone: [] });
    expect(performance.now() - t0).toBeLessThan(1_000);
    await agent.stop();
  });
});
