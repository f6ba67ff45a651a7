/**
 * `vigil serve` killed with SIGKILL in the middle of a rollback plan, with the embedded (in-memory) queue, then
 * started again on the same audit log: the plan goes on from the step that was cut and finishes, and the steps
 * done before the kill do not run again. Real processes (the CLI from the TypeScript sources through tsx), real
 * OTLP/HTTP JSON telemetry that rolls a canary back, real webhook connectors posting to a local HTTP peer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HttpPeer, type RecordedRequest } from '../helpers/http-peer.js';
import { killAll, look, serveConfig, serve, waitUntil } from '../helpers/serve-process.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  killAll();
  for (const c of cleanups.splice(0).reverse()) await c();
});

const paths = (reqs: readonly RecordedRequest[]): string[] =>
  reqs.map((r) => {
    if (r.path !== '/notify') return r.path.slice(1);
    return (JSON.parse(r.text) as { type: string }).type.replace('dev.vigil.notification.', 'notify:');
  });

const count = (reqs: readonly RecordedRequest[], what: string): number => paths(reqs).filter((p) => p === what).length;

describe('vigil serve killed with SIGKILL in the middle of a rollback plan (embedded queue)', () => {
  it('finishes the plan after the restart from the step that was cut; the steps done before do not run again', async () => {
    const peer = await HttpPeer.start((r) => (r.path === '/router' ? 'hang' : { status: 200, body: 'ok' }));
    cleanups.push(() => peer.close());
    const hooks = ['flag', 'router', 'deploy']
      .map((c) => `  - { name: ${c}, type: webhook, options: { url: "${peer.url}/${c}" } }`)
      .join('\n');
    const { cfg } = serveConfig(
      'kill',
      `analysis: { interval: 10s, allowedLateness: 0s, minSamples: 20 }
connectors:
${hooks}
notifiers:
  - { name: chat, type: webhook, options: { url: "${peer.url}/notify" } }
plan: [flag, router, deploy]
`,
    );

    const first = await serve(cfg);
    for (let n = 0; n < 10 && count(peer.requests, 'router') === 0; n++) {
      const res = await fetch(`${first.otlpHttp}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: look(n),
      });
      expect(res.status).toBe(200);
    }
    // step 0 (flag) done and audited, step 1 (router) in flight: the peer holds its answer
    await waitUntil(
      () => count(peer.requests, 'router') === 1 && count(peer.requests, 'notify:decision') === 1,
      20_000,
      () => `${paths(peer.requests).join(', ')}\n${first.output()}`,
    );
    first.child.kill('SIGKILL');
    await first.exited;
    expect(first.child.signalCode).toBe('SIGKILL');
    expect(paths(peer.requests).sort()).toEqual(['flag', 'notify:decision', 'router']);

    peer.script(() => ({ status: 200, body: 'ok' }));
    const second = await serve(cfg);
    await waitUntil(
      () => count(peer.requests, 'notify:plan-completed') === 1,
      20_000,
      () => `${paths(peer.requests).join(', ')}\n${second.output()}`,
    );
    await new Promise((r) => setTimeout(r, 500)); // anything that would run twice has had the time to
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    // router twice: the cut request, then the step again (receivers dedupe on the event id, the decision id)
    expect(paths(peer.requests).sort()).toEqual([
      'deploy',
      'flag',
      'notify:decision',
      'notify:plan-completed',
      'router',
      'router',
    ]);
    const lines = second.lines();
    expect(lines.filter((l) => String(l.msg).startsWith('resuming a rollback plan'))).toEqual([
      expect.objectContaining({ level: 40, step: 1, connector: 'router', analysis: 'cart:2' }),
    ]);
    expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
  }, 90_000);
});
