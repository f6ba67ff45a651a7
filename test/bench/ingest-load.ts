/**
 * The load side of the end-to-end ingest benchmark: `vigil serve` in a child process (its own event loop,
 * measured from outside: RSS from /proc), and HTTP/1.1 keep-alive clients that POST OTLP requests either
 * back to back (closed loop: the maximum) or on a schedule (open loop at a given rate), recording the latency
 * and status of every request.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Body } from './ingest-traffic.js';

const root = join(import.meta.dirname, '../..');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface AgentProcess {
  otlpUrl: string;
  apiUrl: string;
  pid: number;
  /** Current and peak resident set size of the agent, bytes (from /proc). */
  rss(): { rss: number; peak: number };
  /** One sample of a Prometheus metric (first matching line), or NaN. */
  metric(line: string): Promise<number>;
  /** Several metrics from ONE scrape (some gauges, e.g. event-loop delay, reset on every scrape). */
  metrics(lines: readonly string[]): Promise<number[]>;
  stop(): Promise<void>;
}

/** Starts `vigil serve` (src/cli.ts under tsx) with the given extra YAML; resolves when /readyz says ready. */
export async function startAgentProcess(
  dir: string,
  extraYaml: string,
  nodeArgs: readonly string[] = [],
): Promise<AgentProcess> {
  const [otlp, grpc, api] = [await freePort(), await freePort(), await freePort()];
  const cfg = join(dir, 'vigil.yaml');
  writeFileSync(
    cfg,
    [
      'server:',
      `  otlpHttp: { host: 127.0.0.1, port: ${otlp} }`,
      `  otlpGrpc: { host: 127.0.0.1, port: ${grpc} }`,
      `  api: { host: 127.0.0.1, port: ${api} }`,
      '  auth: { open: true }',
      `audit: { path: "${join(dir, 'audit.jsonl')}" }`,
      'logging: { level: warn }',
      extraYaml,
    ].join('\n'),
  );
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, '--import', 'tsx', join(root, 'test/bench/ingest-agent.ts'), cfg],
    {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const apiUrl = `http://127.0.0.1:${api}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`vigil serve exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${apiUrl}/readyz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('vigil serve did not become ready');
    await new Promise((r) => setTimeout(r, 200));
  }
  const pid = child.pid!;
  return {
    otlpUrl: `http://127.0.0.1:${otlp}/v1/traces`,
    apiUrl,
    pid,
    rss: () => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN) * 1024;
      return { rss: kb('VmRSS'), peak: kb('VmHWM') };
    },
    metric: async (line: string) => (await scrape(apiUrl, [line]))[0]!,
    metrics: (lines: readonly string[]) => scrape(apiUrl, lines),
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function scrape(apiUrl: string, lines: readonly string[]): Promise<number[]> {
  const text = (await (await fetch(`${apiUrl}/metrics`)).text()).split('\n');
  return lines.map((line) => {
    const found = text.find((l) => l.startsWith(`${line} `));
    return found === undefined ? Number.NaN : Number(found.slice(line.length + 1));
  });
}

export interface LoadResult {
  seconds: number;
  requests: number;
  okRequests: number;
  errors: Record<string, number>;
  spansAccepted: number;
  spansPerSec: number;
  requestsPerSec: number;
  bytesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Per window of `windowSec` (when asked): latency of the requests that completed in it. */
  windows?: { endSec: number; requests: number; p50Ms: number; p99Ms: number; maxMs: number }[];
}

export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** One POST over a keep-alive agent; resolves with the status and the latency in ms. */
function post(agent: HttpAgent, url: URL, b: Body): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { ...b.headers, 'content-length': String(b.body.length) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
      },
    );
    req.on('error', () => resolve({ status: -1, ms: performance.now() - t0 }));
    req.end(b.body);
  });
}

export interface LoadOptions {
  url: string;
  clients: number;
  seconds: number;
  next: () => Body;
  /** Requests per second over all clients (open loop); absent: back to back (closed loop). */
  rate?: number;
  /** Called about once a second (traffic refresh, RSS samples). */
  tick?: (elapsedSec: number) => void;
  /** Also report latency per window of this many seconds. */
  windowSec?: number;
}

/** Runs `clients` concurrent keep-alive clients for `seconds`; latency is measured from send to response end. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: o.clients });
  const url = new URL(o.url);
  const latencies: number[] = [];
  const doneAt: number[] = [];
  const errors: Record<string, number> = {};
  let ok = 0;
  let spans = 0;
  let bytes = 0;
  const t0 = performance.now();
  const end = t0 + o.seconds * 1000;
  const ticker = setInterval(() => o.tick?.((performance.now() - t0) / 1000), 1000);
  const interval = o.rate === undefined ? 0 : (1000 * o.clients) / o.rate;
  const client = async (i: number): Promise<void> => {
    let due = t0 + (interval * i) / o.clients;
    for (;;) {
      if (o.rate !== undefined) {
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        due += interval;
      }
      if (performance.now() >= end) return;
      const b = o.next();
      const r = await post(agent, url, b);
      latencies.push(r.ms);
      doneAt.push(performance.now() - t0);
      bytes += b.body.length;
      if (r.status === 200) {
        ok++;
        spans += b.spans;
      } else errors[String(r.status)] = (errors[String(r.status)] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: o.clients }, (_, i) => client(i)));
  clearInterval(ticker);
  agent.destroy();
  const seconds = (performance.now() - t0) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  const windows: NonNullable<LoadResult['windows']> = [];
  if (o.windowSec !== undefined) {
    const w = o.windowSec * 1000;
    for (let start = 0; start < seconds * 1000; start += w) {
      const inWindow = Float64Array.from(
        latencies.filter((_, i) => doneAt[i]! >= start && doneAt[i]! < start + w),
      ).sort();
      windows.push({
        endSec: Math.round((start + w) / 1000),
        requests: inWindow.length,
        p50Ms: quantile(inWindow, 0.5),
        p99Ms: quantile(inWindow, 0.99),
        maxMs: inWindow[inWindow.length - 1] ?? Number.NaN,
      });
    }
  }
  return {
    ...(o.windowSec !== undefined ? { windows } : {}),
    seconds,
    requests: latencies.length,
    okRequests: ok,
    errors,
    spansAccepted: spans,
    spansPerSec: spans / seconds,
    requestsPerSec: latencies.length / seconds,
    bytesPerSec: bytes / seconds,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
  };
}
