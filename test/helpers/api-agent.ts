/**
 * An agent for API tests, fed with `ingest` (no network for telemetry): a 10 s look interval, no lateness, 20 samples
 * of burn-in, a bearer token `t0ken` unless `auth` says otherwise; stopped after each test (`stopApiAgents`). And the
 * samples and readers these tests share.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import type { RequestSample } from '../../src/contracts/index.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import { createAgent, type Agent } from '../../src/main.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';

const agents: Agent[] = [];

/** Stops every agent `agent` started (call it in afterEach). */
export async function stopApiAgents(): Promise<void> {
  for (const a of agents.splice(0)) await a.stop();
}

export function agent(extra = '', opts: { auth?: string; logger?: Logger } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-api-'));
  const loaded = parseConfig(
    `audit: { path: "${join(dir, 'audit.jsonl')}" }\nanalysis: { interval: 10s, allowedLateness: 0s, minSamples: 20 }\nserver: { auth: ${opts.auth ?? '{ tokens: ["t0ken"] }'} }\n${extra}`,
    'api.yaml',
    BUILTIN_REGISTRIES,
    {},
  );
  const a = createAgent({
    loaded,
    registries: BUILTIN_REGISTRIES,
    logger: opts.logger ?? silentLogger(),
    ports: { otlpHttp: 0, api: 0, otlpGrpc: 0 },
  });
  agents.push(a);
  return { a, auditPath: join(dir, 'audit.jsonl') };
}

/** POST /api/v1/analyses/:id/resume with `payload` and `headers`. */
export function resume(a: Agent, id: string, headers: Record<string, string>, payload: object) {
  return a.apiApp.inject({ method: 'POST', url: `/api/v1/analyses/${id}/resume`, headers, payload });
}

/** The audit log's entries. */
export function auditEntries(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Requests of service cart, baseline 1 vs canary 2, at look `look`: the canary at `canaryErrorEvery` (20% errors by
 *  default) vs 1%: a rollback within a few looks; `canaryErrorEvery: 100` makes it healthy. */
export function regressed(look: number, canaryErrorEvery = 5): RequestSample[] {
  const out: RequestSample[] = [];
  for (let i = 0; i < 200; i++) {
    const t = 1_767_225_600_000 + look * 10_000 + i * 50;
    out.push({
      service: 'cart',
      version: '1',
      cohort: 'baseline',
      endUnixMs: t,
      durationMs: 30 + (i % 7),
      error: i % 100 === 0,
    });
    out.push({
      service: 'cart',
      version: '2',
      cohort: 'canary',
      endUnixMs: t + 1,
      durationMs: 30 + (i % 7),
      error: i % canaryErrorEvery === 0,
    });
  }
  return out;
}
