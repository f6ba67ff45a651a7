/**
 * The judge endpoints of a real agent over HTTP: GET /api/v1/judge (Argo Rollouts' `web` provider) and the Flagger
 * webhooks, fed with a canary that regresses (running → fail) and one that stays healthy (running).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { RequestSample } from '../../src/contracts/index.js';
import type { JudgeAnswer } from '../../src/http/judge.js';
import { startTestAgent, type StartedAgent } from '../helpers/test-agent.js';

const TOKEN = 't0ken-xyz';
const T0 = 1_767_225_600_000;

const started: StartedAgent[] = [];
afterEach(async () => {
  for (const s of started.splice(0)) await s.agent.stop();
});

async function start(): Promise<StartedAgent> {
  const s = await startTestAgent(
    `analysis: { interval: 10s, allowedLateness: 0s, minSamples: 20 }\nserver: { auth: { tokens: ["${TOKEN}"] } }\n`,
    'judge',
  );
  started.push(s);
  return s;
}

/** One look (10 s) of `service`: baseline version 1 at 1% errors, canary version 2 at `canaryErrorEvery`. */
function look(service: string, n: number, canaryErrorEvery: number): RequestSample[] {
  const out: RequestSample[] = [];
  for (let i = 0; i < 200; i++) {
    const t = T0 + n * 10_000 + i * 50;
    const durationMs = 30 + (i % 7);
    out.push({ service, version: '1', cohort: 'baseline', endUnixMs: t, durationMs, error: i % 100 === 0 });
    out.push({
      service,
      version: '2',
      cohort: 'canary',
      endUnixMs: t + 1,
      durationMs,
      error: i % canaryErrorEvery === 0,
    });
  }
  return out;
}

async function get(s: StartedAgent, query: string, token: string | null = TOKEN): Promise<Response> {
  return fetch(`${s.apiUrl}/api/v1/judge${query}`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
}

async function verdictOf(s: StartedAgent, service: string, version?: string): Promise<JudgeAnswer> {
  const q = `?service=${encodeURIComponent(service)}${version === undefined ? '' : `&canaryVersion=${version}`}`;
  const res = await get(s, q);
  expect(res.status).toBe(200);
  return (await res.json()) as JudgeAnswer;
}

/** A Flagger hook's answer: the judge's answer, with `error` and `message` on a refusal. */
type FlaggerAnswer = Partial<JudgeAnswer> & { error?: string; message?: string };

async function flagger(
  s: StartedAgent,
  hook: string,
  payload: unknown,
): Promise<{ status: number; body: FlaggerAnswer }> {
  const res = await fetch(`${s.apiUrl}/api/v1/flagger/${hook}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  return { status: res.status, body: (await res.json()) as FlaggerAnswer };
}

/**
 * Argo Rollouts' `web` metric provider, for exactly the expressions docs/argo-rollouts.md uses: the JSON body, the
 * `jsonPath` `{$.verdict}` (a string result: Argo hands a string to the expressions as is), and the conditions
 * `result == "<literal>"` (a string compared with ==). Both conditions set: failure wins, then success, else the
 * measurement is Inconclusive (Argo's analysis evaluation).
 */
function argoMeasure(
  body: unknown,
  metric: { jsonPath: string; successCondition: string; failureCondition: string },
): 'Successful' | 'Failed' | 'Inconclusive' {
  const path = /^\{\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\}$/.exec(metric.jsonPath);
  if (!path?.[1]) throw new Error(`jsonPath not supported by this evaluator: ${metric.jsonPath}`);
  let result: unknown = body;
  for (const key of path[1].slice(1).split('.')) result = (result as Record<string, unknown>)[key];
  const holds = (condition: string): boolean => {
    const m = /^result == "([^"]*)"$/.exec(condition);
    if (!m) throw new Error(`condition not supported by this evaluator: ${condition}`);
    return result === m[1];
  };
  if (holds(metric.failureCondition)) return 'Failed';
  if (holds(metric.successCondition)) return 'Successful';
  return 'Inconclusive';
}

/** The metric of docs/argo-rollouts.md's AnalysisTemplate, as documented. */
function documentedArgoMetric(): {
  jsonPath: string;
  successCondition: string;
  failureCondition: string;
  failureLimit: number;
} {
  const doc = readFileSync(fileURLToPath(new URL('../../docs/argo-rollouts.md', import.meta.url)), 'utf8');
  for (const m of doc.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    const o = parse(m[1] ?? '') as { kind?: string; spec?: { metrics?: Record<string, unknown>[] } };
    if (o.kind !== 'AnalysisTemplate') continue;
    const metric = o.spec?.metrics?.[0] ?? {};
    const web = (metric.provider as { web: { jsonPath: string } }).web;
    return {
      jsonPath: web.jsonPath,
      successCondition: metric.successCondition as string,
      failureCondition: metric.failureCondition as string,
      failureLimit: metric.failureLimit as number,
    };
  }
  throw new Error('docs/argo-rollouts.md has no AnalysisTemplate');
}

const ARGO_METRIC = documentedArgoMetric();

describe('judge endpoints', () => {
  it('the documented AnalysisTemplate is the one evaluated here', () => {
    expect(ARGO_METRIC).toEqual({
      jsonPath: '{$.verdict}',
      successCondition: 'result == "pass"',
      failureCondition: 'result == "fail"',
      failureLimit: 0,
    });
  });

  it('a regressing canary goes running → fail; Argo reads Inconclusive then Failed', async () => {
    const s = await start();
    expect((await verdictOf(s, 'cart', '2')).verdict).toBe('unknown');
    s.agent.ingest(look('cart', 0, 100));
    s.agent.ingest(look('cart', 1, 100));
    await s.agent.settle();
    const running = await verdictOf(s, 'cart', '2');
    expect(running).toMatchObject({ verdict: 'running', analysis: 'cart:2', decision: null });
    expect(argoMeasure(running, ARGO_METRIC)).toBe('Inconclusive');

    for (let n = 2; n < 12; n++) s.agent.ingest(look('cart', n, 5)); // 20% errors
    await s.agent.settle();
    const failed = await verdictOf(s, 'cart', '2');
    expect(failed).toMatchObject({ verdict: 'fail', analysis: 'cart:2' });
    expect(failed.decision).toMatch(/^d-/);
    expect(failed.reason).toContain('canary is worse');
    expect(failed.pValue).toBeLessThan(0.05);
    expect(failed.metrics.some((m) => m.phase === 'fail')).toBe(true);
    expect(argoMeasure(failed, ARGO_METRIC)).toBe('Failed');
    // the decision the judge names is the one the API lists
    const decisions = await fetch(`${s.apiUrl}/api/v1/decisions`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(((await decisions.json()) as { decisions: { id: string }[] }).decisions.map((d) => d.id)).toContain(
      failed.decision,
    );
    // without a version: the newest analysis of the service
    expect((await verdictOf(s, 'cart')).verdict).toBe('fail');

    // Flagger: the gate closes, the rollback hook says roll back now, promotion stays refused
    const payload = { name: 'cart', namespace: 'shop', phase: 'Progressing', metadata: { canaryVersion: '2' } };
    const gate = await flagger(s, 'gate', payload);
    expect(gate.status).toBe(403);
    expect(gate.body).toMatchObject({ verdict: 'fail' });
    expect(gate.body.message).toContain('canary is worse');
    expect((await flagger(s, 'rollback', payload)).status).toBe(200);
    expect((await flagger(s, 'confirm-promotion', payload)).status).toBe(403);
  });

  it('a healthy canary stays running: the gate is open, no rollback, no promotion yet', async () => {
    const s = await start();
    for (let n = 0; n < 4; n++) s.agent.ingest(look('search', n, 100));
    await s.agent.settle();
    const a = await verdictOf(s, 'search', '2');
    expect(a).toMatchObject({ verdict: 'running', service: 'search', canaryVersion: '2' });
    expect(argoMeasure(a, ARGO_METRIC)).toBe('Inconclusive');
    // metadata.service names the service when the Canary's name differs
    const payload = { name: 'search-canary', namespace: 'shop', phase: 'Progressing', metadata: { service: 'search' } };
    expect((await flagger(s, 'gate', payload)).status).toBe(200);
    const rollback = await flagger(s, 'rollback', payload);
    expect(rollback.status).toBe(403);
    expect(rollback.body).toMatchObject({ verdict: 'running' });
    const promote = await flagger(s, 'confirm-promotion', payload);
    expect(promote.status).toBe(403);
    expect(promote.body.message).toContain('verdict running');
  });

  it('unknown for a version never seen; the gate stays open for it; Argo reads Inconclusive', async () => {
    const s = await start();
    s.agent.ingest(look('cart', 0, 100));
    await s.agent.settle();
    const a = await verdictOf(s, 'cart', '9');
    expect(a).toMatchObject({ verdict: 'unknown', analysis: null, decision: null, pValue: null, metrics: [] });
    expect(argoMeasure(a, ARGO_METRIC)).toBe('Inconclusive');
    expect((await verdictOf(s, 'nowhere')).verdict).toBe('unknown');
    const payload = { name: 'cart', namespace: 'shop', phase: 'Progressing', metadata: { canaryVersion: '9' } };
    expect((await flagger(s, 'gate', payload)).status).toBe(200);
    expect((await flagger(s, 'rollback', payload)).status).toBe(403);
    expect((await flagger(s, 'confirm-promotion', payload)).status).toBe(403);
  });

  it('400 without a service or with a payload that is not Flagger’s; 401 without the token', async () => {
    const s = await start();
    const missing = await get(s, '?canaryVersion=2');
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { message: string }).message).toContain('service');
    expect((await get(s, '?service=cart', null)).status).toBe(401);
    expect((await flagger(s, 'gate', { namespace: 'shop' })).status).toBe(400);
    expect((await flagger(s, 'gate', { name: 'cart', metadata: { service: 42 } })).status).toBe(400);
    expect((await flagger(s, 'gate', [1])).status).toBe(400);
    const anonymous = await fetch(`${s.apiUrl}/api/v1/flagger/gate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'cart' }),
    });
    expect(anonymous.status).toBe(401);
  });

  it("a read-scoped token works on the judge and on Flagger's hooks, also as ?token= (taken out of the URL), and nowhere else", async () => {
    const s = await startTestAgent(
      `analysis: { interval: 10s, allowedLateness: 0s, minSamples: 20 }
server: { auth: { tokens: [ { name: flagger, token: "r3ad-only", scopes: [read] } ] } }
`,
      'judge-scopes',
    );
    started.push(s);
    expect((await get(s, '?service=cart', 'r3ad-only')).status).toBe(200);
    expect((await fetch(`${s.apiUrl}/api/v1/judge?service=cart&token=r3ad-only`)).status).toBe(200);
    expect((await fetch(`${s.apiUrl}/api/v1/judge?token=wrong&service=cart`)).status).toBe(401);
    const gate = await fetch(`${s.apiUrl}/api/v1/flagger/gate?token=r3ad-only`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'cart', namespace: 'shop', phase: 'Progressing', metadata: {} }),
    });
    expect(gate.status).toBe(200); // a POST that only reads: the read scope is enough
    // the query token is accepted by these routes only
    expect((await fetch(`${s.apiUrl}/api/v1/analyses?token=r3ad-only`)).status).toBe(401);
    // and the service query parameter still arrives once the token is taken out
    const judged = (await (await fetch(`${s.apiUrl}/api/v1/judge?token=r3ad-only&service=shop`)).json()) as JudgeAnswer;
    expect(judged).toMatchObject({ service: 'shop', verdict: 'unknown' });
  });
});
