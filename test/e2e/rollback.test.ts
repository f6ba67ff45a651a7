/**
 * End to end: the real OpenTelemetry JS SDK (OTLP/HTTP protobuf and JSON exporters) sends traces to a
 * running agent; the regressed canary is rolled back through a signed webhook, the healthy one is left
 * alone; the decision is in the audit log before the action; a replay of the recorded telemetry gives the
 * same decision.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { verifySignature } from '../../connectors/shared/signing.js';
import { parseConfig } from '../../src/config/load.js';
import type { Decision } from '../../src/contracts/index.js';
import { createTrafficGenerator, type TrafficGenerator } from '../../src/demo/traffic-generator.js';
import { createLogger, silentLogger } from '../../src/logger.js';
import { createAgent, type Agent } from '../../src/main.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';
import { decisionLine, runReplay } from '../../src/replay/run-replay.js';
import { HttpPeer, forwardTo } from '../helpers/http-peer.js';

const SECRET = 'e2e-secret';
const INTERVAL = 10_000;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function config(receiver: string, auditPath: string) {
  return parseConfig(
    `
analysis: { interval: 10s, allowedLateness: 2s, minSamples: 25, maxDuration: 30m }
connectors:
  - { name: router, type: webhook, options: { url: "${receiver}/rollback", secret: "${SECRET}" } }
notifiers:
  - { name: chat, type: webhook, options: { url: "${receiver}/notify", secret: "${SECRET}" } }
plan: [router]
audit: { path: "${auditPath}" }
`,
    'e2e.yaml',
    BUILTIN_REGISTRIES,
    {},
  );
}

async function startAgent(
  receiver: HttpPeer,
  dir: string,
): Promise<{ agent: Agent; otlp: string; decisions: Decision[] }> {
  const agent = createAgent({
    loaded: config(receiver.url, join(dir, 'audit.jsonl')),
    registries: BUILTIN_REGISTRIES,
    logger: process.env.E2E_LOG ? createLogger({ level: 'debug' }) : silentLogger(),
    ports: { otlpHttp: 0, api: 0 },
  });
  const { otlpHttpUrl } = await agent.start();
  cleanups.push(() => agent.stop());
  const decisions: Decision[] = [];
  agent.onDecision((d) => decisions.push(d));
  return { agent, otlp: otlpHttpUrl, decisions };
}

function generator(
  url: string,
  service: string,
  canaryErrorRate: number,
  encodings: ['protobuf' | 'json', 'protobuf' | 'json'],
  seed: number,
): TrafficGenerator {
  const g = createTrafficGenerator({
    url: `${url}/v1/traces`,
    service,
    baseline: { version: '1.0.0', cohort: 'baseline', errorRate: 0.01, latencyMedianMs: 40, encoding: encodings[0] },
    canary: {
      version: '1.1.0',
      cohort: 'canary',
      errorRate: canaryErrorRate,
      latencyMedianMs: 40,
      encoding: encodings[1],
    },
    seed,
  });
  cleanups.push(() => g.shutdown());
  return g;
}

describe('end to end with the real OTel SDK exporters', () => {
  it('rolls back a regressed canary, leaves a healthy one alone, and records before acting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-e2e-'));
    const receiver = await HttpPeer.start();
    cleanups.push(() => receiver.close());
    const { agent, otlp, decisions } = await startAgent(receiver, dir);
    const bad = generator(otlp, 'checkout', 0.05, ['protobuf', 'json'], 11);
    const good = generator(otlp, 'search', 0.01, ['json', 'protobuf'], 12);
    const t0 = Math.floor(Date.now() / INTERVAL) * INTERVAL - 30 * INTERVAL; // in the past: none dated in the future
    const wall0 = performance.now();
    let wallToRollback = NaN;
    for (let look = 0; look < 30; look++) {
      await Promise.all([
        bad.emit(t0 + look * INTERVAL, INTERVAL, { baseline: 200, canary: 200 }),
        good.emit(t0 + look * INTERVAL, INTERVAL, { baseline: 200, canary: 200 }),
      ]);
      if (Number.isNaN(wallToRollback) && decisions.some((d) => d.service === 'checkout'))
        wallToRollback = performance.now() - wall0;
    }
    await agent.settle();

    const rollback = decisions.find((d) => d.service === 'checkout');
    expect(rollback).toMatchObject({
      outcome: 'rollback',
      analysis: 'checkout:1.1.0',
      canaryVersion: '1.1.0',
      baselineVersion: '1.0.0',
      plan: ['router'],
    });
    const failed = rollback!.verdicts.find((v) => v.phase === 'fail')!;
    expect(failed.metric).toBe('error-rate');
    expect(failed.pValue).toBeLessThanOrEqual(failed.alpha);
    // the robust default's bounds are on a grid of null ratios (1 x 1.1^k: docs/detectors.md, "Real traffic"), and
    // `fail` <=> lower >= r0 (1 here, tolerance 0): at the look that first rejects ratio <= 1 the lower bound is
    // 1 itself (measured: look 7, lower 1, estimate 5.8x), no longer a continuous bound above 1
    expect(failed.lower).toBeGreaterThanOrEqual(1);
    expect(failed.estimate).toBeGreaterThan(1);
    expect(decisions.filter((d) => d.service === 'search' && d.outcome === 'rollback')).toEqual([]);
    expect(agent.registry.get('search:1.1.0')?.phase).toBe('running');

    // the router received exactly one signed CloudEvent for that decision, verified over the raw body
    const hits = receiver.requests.filter((r) => r.path === '/rollback');
    expect(hits).toHaveLength(1);
    const hit = hits[0]!;
    expect(
      verifySignature(
        SECRET,
        hit.headers['x-vigil-timestamp'] as string,
        hit.rawBody,
        hit.headers['x-vigil-signature'] as string,
        { nowSec: Math.floor(Date.now() / 1000) },
      ),
    ).toEqual({ ok: true });
    const event = JSON.parse(hit.text);
    expect(event).toMatchObject({ specversion: '1.0', type: 'dev.vigil.rollback', id: rollback!.id });
    expect(event.data).toMatchObject({ service: 'checkout', outcome: 'rollback', decisionId: rollback!.id });
    expect(receiver.requests.some((r) => r.path === '/notify')).toBe(true);

    // the audit log holds the decision BEFORE the action it caused
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const di = audit.findIndex((e) => e.type === 'decision' && e.id === rollback!.id);
    const ai = audit.findIndex((e) => e.type === 'action' && e.decisionId === rollback!.id);
    expect(di).toBeGreaterThanOrEqual(0);
    expect(ai).toBeGreaterThan(di);

    console.log(
      `[e2e] first span → rollback decision: ${wallToRollback.toFixed(0)} ms wall, look ${rollback!.look} (${rollback!.look * 10} s event time)`,
    );
  });

  it('replays the recorded telemetry to the same decision', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-e2e-'));
    const receiver = await HttpPeer.start();
    cleanups.push(() => receiver.close());
    const { agent, otlp, decisions } = await startAgent(receiver, dir);
    const tee = await HttpPeer.start(forwardTo(otlp));
    cleanups.push(() => tee.close());
    const gen = generator(tee.url, 'checkout', 0.05, ['json', 'json'], 21);
    const t0 = Math.floor(Date.now() / INTERVAL) * INTERVAL - 30 * INTERVAL; // in the past: none dated in the future
    for (let look = 0; look < 20 && decisions.length === 0; look++)
      await gen.emit(t0 + look * INTERVAL, INTERVAL, { baseline: 200, canary: 200 });
    await agent.settle();
    expect(decisions).toHaveLength(1);

    // the tee saw exactly what the agent saw: one OTLP JSON request per line, as the Collector's file exporter writes
    const recording = join(dir, 'recorded.jsonl');
    writeFileSync(recording, tee.requests.map((r) => r.text).join('\n') + '\n');
    const lines: string[] = [];
    const summary = await runReplay({
      loaded: config('http://127.0.0.1:9', join(dir, 'replay-audit.jsonl')),
      registries: BUILTIN_REGISTRIES,
      files: [recording],
      logger: silentLogger(),
      format: 'json',
      out: (l) => lines.push(l),
      auditPath: join(dir, 'replay-audit.jsonl'),
    });
    const replayed = lines.map((l) => JSON.parse(l));
    expect(replayed.at(-1)).toMatchObject({ type: 'summary', outcomes: { rollback: 1 }, badLines: 0 });
    expect(summary.samples).toBeGreaterThan(0);
    const live = decisionLine(decisions[0]!);
    expect(replayed[0]).toEqual(JSON.parse(JSON.stringify(live)));
  });
});
