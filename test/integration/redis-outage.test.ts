/**
 * A broken Redis is loud and bounded: `vigil serve` (a real process: the CLI from the sources through tsx) on a
 * redis-server of the test's own (test/helpers/redis-server.ts), broken on purpose.
 * - killed (connections refused): one error line within a few seconds, not a flood; vigil_redis_up 0; /readyz 503
 *   within a second; started again: one recovery line, /readyz 200, vigil_redis_up 1;
 * - frozen (SIGSTOP: TCP accepts, nothing answers): /readyz 503 and /metrics answer within a second, each time; thawed
 *   (SIGCONT): a recovery line, /readyz 200;
 * - frozen, then SIGTERM: the process exits within server.shutdownTimeout (+ margin) with one line saying what it left
 *   undone (the decision not enqueued, the last checkpoint not saved); the next start, Redis back, enqueues and runs
 *   that plan.
 * The times measured are behaviour bounds against generous limits, not benchmarks.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpPeer } from '../helpers/http-peer.js';
import { startRedis, stopAllRedis, type OwnRedis } from '../helpers/redis-server.js';
import { killAll, look, serveConfig, postTraces, serve, waitUntil, type Serving } from '../helpers/serve-process.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  killAll();
  stopAllRedis(); // a frozen one too; nothing of it outlives the test (no persistence, so no keys either)
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Timed {
  status: number;
  body: string;
  ms: number;
}

/** GET with the time to the whole answer; a hung answer fails after `limitMs` instead of hanging the test. */
async function timedGet(url: string, limitMs = 10_000): Promise<Timed> {
  const t0 = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(limitMs) });
  const body = await res.text();
  return { status: res.status, body, ms: performance.now() - t0 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The log lines from index `from` on whose msg matches. */
const linesSince = (s: Serving, from: number, msg?: RegExp) =>
  s.lines().filter((l, i) => i >= from && (msg === undefined || msg.test(String(l.msg))));

async function setup(redis: OwnRedis, shutdownTimeout?: string): Promise<{ peer: HttpPeer; dir: string; cfg: string }> {
  const peer = await HttpPeer.start(() => ({ status: 200, body: 'ok' }));
  cleanups.push(() => peer.close());
  const { dir, cfg } = serveConfig(
    'redis-outage',
    `analysis: { interval: 10s, allowedLateness: 0s, minSamples: 20 }
state: { checkpointInterval: 200ms }
queue: { redis: "${redis.url}", prefix: "vigil-outage-${process.pid}" }
connectors:
  - { name: router, type: webhook, options: { url: "${peer.url}/router" } }
plan: [router]
`,
    shutdownTimeout ? `  shutdownTimeout: ${shutdownTimeout}\n` : '',
  );
  return { peer, dir, cfg };
}

async function untilStatus(url: string, status: number, withinMs: number): Promise<Timed[]> {
  const seen: Timed[] = [];
  const deadline = Date.now() + withinMs;
  for (;;) {
    const r = await timedGet(url);
    seen.push(r);
    if (r.status === status) return seen;
    if (Date.now() > deadline)
      throw new Error(`no ${status} from ${url} within ${withinMs} ms: ${JSON.stringify(seen)}`);
    await sleep(100);
  }
}

const metric = (body: string, name: string): number | undefined => {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
  return m ? Number(m[1]) : undefined;
};

describe('vigil serve with a broken Redis', () => {
  it('Redis killed: one error line, not a flood; up 0; /readyz 503 fast. Started again: a recovery line, ready', async () => {
    const redis = await startRedis();
    const { cfg } = await setup(redis);
    const s = await serve(cfg);
    await untilStatus(`${s.api}/readyz`, 200, 10_000);

    const from = s.lines().length;
    const killedAt = Date.now();
    await redis.kill();
    await waitUntil(
      () => linesSince(s, from, /^Redis unreachable/).length > 0,
      5_000,
      () => s.output(),
    );
    const firstErrorMs = Date.now() - killedAt;
    const [first] = linesSince(s, from, /^Redis unreachable/);
    expect(first).toMatchObject({ level: 50, target: redis.url });
    // readiness says why, at once
    const ready = await untilStatus(`${s.api}/readyz`, 503, 3_000);
    for (const r of ready) expect(r.ms).toBeLessThan(1_000);
    expect(JSON.parse(ready.at(-1)!.body).reasons.join('\n')).toMatch(/^Redis redis:\/\/127\.0\.0\.1:\d+: /m);
    // ~5 s of the outage: the error line and nothing else above info (the summary comes after 10 s)
    await sleep(Math.max(0, killedAt + 5_000 - Date.now()));
    const loud = linesSince(s, from).filter((l) => (l.level as number) >= 40);
    expect(loud.map((l) => l.msg)).toEqual([first!.msg]);
    expect(linesSince(s, from).length).toBeLessThanOrEqual(3);
    const metrics = await timedGet(`${s.api}/metrics`);
    expect(metrics.ms).toBeLessThan(1_000);
    expect(metric(metrics.body, 'vigil_redis_up')).toBe(0);
    expect(metric(metrics.body, 'vigil_redis_errors_total{client="ping"}')).toBeGreaterThan(0);

    const back = s.lines().length;
    await redis.restart();
    await waitUntil(
      () => linesSince(s, back, /^Redis reachable again$/).length > 0,
      5_000,
      () => s.output(),
    );
    expect(linesSince(s, back, /^Redis reachable again$/)).toEqual([
      expect.objectContaining({ level: 30, target: redis.url, downSeconds: expect.any(Number) }),
    ]);
    const readyAgain = await untilStatus(`${s.api}/readyz`, 200, 3_000);
    for (const r of readyAgain) expect(r.ms).toBeLessThan(1_000);
    expect(metric((await timedGet(`${s.api}/metrics`)).body, 'vigil_redis_up')).toBe(1);
    console.log(
      `redis killed: first error line after ${firstErrorMs} ms; /readyz ${ready.map((r) => Math.round(r.ms)).join(',')} ms`,
    );
  }, 60_000);

  it('Redis frozen (SIGSTOP): /readyz 503 and /metrics within a second, every time; thawed: ready again', async () => {
    const redis = await startRedis();
    const { cfg } = await setup(redis);
    const s = await serve(cfg);
    await untilStatus(`${s.api}/readyz`, 200, 10_000);
    const from = s.lines().length;
    const frozenAt = Date.now();
    redis.freeze();
    const ready = await untilStatus(`${s.api}/readyz`, 503, 3_000);
    const notReadyAfterMs = Date.now() - frozenAt;
    for (const r of ready) expect(r.ms).toBeLessThan(1_000);
    expect(JSON.parse(ready.at(-1)!.body).reasons.join('\n')).toMatch(/no answer to PING within 500 ms/);
    // a scraper and a probe keep asking while it stays frozen: every answer within a second
    const answers: Timed[] = [];
    for (let i = 0; i < 5; i++) {
      answers.push(await timedGet(`${s.api}/metrics`), await timedGet(`${s.api}/readyz`));
      await sleep(300);
    }
    for (const a of answers) expect(a.ms).toBeLessThan(1_000);
    expect(answers.filter((a) => a.body.startsWith('{')).map((a) => a.status)).toEqual([503, 503, 503, 503, 503]);
    expect(metric(answers[answers.length - 2]!.body, 'vigil_redis_up')).toBe(0);
    expect(linesSince(s, from, /^Redis unreachable: no answer to PING within 500 ms$/)).toEqual([
      expect.objectContaining({ level: 50, client: 'ping' }),
    ]);

    const back = s.lines().length;
    redis.thaw();
    await untilStatus(`${s.api}/readyz`, 200, 3_000);
    await waitUntil(
      () => linesSince(s, back, /^Redis reachable again$/).length === 1,
      3_000,
      () => s.output(),
    );
    const ms = (xs: Timed[]) => xs.map((a) => Math.round(a.ms)).join(',');
    console.log(
      `redis frozen: /readyz 503 after ${notReadyAfterMs} ms; answers ${ms(ready)} ms, then ${ms(answers)} ms`,
    );
  }, 60_000);

  it('Redis frozen, SIGTERM: exits within shutdownTimeout saying what it left undone; the next start finishes it', async () => {
    const redis = await startRedis();
    const { peer, dir, cfg } = await setup(redis, '3s');
    const s = await serve(cfg);
    await untilStatus(`${s.api}/readyz`, 200, 10_000);
    redis.freeze();
    // a regression decided while Redis is frozen: recorded in the audit log, its jobs cannot be enqueued. One look
    // never decides (one bounded bet per look: docs/detectors.md, "Real traffic"): this 5x canary is rolled back at
    // its look 7, when the spans of look(7) (its 8th) close its 7th (measured); 10 looks leave 2 of margin
    for (let n = 0; n < 10; n++) expect(await postTraces(s.otlpHttp, look(n, { canaryErrorEvery: 5 }))).toBe(200);
    const audit = join(dir, 'audit.jsonl');
    await waitUntil(
      () => existsSync(audit) && readFileSync(audit, 'utf8').includes('"type":"decision"'), // created at the first record
      10_000,
      () => s.output(),
    );
    await sleep(500); // a checkpoint is under way (every 200 ms): it waits for the frozen Redis

    const from = s.lines().length;
    const t0 = Date.now();
    s.child.kill('SIGTERM');
    const code = await Promise.race([s.exited, sleep(20_000).then(() => 'still running')]);
    const exitMs = Date.now() - t0;
    expect(code).toBe(1);
    expect(exitMs).toBeLessThan(3_000 + 1_500); // the timeout, plus the exit of a node process
    const [line, ...more] = linesSince(s, from, /^shutdown did not finish within server\.shutdownTimeout \(3s\)/);
    expect(more).toEqual([]);
    expect(line).toMatchObject({ level: 50, shutdownTimeout: '3s' });
    const undone = (line as { undone: string[] }).undone;
    expect(undone).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^1 decision\(s\) recorded in the audit log whose plan and notifications were not enqueued/,
        ),
        expect.stringMatching(/^the last checkpoint was not saved \(the store did not answer in time\)/),
      ]),
    );
    expect(peer.requests.filter((r) => r.path === '/router')).toEqual([]);

    // Redis back: the next start enqueues the plan the shutdown left undone, and it runs
    redis.thaw();
    const second = await serve(cfg);
    await waitUntil(
      () => peer.requests.some((r) => r.path === '/router'),
      15_000,
      () => second.output(),
    );
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    console.log(
      `redis frozen: SIGTERM → exit ${code} after ${exitMs} ms (shutdownTimeout 3s); undone: ${undone.join(' | ')}`,
    );
  }, 90_000);
});
