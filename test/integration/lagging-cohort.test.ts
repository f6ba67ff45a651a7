/**
 * A canary behind a slower pipeline, through the real OpenTelemetry JS SDK (OTLP/HTTP protobuf exporters) to a
 * running agent whose config has NO late-data settings: each cohort's spans are exported in order, every 5 s
 * of event time, and the canary's reach the agent 15 s (event time) after the baseline's. The looks wait for
 * both cohorts (src/analysis/event-clock.ts): >= 99% of the canary's requests are compared and the regressed
 * canary is rolled back; nothing is counted late.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Decision } from '../../src/contracts/index.js';
import type { TrafficGenerator } from '../../src/demo/traffic-generator.js';
import { cohortTraffic } from '../helpers/traffic.js';
import { silentLogger } from '../../src/logger.js';
import { createAgent } from '../../src/main.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';

const INTERVAL = 10_000;
const STEP = 5_000; // the SDK's default export interval
const LAG = 15_000;
const PER_STEP = 100; // requests per cohort per 5 s
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function generator(url: string, service: string, canaryErrorRate: number, seed: number): TrafficGenerator {
  const g = cohortTraffic({ otlpHttpUrl: url, service, canaryErrorRate, seed });
  cleanups.push(() => g.shutdown());
  return g;
}

describe('a cohort 15 s behind the other, with the default late-data settings', () => {
  it('compares the lagging canary (>= 99% of its requests) and rolls back the regressed one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-lag-'));
    const loaded = parseConfig(
      `analysis: { interval: 10s, minSamples: 25, maxDuration: 30m }\naudit: { path: "${join(dir, 'audit.jsonl')}" }\nplan: []\n`,
      'lag.yaml',
      BUILTIN_REGISTRIES,
      {},
    );
    const agent = createAgent({
      loaded,
      registries: BUILTIN_REGISTRIES,
      logger: silentLogger(),
      ports: { otlpHttp: 0, api: 0 },
    });
    const { otlpHttpUrl } = await agent.start();
    cleanups.push(() => agent.stop());
    const decisions: Decision[] = [];
    agent.onDecision((d) => decisions.push(d));
    const bad = generator(otlpHttpUrl, 'checkout', 0.15, 31);
    const good = generator(otlpHttpUrl, 'search', 0.01, 32);

    const t0 = Math.floor(Date.now() / INTERVAL) * INTERVAL - 16 * INTERVAL; // the last 16 looks: no span dated in the future
    const steps = 14 * (INTERVAL / STEP); // 14 looks of baseline
    for (let k = 0; k < steps + LAG / STEP; k++) {
      // what reaches the agent now: the baseline's latest 5 s, and the canary's from 15 s earlier
      const baselineFrom = t0 + k * STEP;
      const canaryFrom = baselineFrom - LAG;
      for (const g of [bad, good]) {
        if (k < steps) await g.emit(baselineFrom, STEP, { baseline: PER_STEP, canary: 0 });
        if (canaryFrom >= t0) await g.emit(canaryFrom, STEP, { baseline: 0, canary: PER_STEP });
      }
    }
    await agent.settle();

    const rollback = decisions.find((d) => d.service === 'checkout');
    expect(rollback).toMatchObject({ outcome: 'rollback', canaryVersion: '1.1.0' });
    const checkout = agent.registry.get('checkout:1.1.0')!;
    const sentBefore = (until: number, from: number) => (Math.max(0, until - from) / STEP) * PER_STEP;
    const checkoutSent = sentBefore(rollback!.eventTimeUnixMs, checkout.startedAtUnixMs);
    expect(checkout.totals.canary.requests / checkoutSent).toBeGreaterThanOrEqual(0.99);
    expect(checkout.late).toEqual({ baseline: 0, canary: 0 });

    // the healthy one kept running over the 14 looks: every canary request of its closed looks compared
    const search = agent.registry.get('search:1.1.0')!;
    expect(search.phase).toBe('running');
    expect(search.look).toBeGreaterThanOrEqual(12);
    const searchSent = sentBefore(search.startedAtUnixMs + search.look * INTERVAL, search.startedAtUnixMs);
    expect(search.totals.canary.requests / searchSent).toBeGreaterThanOrEqual(0.99);
    expect(search.late).toEqual({ baseline: 0, canary: 0 });
    console.log(
      `[lag 15 s] checkout: ${checkout.totals.canary.requests}/${checkoutSent} canary requests compared, rollback at look ${rollback!.look}; search: ${search.totals.canary.requests}/${searchSent} over ${search.look} looks`,
    );
  });
});
