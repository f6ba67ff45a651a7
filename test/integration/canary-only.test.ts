/** A service that ships without a baseline cohort (`rollouts[].baseline: none`): slo-guard decides alone. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Decision, RequestSample } from '../../src/contracts/index.js';
import { silentLogger } from '../../src/logger.js';
import { createAgent, type Agent } from '../../src/main.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';

const agents: Agent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
});

function run(
  errorEvery: number,
  service = 'worker',
  baselineFreeService = 'worker',
): { decisions: Decision[]; agent: Agent } {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-canary-only-'));
  const loaded = parseConfig(
    `audit: { path: "${join(dir, 'audit.jsonl')}" }
analysis:
  interval: 10s
  allowedLateness: 0s
  maxDuration: 5m
  metrics:
    - { name: error-rate, detector: error-rate-sequential }
    - { name: error-slo, detector: slo-guard, options: { maxErrorRate: 0.01 } }
rollouts:
  - { service: ${baselineFreeService}, baseline: none }
`,
    'canary-only.yaml',
    BUILTIN_REGISTRIES,
    {},
  );
  const agent = createAgent({ loaded, registries: BUILTIN_REGISTRIES, logger: silentLogger() });
  agents.push(agent);
  const decisions: Decision[] = [];
  agent.onDecision((d) => decisions.push(d));
  const T0 = 1_767_225_600_000;
  for (let look = 0; look < 40; look++) {
    const batch: RequestSample[] = [];
    for (let i = 0; i < 200; i++) {
      batch.push({
        service,
        version: '3.0',
        cohort: 'canary',
        endUnixMs: T0 + look * 10_000 + i * 50,
        durationMs: 20,
        error: i % errorEvery === 0,
      });
    }
    agent.ingest(batch);
  }
  return { decisions, agent };
}

describe('services without a baseline cohort', () => {
  it('rolls back a canary over its SLO (5% errors vs a 1% objective) with no baseline at all', async () => {
    const { decisions, agent } = run(20);
    await agent.settle();
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ outcome: 'rollback', baselineVersion: 'none', canaryVersion: '3.0' });
    expect(decisions[0]!.verdicts.find((v) => v.metric === 'error-slo')!.phase).toBe('fail');
    expect(decisions[0]!.verdicts.find((v) => v.metric === 'error-rate')!.phase).toBe('inconclusive');
  });

  it('promotes a canary within its SLO at maxDuration', async () => {
    const { decisions, agent } = run(1000);
    await agent.settle();
    expect(decisions.map((d) => d.outcome)).toEqual(['promote']);
  });

  it('a service not listed as baseline-free still waits for a baseline', async () => {
    const { decisions, agent } = run(20, 'other', 'worker');
    await agent.settle();
    expect(agent.registry.list()).toEqual([]);
    expect(decisions).toEqual([]);
  });
});
