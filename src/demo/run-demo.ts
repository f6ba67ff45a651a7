/**
 * `vigil demo` / `npm run demo`: Vigil on its embedded default (no Redis), real OTel SDK traffic for a
 * healthy baseline and a canary with 5x its error rate, the rollback plan run through a signed webhook to
 * a local traffic router, and a Slack-format message to a local chat endpoint. Prints progress per look and
 * the decision explained; resolves true when the rollback and the notification happened.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explainDecision } from '../../connectors/shared/explain.js';
import { parseConfig, type Registries } from '../config/load.js';
import type { LookEvent } from '../analysis/analysis-registry.js';
import type { Decision } from '../contracts/index.js';
import { createLogger } from '../logger.js';
import { createAgent } from '../main.js';
import { startDemoPeers, type DemoPeers } from './demo-peers.js';
import { createTrafficGenerator } from './traffic-generator.js';

export interface DemoOptions {
  registries: Registries;
  print: (line: string) => void;
  /** Requests per cohort per look (default 300). */
  requestsPerLook?: number;
  maxLooks?: number;
  seed?: number;
}

const INTERVAL_MS = 10_000;
const fmtP = (p: number) => (p < 0.0001 ? '<0.0001' : p.toPrecision(2));

export async function runDemo(opts: DemoOptions): Promise<boolean> {
  const print = opts.print;
  const secret = 'demo-signing-secret';
  const peers = await startDemoPeers(secret);
  const auditPath = join(mkdtempSync(join(tmpdir(), 'vigil-demo-')), 'audit.jsonl');
  const yaml = demoConfigYaml(peers.url, secret, auditPath);
  const loaded = parseConfig(yaml, '<demo>', opts.registries, {});
  const logger = createLogger({ level: process.env.VIGIL_LOG_LEVEL ?? 'error' });
  const agent = createAgent({ loaded, registries: opts.registries, logger, ports: { otlpHttp: 0, api: 0 } });
  const { otlpHttpUrl, apiUrl } = await agent.start();
  printIntro(print, otlpHttpUrl, apiUrl);

  let decision: Decision | undefined;
  agent.onDecision((d) => (decision = d));
  agent.onLook(({ analysis: a }) => {
    print(lookLine(a));
  });

  const traffic = createTrafficGenerator({
    url: `${otlpHttpUrl}/v1/traces`,
    service: 'checkout',
    baseline: { version: '1.0.0', cohort: 'baseline', errorRate: 0.01, latencyMedianMs: 40, encoding: 'protobuf' },
    canary: { version: '1.1.0', cohort: 'canary', errorRate: 0.05, latencyMedianMs: 40, encoding: 'json' },
    seed: opts.seed ?? 7,
  });
  const n = opts.requestsPerLook ?? 300;
  const maxLooks = opts.maxLooks ?? 60;
  // event times end now: a sender cannot date spans in the future (analysis.maxClockSkew), so the demo's looks
  // are the last `maxLooks` intervals, sent as fast as the agent takes them
  const t0 = Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS - maxLooks * INTERVAL_MS;
  const wall0 = Date.now();
  try {
    for (let look = 0; look < maxLooks && !decision; look++) {
      await traffic.emit(t0 + look * INTERVAL_MS, INTERVAL_MS, { baseline: n, canary: n });
    }
    const wallToDecision = (Date.now() - wall0) / 1000;
    await agent.settle();
    if (!decision) {
      print('\nNo decision within the demo horizon: this should not happen with a 5x regression.');
      return false;
    }
    return reportDecision(print, decision, peers, auditPath, wallToDecision);
  } finally {
    await traffic.shutdown();
    await agent.stop();
    await peers.close();
  }
}

/**
 * The demo's configuration: the local peers' webhook router and Slack-format chat, the audit log at `auditPath`.
 * Everything listens on 127.0.0.1 only, and the control API is open on purpose (`server.auth.open: true`, said
 * by printIntro) so the dashboard opens in a browser without a token.
 */
function demoConfigYaml(peersUrl: string, secret: string, auditPath: string): string {
  return `
server:
  otlpHttp: { host: 127.0.0.1 }
  otlpGrpc: { host: 127.0.0.1 }
  api: { host: 127.0.0.1 }
  auth: { open: true }
analysis:
  interval: 10s
  allowedLateness: 2s
  minSamples: 25
  maxDuration: 30m
connectors:
  - { name: demo-router, type: webhook, options: { url: "${peersUrl}/router/rollback", secret: "${secret}" } }
notifiers:
  - { name: demo-chat, type: slack, options: { webhookUrl: "${peersUrl}/chat" } }
plan: [demo-router]
audit: { path: "${auditPath}" }
`;
}

/** What is listening and what traffic is coming. */
function printIntro(print: (line: string) => void, otlpHttpUrl: string, apiUrl: string): void {
  print(`Vigil is listening: OTLP/HTTP ${otlpHttpUrl}, API ${apiUrl} (embedded queue, no Redis).`);
  print(
    `The control API and dashboard are OPEN, no token needed (server.auth.open: true, on 127.0.0.1 only): anyone on this machine can resume versions. A real config sets server.auth.tokens.`,
  );
  print(
    'Traffic: service "checkout", baseline 1.0.0 at 1% errors (OTLP protobuf), canary 1.1.0 at 5% errors (OTLP JSON), real OpenTelemetry SDK.',
  );
  print(`Each look compares what both cohorts did in one ${INTERVAL_MS / 1000}s interval of event time.\n`);
}

/** One progress line per look: both cohorts' requests and errors, each verdict's p-value and phase. */
function lookLine(a: LookEvent['analysis']): string {
  const v = a.verdicts.map((x) => `${x.metric} p=${fmtP(x.pValue)} ${x.phase}`).join(' │ ');
  return (
    `look ${String(a.look).padStart(2)} │ baseline ${a.totals.baseline.requests} req, ${a.totals.baseline.errors} err │ ` +
    `canary ${a.totals.canary.requests} req, ${a.totals.canary.errors} err │ ${v}`
  );
}

/** Prints the decision explained and what the peers received; true when the rollback and notification happened. */
function reportDecision(
  print: (line: string) => void,
  d: Decision,
  peers: DemoPeers,
  auditPath: string,
  wallToDecision: number,
): boolean {
  const ex = explainDecision(d);
  print(`\n${ex.title}`);
  for (const l of ex.lines) print(`  ${l}`);
  print('');
  const routed = peers.router.weights;
  print(
    `Rollback plan ran: the demo router now sends baseline ${routed.baseline}% / canary ${routed.canary}% (signed event ${peers.router.events.join(', ') || 'none'}).`,
  );
  const msg = peers.chat.messages.find((m) => (m.text ?? '').length > 0);
  print(
    `Chat notification posted (Slack Block Kit): ${msg ? JSON.stringify((msg.text ?? '').split('\n')[0]) : 'none'}`,
  );
  print(`Audit log: ${auditPath}`);
  print(
    `From the first span to the rollback decision: ${wallToDecision.toFixed(1)} s wall time, ${d.look} looks (${(d.look * INTERVAL_MS) / 1000} s of event time).`,
  );
  return d.outcome === 'rollback' && routed.canary === 0 && msg !== undefined && peers.router.rejected.length === 0;
}
