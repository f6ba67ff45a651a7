import { inject, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { AnalysisRegistry } from '../../../src/analysis/analysis-registry.js';
import { createClusterNode, type ClusterNode } from '../../../src/agent/cluster-node.js';
import { createDecisionClaims } from '../../../src/cluster/decision-claims.js';
import { createLeaseTable } from '../../../src/cluster/leases.js';
import { parseConfig } from '../../../src/config/load.js';
import type { Decision } from '../../../src/contracts/index.js';
import { createMetrics } from '../../../src/http/metrics.js';
import { BUILTIN_REGISTRIES } from '../../../src/registries.js';
import { redisPrefixes } from '../../helpers/redis-prefixes.js';

/**
 * A replica that claimed a decision and died before dispatching it (src/agent/cluster-node.ts, issue 14): the next
 * owner of the service dispatches the claim when it restores the service, whatever the decision's EVENT time (a
 * backfill, a replay, a Collector's backlog: telemetry days old), and leaves a claim made too long ago on the wall
 * clock to a human, said at warn. Real Redis; the analysis registry and the dispatcher are stand-ins.
 */

const { redis, prefix: newPrefix } = redisPrefixes('redispatch');
const DAY = 24 * 3600 * 1000;

function decision(service: string, eventTimeUnixMs: number): Decision {
  return {
    id: `dec-${service}`,
    analysis: `${service}:2`,
    service,
    outcome: 'rollback',
    reason: 'error rate',
    canaryVersion: '2',
    baselineVersion: '1',
    look: 7,
    eventTimeUnixMs,
    verdicts: [],
    configHash: 'test',
    plan: ['router'],
    dryRun: false,
  };
}

async function replica(queuePrefix: string) {
  const { config } = parseConfig(
    `server: { auth: { open: true } }
queue: { redis: "${inject('redisUrl')}", prefix: "${queuePrefix}" }
cluster: { enabled: true }
`,
    'test.yaml',
    BUILTIN_REGISTRIES,
    {},
  );
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as never) });
  const node: ClusterNode = createClusterNode({ config, logger, metrics: createMetrics() });
  const decided: string[] = [];
  const dispatched: Decision[] = [];
  const registry = {
    exportHeader: () => ({ analysisHash: undefined, counters: {} }),
    exportService: () => undefined,
    importService: () => ({}),
    dropService: () => true,
    resumeTo: () => true,
    markDecided: (d: Decision) => {
      decided.push(d.id);
      return true;
    },
    incarnation: () => 0,
  } as unknown as AnalysisRegistry;
  node.attach({ registry, dispatch: (d) => void dispatched.push(d), dispatched: async () => undefined });
  await node.start('http://127.0.0.1:1');
  return { node, lines, decided, dispatched };
}

describe('a decision claimed by a replica that died before dispatching it', () => {
  it('is dispatched by the next owner even when its event time is days old; one claimed over a day ago is left to a human, at warn', async () => {
    const queuePrefix = newPrefix().slice(0, -1);
    const clusterPrefix = `${queuePrefix}:cluster:`;
    // the dead owner: took both leases, claimed a decision for each, never dispatched them, and its leases expired
    const dead = createLeaseTable({ redis, prefix: clusterPrefix, replica: 'dead-1', ttlMs: 60_000 });
    const claims = createDecisionClaims(redis, clusterPrefix);
    const old = Date.now() - 30 * DAY;
    for (const service of ['backfilled', 'stale']) {
      const lease = await dead.acquire(service);
      if (!lease.owned) throw new Error('the lease should be free');
      const held = { key: dead.leaseKey(service), held: dead.held(lease.token) };
      expect(await claims.claim(decision(service, old), 0, held)).toBe('claimed');
      await redis.del(dead.leaseKey(service));
    }
    // 'stale' was claimed 25 h ago on the wall clock
    const staleClaim = JSON.parse((await redis.hget(`${clusterPrefix}decided:stale`, '2#0'))!) as Record<
      string,
      unknown
    >;
    expect(staleClaim.claimedAtUnixMs).toEqual(expect.any(Number));
    await redis.hset(
      `${clusterPrefix}decided:stale`,
      '2#0',
      JSON.stringify({ ...staleClaim, claimedAtUnixMs: Date.now() - 25 * 3600 * 1000 }),
    );

    const next = await replica(queuePrefix);
    try {
      expect(await next.node.admit([{ service: 'backfilled' }])).toEqual({ ok: true, limited: [] });
      expect(await next.node.admit([{ service: 'stale' }])).toEqual({ ok: true, limited: [] });
      expect(next.dispatched.map((d) => d.id)).toEqual(['dec-backfilled']);
      expect(next.decided).toEqual(['dec-backfilled', 'dec-stale']); // both versions stay decided
      expect(next.lines.filter((l) => (l.level as number) === 40)).toEqual([
        expect.objectContaining({ service: 'backfilled', decisionId: 'dec-backfilled' }), // dispatched again
        expect.objectContaining({ service: 'stale', decisionId: 'dec-stale' }),
      ]);
      expect(next.lines.find((l) => l.service === 'stale' && l.level === 40)?.msg).toMatch(/too old/);
    } finally {
      await next.node.stop();
    }
  });
});
