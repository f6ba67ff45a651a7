/**
 * The dashboard's browser session in cluster mode (issue 15), two agents on the suite's real Redis: a person logged
 * in on the replica that does not own a service sees that service's analysis and acts on it, because the replica
 * asks the owner on the caller's behalf with the token the session was opened with (kept in the replica's memory,
 * never in the cookie). The session itself is this replica's: the other one does not know the cookie.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { exportWith, shopSpans } from '../../helpers/otel-spans.js';
import { startTestAgent, type StartedAgent } from '../../helpers/test-agent.js';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ExportResultCode } from '@opentelemetry/core';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const TOKEN = 'cluster-t0ken';

async function pair(): Promise<[StartedAgent, StartedAgent]> {
  const prefix = `vigil-dash-${process.pid}-${Date.now()}`;
  cleanups.push(async () => {
    const redis = new Redis(inject('redisUrl'));
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  const config = `server: { auth: { tokens: [ { name: alice, token: "${TOKEN}", scopes: [read, operate] } ] } }
queue: { redis: "${inject('redisUrl')}", prefix: "${prefix}" }
cluster: { enabled: true, leaseTtl: 3s, handoverQuiet: 1m }
`;
  const started: StartedAgent[] = [];
  for (const name of ['one', 'two']) {
    const s = await startTestAgent(config, `dash-cluster-${name}`);
    cleanups.push(() => s.agent.stop());
    started.push(s);
  }
  return [started[0]!, started[1]!];
}

describe('dashboard sessions in cluster mode', () => {
  it('a session on the replica that does not own the service lists its analysis and pauses it through the owner', async () => {
    const [one, two] = await pair();
    const exporter = new ProtoExporter({ url: `${one.otlpHttpUrl}/v1/traces`, timeoutMillis: 3000 });
    cleanups.push(() => exporter.shutdown());
    expect((await exportWith(exporter, shopSpans(20, { failEvery: 10, scope: 'dash' }))).code).toBe(
      ExportResultCode.SUCCESS,
    );
    await one.agent.settle();
    expect(one.agent.registry.get('shop:1.1')).toBeDefined();
    expect(two.agent.registry.get('shop:1.1')).toBeUndefined();

    const login = await fetch(`${two.apiUrl}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect(login.status).toBe(200);
    const { csrf } = (await login.json()) as { csrf: string };
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;

    const listed = (await (await fetch(`${two.apiUrl}/api/v1/analyses`, { headers: { cookie } })).json()) as {
      analyses: { id: string }[];
      replicas: { unreachable: string[] };
    };
    expect(listed.analyses.map((a) => a.id)).toEqual(['shop:1.1']);
    const looks = await fetch(`${two.apiUrl}/api/v1/analyses/shop:1.1/looks`, { headers: { cookie } });
    expect(looks.status).toBe(200);

    const paused = await fetch(`${two.apiUrl}/api/v1/analyses/shop:1.1/pause`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', 'x-vigil-csrf': csrf },
      body: JSON.stringify({ by: 'alice', reason: 'from the dashboard of the other replica' }),
    });
    expect(paused.status).toBe(200);
    expect(one.agent.registry.get('shop:1.1')?.paused).toMatchObject({
      by: 'alice',
      reason: 'from the dashboard of the other replica',
      token: 'alice',
    });
    // the session is the replica's own
    expect((await fetch(`${one.apiUrl}/api/v1/analyses`, { headers: { cookie } })).status).toBe(401);
  });
});
