/**
 * Decisions claimed in Redis (src/cluster/decision-claims.ts) against the suite's real Redis, and what a replica
 * does with the claims of a service it takes over (src/agent/cluster-node.ts): the versions are decided, and a claim
 * its dead owner never dispatched is dispatched once.
 */
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createDecisionClaims } from '../../../src/cluster/decision-claims.js';
import { createLeaseTable } from '../../../src/cluster/leases.js';
import type { Decision } from '../../../src/contracts/index.js';
import { planDecision } from '../../helpers/decisions.js';
import { exportWith, shopSpans } from '../../helpers/otel-spans.js';
import { redisPrefixes } from '../../helpers/redis-prefixes.js';
import { startTestAgent } from '../../helpers/test-agent.js';

const { redis, prefix: newPrefix } = redisPrefixes('claims');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('decision claims on a real Redis', () => {
  it('one decision per version and incarnation; a past owner is fenced; a resume opens the next incarnation', async () => {
    const prefix = newPrefix();
    const leases = createLeaseTable({ redis, prefix, replica: 'a', ttlMs: 10_000 });
    const claims = createDecisionClaims(redis, prefix);
    const lease = await leases.acquire('checkout');
    if (!lease.owned) throw new Error('a should own checkout');
    const held = { key: leases.leaseKey('checkout'), held: leases.held(lease.token) };
    const first = planDecision({ id: 'd-1', look: 7 });
    expect(await claims.claim(first, 0, held)).toBe('claimed');
    // the same version decided again (another look, another replica's restored copy): refused
    expect(await claims.claim(planDecision({ id: 'd-2', look: 9 }), 0, held)).toBe('duplicate');
    expect(await claims.claim(first, 0, { ...held, held: leases.held(lease.token - 1) })).toBe('fenced');
    expect(await claims.resume('checkout', first.canaryVersion)).toBe(1);
    expect(await claims.claim(planDecision({ id: 'd-3', look: 30 }), 1, held)).toBe('claimed');
    expect((await claims.recent()).map((d) => d.id)).toEqual(['d-3', 'd-1']);
    expect(await claims.resumes('checkout')).toEqual(new Map([['1.4.0', 1]]));
    await claims.dispatched(first, 0);
    expect((await claims.of('checkout')).map((c) => [c.decision.id, c.incarnation, c.dispatched]).sort()).toEqual([
      ['d-1', 0, true],
      ['d-3', 1, false],
    ]);
  });

  it('a replica that takes a service over dispatches the claim its dead owner did not, once, and keeps the version decided', async () => {
    const prefix = newPrefix();
    const clusterPrefix = `${prefix}:cluster:`;
    // a replica that died right after claiming two decisions of `shop`: one dispatched, one not
    const dead = createLeaseTable({ redis, prefix: clusterPrefix, replica: 'dead', ttlMs: 300 });
    const claims = createDecisionClaims(redis, clusterPrefix);
    const lease = await dead.acquire('shop');
    if (!lease.owned) throw new Error('dead should own shop');
    const held = { key: dead.leaseKey('shop'), held: dead.held(lease.token) };
    const now = Date.now();
    const undispatched = planDecision({
      id: 'd-undispatched',
      analysis: 'shop:1.1',
      service: 'shop',
      canaryVersion: '1.1',
      baselineVersion: '1.0',
      plan: [],
      eventTimeUnixMs: now,
    });
    const dispatched = { ...undispatched, id: 'd-dispatched', analysis: 'shop:0.9', canaryVersion: '0.9' };
    expect(await claims.claim(undispatched, 0, held)).toBe('claimed');
    expect(await claims.claim(dispatched, 0, held)).toBe('claimed');
    await claims.dispatched(dispatched, 0);
    await sleep(400); // its lease expires

    const { agent, otlpHttpUrl, apiUrl } = await startTestAgent(
      `server: { auth: { open: true } }
queue: { redis: "${inject('redisUrl')}", prefix: "${prefix}" }
cluster: { enabled: true, leaseTtl: 3s }
`,
      'claims',
    );
    cleanups.push(() => agent.stop());
    const seen: Decision[] = [];
    agent.onDecision((d) => seen.push(d));
    const exporter = new OTLPTraceExporter({ url: `${otlpHttpUrl}/v1/traces`, timeoutMillis: 3000 });
    cleanups.push(() => exporter.shutdown());
    // shop's telemetry arrives: the agent takes the lease and reads the claims
    expect((await exportWith(exporter, shopSpans(20, { scope: 'claims' }))).code).toBe(ExportResultCode.SUCCESS);
    await agent.settle();
    expect(seen.map((d) => d.id)).toEqual(['d-undispatched']);
    expect((await claims.of('shop')).every((c) => c.dispatched)).toBe(true);
    // version 1.1 (the canary of shopSpans) is decided: its spans start no analysis
    expect(agent.registry.list().map((a) => [a.id, a.phase])).toEqual([]);
    expect(agent.registry.counters.decidedVersionSamples).toBeGreaterThan(0);
    // and its decision is listed by the API, from the shared list
    const api = (await (await fetch(`${apiUrl}/api/v1/decisions`)).json()) as { decisions: Decision[] };
    expect(api.decisions.map((d) => d.id).sort()).toEqual(['d-dispatched', 'd-undispatched']);
  });
});
