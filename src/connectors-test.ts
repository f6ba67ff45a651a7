/**
 * `vigil connectors test <name>`: builds one connector or notifier of a config the way the agent does,
 * runs its health check, then a dry run on a synthetic decision marked as a TEST (`test: true`, dry-run,
 * service `vigil-connectors-test`). Plan connectors `apply` with `dryRun: true` (a dry run that changes
 * something or sends a write request fails the test); notifiers render the request they WOULD post
 * without posting it. With `send`, notifiers post the test notification and webhook connectors (they only
 * deliver a message) apply it for real, so the receiver gets a real, signed event marked test;
 * other plan connectors refuse `send` (they would really roll something back). Credentials never reach the
 * output: previews show the URL's origin only, sent requests their URL with token-like path segments and
 * secret query values hidden, headers other than framing ones and every secret-looking option value are
 * redacted (connectors/shared/redact.ts: the same redaction as the audit log, chat and logs).
 */
import type { Logger } from 'pino';
import type { LoadedConfig, Registries } from './config/load.js';
import { buildConnector, type ConnectorSection } from './connectors-build.js';
import { describeCheckError } from './connectors-check.js';
import { targetOf } from './jobs/plan-runner.js';
import { reportLink } from './decide/report.js';
import { redact, redactUrl, secretValues } from '../connectors/shared/redact.js';
import type {
  AnyConnector,
  ConnectorDeps,
  Decision,
  Notification,
  Notifier,
  PlanConnector,
} from './contracts/index.js';

export interface ConnectorTestOptions {
  loaded: LoadedConfig;
  registries: Registries;
  name: string;
  /** Notifiers: post the test notification instead of printing it. */
  send: boolean;
  outcome: 'rollback' | 'promote';
  /** Bounds the health check and the dry run, each. */
  timeoutMs: number;
  logger: Logger;
  out: (line: string) => void;
  err: (line: string) => void;
  fetch?: typeof globalThis.fetch;
  now?: () => number;
}

export const TEST_SERVICE = 'vigil-connectors-test';

/** A decision that says everywhere it is a test: service, versions, reason, summary; always a dry run. */
export function connectorTestDecision(o: {
  nowMs: number;
  configHash: string;
  outcome: 'rollback' | 'promote';
  plan: readonly string[];
}): Decision {
  const rollback = o.outcome === 'rollback';
  return {
    id: `${TEST_SERVICE}-${o.nowMs}`,
    analysis: `${TEST_SERVICE}:v0.0.0-test-canary`,
    service: TEST_SERVICE,
    outcome: o.outcome,
    reason: `TEST from \`vigil connectors test\`: synthetic numbers, no canary was analysed, nothing is ${rollback ? 'rolled back' : 'promoted'}`,
    canaryVersion: 'v0.0.0-test-canary',
    baselineVersion: 'v0.0.0-test-baseline',
    look: 1,
    eventTimeUnixMs: o.nowMs,
    verdicts: [
      {
        detector: 'error-rate-sequential',
        metric: 'error-rate',
        phase: rollback ? 'fail' : 'pass',
        pValue: rollback ? 0.001 : 0.5,
        estimate: rollback ? 3 : 0.98,
        lower: rollback ? 1.8 : 0.81,
        upper: rollback ? 5.2 : 1.04,
        effect: 'error-rate ratio canary/baseline',
        samples: { baseline: 1000, canary: 100 },
        summary: 'TEST: synthetic numbers',
        alpha: 0.05,
        shadow: false,
      },
    ],
    configHash: o.configHash,
    plan: rollback ? [...o.plan] : [],
    dryRun: true,
    test: true,
  };
}

const SHOWN_HEADERS = /^(content-type|user-agent|ce-[a-z]+|x-vigil-timestamp)$/i;

interface Captured {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

function headersOf(init: RequestInit | undefined): Record<string, string> {
  const h = new Headers(init?.headers);
  return Object.fromEntries([...h.entries()]);
}

/** The request lines an operator may see: method and origin, framing headers, the pretty body, redacted. */
export function describeRequest(req: Captured, secrets: readonly string[]): string[] {
  const u = new URL(req.url);
  const hidden = u.pathname.length > 1 || u.search !== '';
  const lines = [
    `${req.method} ${u.protocol}//${u.host}${hidden ? '/… (path and query hidden: they may hold the credential)' : ''}`,
  ];
  for (const [k, v] of Object.entries(req.headers)) lines.push(`${k}: ${SHOWN_HEADERS.test(k) ? v : '[redacted]'}`);
  let body = req.body;
  try {
    body = JSON.stringify(JSON.parse(req.body), null, 2);
  } catch {
    // not JSON: shown as sent
  }
  lines.push('', ...redact(body, secrets).split('\n'));
  return lines;
}

function find(
  loaded: LoadedConfig,
  name: string,
): { section: ConnectorSection; entry: { name: string; type: string } } | undefined {
  const c = loaded.config.connectors.find((x) => x.name === name);
  if (c) return { section: 'connectors', entry: c };
  const n = loaded.config.notifiers.find((x) => x.name === name);
  return n ? { section: 'notifiers', entry: n } : undefined;
}

/** The requests of a connector under test: captured (notifier preview), watched for writes (dry run), or sent. */
interface Network {
  /** What `fetch` does with a request now; health checks pass through. */
  mode: 'pass' | 'capture' | 'watch' | 'send';
  fetch: typeof globalThis.fetch;
  captured: Captured[];
  writes: string[];
  statuses: number[];
  sent: { method: string; url: string; status?: number }[];
}

function network(realFetch: typeof globalThis.fetch): Network {
  const net: Network = {
    mode: 'pass',
    captured: [],
    writes: [],
    statuses: [],
    sent: [],
    fetch: async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
      if (net.mode === 'capture') {
        net.captured.push({
          method,
          url,
          headers: headersOf(init),
          body: typeof init?.body === 'string' ? init.body : '',
        });
        return new Response('ok', { status: 200, headers: { 'content-type': 'text/plain' } });
      }
      if (net.mode === 'watch' && !['GET', 'HEAD', 'OPTIONS'].includes(method))
        net.writes.push(`${method} ${new URL(url).origin}`);
      const request: { method: string; url: string; status?: number } = { method, url };
      if (net.mode === 'send') net.sent.push(request);
      const res = await realFetch(input, init);
      net.statuses.push(res.status);
      request.status = res.status;
      return res;
    },
  };
  return net;
}

/** One test under way: its options, the connector's network, the synthetic decision and the output. */
interface TestRun {
  o: ConnectorTestOptions;
  net: Network;
  decision: Decision;
  signal: AbortSignal;
  secrets: string[];
  show: (line: string) => void;
  fail: (what: string, e: unknown) => void;
}

/** The requests of a real send, where they went (secrets in the URL hidden) and what came back. */
function showSent(run: TestRun): void {
  for (const r of run.net.sent)
    run.o.out(`  ${r.method} ${redactUrl(r.url)} → ${r.status === undefined ? 'no answer' : `HTTP ${r.status}`}`);
}

async function checkHealth(
  conn: AnyConnector,
  o: ConnectorTestOptions,
  show: TestRun['show'],
  fail: TestRun['fail'],
): Promise<boolean> {
  if (!conn.healthCheck) {
    show(`  health check: none (${conn.type} has no health check)`);
    return true;
  }
  try {
    await conn.healthCheck({ logger: o.logger, signal: AbortSignal.timeout(o.timeoutMs) });
    show('  health check: ok');
    return true;
  } catch (e) {
    fail('health check', e);
    return false;
  }
}

/** --send of an action connector: it delivers a real TEST event (marked test and dry-run). */
async function sendAction(conn: PlanConnector, run: TestRun): Promise<boolean> {
  const { o, decision, show } = run;
  run.net.mode = 'send';
  try {
    await conn.apply({ logger: o.logger, signal: run.signal, dryRun: false, decision, target: targetOf(decision) });
    showSent(run);
    show(
      `  sent: a TEST event (${o.outcome} of ${decision.service}, marked test and dry-run) was delivered${run.net.statuses.length > 0 ? ` (HTTP ${run.net.statuses.join(', ')})` : ''}`,
    );
    return true;
  } catch (e) {
    showSent(run);
    run.fail('send', e);
    return false;
  }
}

/** The dry run of a plan connector: it must report no change and send no write request. */
async function dryRunAction(conn: PlanConnector, run: TestRun): Promise<boolean> {
  const { o, decision, show } = run;
  run.net.mode = 'watch';
  try {
    const r = await conn.apply({
      logger: o.logger,
      signal: run.signal,
      dryRun: true,
      decision,
      target: targetOf(decision),
    });
    show(`  dry run (${o.outcome} of ${decision.service}): ${r.detail} (changed: ${r.changed})`);
    let ok = true;
    if (r.changed) {
      show('  dry run: FAILED: it reports a change, a dry run must touch nothing');
      ok = false;
    }
    const writes = run.net.writes;
    if (writes.length > 0) {
      show(
        `  dry run: FAILED: it sent ${writes.length} write request(s) (${writes.join(', ')}), a dry run must touch nothing`,
      );
      ok = false;
    }
    return ok;
  } catch (e) {
    run.fail('dry run', e);
    return false;
  }
}

/** A notifier's test: the request it would post (preview), or, with --send, the test notification posted. */
async function notify(conn: Notifier, run: TestRun): Promise<boolean> {
  const { o, decision, show } = run;
  const publicUrl = o.loaded.config.server.api.publicUrl;
  const notification: Notification = {
    kind: 'decision',
    decision,
    ...(publicUrl ? { link: reportLink(publicUrl, decision.id) } : {}),
  };
  run.net.mode = o.send ? 'send' : 'capture';
  try {
    await conn.post(notification, { logger: o.logger, signal: run.signal, dryRun: true });
    if (o.send) {
      showSent(run);
      show(
        `  sent: a TEST notification (${o.outcome}, marked dry-run) was posted${run.net.statuses.length > 0 ? ` (HTTP ${run.net.statuses.join(', ')})` : ''}`,
      );
    } else if (run.net.captured.length === 0) {
      show(`  preview: ${conn.type} sends no request for this notification`);
    } else {
      for (const req of run.net.captured) {
        show(`  preview (NOT sent; --send posts it as a test): the ${o.outcome} notification would be`);
        for (const line of describeRequest(req, run.secrets)) show(line === '' ? '' : `    ${line}`);
      }
    }
    return true;
  } catch (e) {
    if (o.send) showSent(run);
    run.fail(o.send ? 'send' : 'preview', e);
    return false;
  }
}

/** Runs the test and prints what happened. Exit code: 0 passed, 1 a check failed, 2 unknown name / bad config. */
export async function runConnectorTest(o: ConnectorTestOptions): Promise<number> {
  const now = o.now ?? Date.now;
  const found = find(o.loaded, o.name);
  if (!found) {
    const list = (xs: readonly { name: string }[]) => xs.map((x) => x.name).join(', ') || '(none)';
    o.err(
      `vigil connectors test: ${o.loaded.file} has no connector or notifier named "${o.name}" (connectors: ${list(o.loaded.config.connectors)}; notifiers: ${list(o.loaded.config.notifiers)})`,
    );
    return 2;
  }
  const net = network(o.fetch ?? globalThis.fetch);
  const deps: ConnectorDeps = { fetch: net.fetch, now };

  let conn: AnyConnector;
  try {
    conn = buildConnector(o.loaded, o.registries, found.section, found.entry, deps);
  } catch (e) {
    const { error, code } = describeCheckError(e);
    o.err(`vigil connectors test: ${o.name} could not be built: ${error}${code ? ` [${code}]` : ''}`);
    return 2;
  }
  if (o.send && conn.kind !== 'notifier' && conn.kind !== 'webhook') {
    o.err(
      `vigil connectors test: --send is for notifiers and webhook connectors, which only deliver a message; ${o.name} is a ${conn.kind} connector (type ${conn.type}) and would really act: run it without --send for its dry run`,
    );
    await conn.close?.().catch(() => undefined);
    return 2;
  }
  const secrets = secretValues(o.loaded.connectorOptions.get(o.name));
  const show = (line: string) => o.out(redact(line, secrets));
  const fail = (what: string, e: unknown) => {
    const { error, code } = describeCheckError(e);
    show(`  ${what}: FAILED: ${error}${code ? ` [${code}]` : ''}`);
  };

  show(
    `${conn.kind === 'notifier' ? 'notifier' : `${conn.kind} connector`} ${conn.name} (type ${conn.type}) from ${o.loaded.file}`,
  );
  if (conn.kind !== 'notifier' && conn.setCanaryShare)
    show('  capability: setCanaryShare (promotion plans can set the canary share through it)');
  const healthy = await checkHealth(conn, o, show, fail);
  const decision = connectorTestDecision({
    nowMs: now(),
    configHash: o.loaded.hash,
    outcome: o.outcome,
    plan: conn.kind === 'notifier' ? o.loaded.config.plan : [conn.name],
  });
  const run: TestRun = { o, net, decision, signal: AbortSignal.timeout(o.timeoutMs), secrets, show, fail };
  const acted =
    conn.kind === 'notifier'
      ? await notify(conn, run)
      : o.send
        ? await sendAction(conn, run)
        : await dryRunAction(conn, run);
  const ok = healthy && acted;
  await conn.close?.().catch((e: unknown) => fail('close', e));
  show(ok ? 'result: ok' : 'result: FAILED');
  return ok ? 0 : 1;
}
