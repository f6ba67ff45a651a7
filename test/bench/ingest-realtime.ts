/**
 * Real time, part of `npm run bench:ingest` (`--realtime`, or `--realtime-only`): one service on the wall
 * clock, as a fleet exports it, against `vigil serve` in its own process (default late-data settings).
 *
 * - Two cohorts (baseline 1.0.0, canary 1.1.0) x `instances` instances each, every one with its own
 *   `service.instance.id` and its OWN export timer of `exportIntervalMs` (5 s: the OTel SDK
 *   BatchSpanProcessor default), started at a random phase. Each instance serves `ratePerInstance`
 *   requests/s (Poisson arrivals; a span's end time is when its request happened) and sends what it buffered
 *   as ONE OTLP/HTTP request per timer tick (protobuf, or JSON).
 * - The canary's exports are delivered `canaryDelayMs` (15 s) after their timer fired: a slower Collector
 *   tier in front of the canary's pods. The baseline's go out at once.
 * - At wall time T (`regressionAtSec` after the start) the canary's error rate goes from 1% to
 *   `regressedErrorRate`; the baseline stays at 1%.
 *
 * Measured: (a) the share of each cohort's requests the analysis compared: `totals` of its
 * `/api/v1/analyses` entry over the spans sent for the looks it closed (look index = floor(end / interval),
 * from `startedAtUnixMs` for `look` looks), per look (polled) and in all; (b) the time from T to the rollback
 * (first seen on `/api/v1/decisions`) and the decision's look and event time; (c) the agent's counters of
 * late, duplicate, clock-skew and pre-analysis samples (`/metrics`, the registry's `counters`).
 *
 * After the decision the instances keep exporting for one canary delay + one export interval (+ 2 s), so that
 * every span of a compared look has been delivered before the counters are read (an analysis that has
 * decided counts nothing more: a span of a compared look that arrives after the decision shows in no counter,
 * only in sent - compared - late).
 */
import { randomBytes } from 'node:crypto';
import { Agent as HttpAgent, request } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { seededRandom } from '../../src/demo/traffic-generator.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';
import { startAgentProcess } from './ingest-load.js';
import { drawRequest, encodeJson, encodeProtobuf, type GenResource, type GenService } from './ingest-payload.js';

export type Cohort = 'baseline' | 'canary';
const COHORTS: readonly Cohort[] = ['baseline', 'canary'];

export interface RealtimeOptions {
  instances: number;
  ratePerInstance: number;
  exportIntervalMs: number;
  canaryDelayMs: number;
  regressionAtSec: number;
  baselineErrorRate: number;
  regressedErrorRate: number;
  /** Longest wait for the rollback after T (then the run stops without one). */
  decisionTimeoutSec: number;
  encoding: 'protobuf' | 'json';
  agentNodeArgs: readonly string[];
  seed?: number;
}

type PerCohort = Record<Cohort, number>;

export interface RealtimeLook {
  /** 1-based look of the analysis, its look index (floor(end / interval)) and its event-time window. */
  look: number;
  index: number;
  startUnixMs: number;
  /** Seconds from the start of the run to the end of the look's window (event time). */
  endSec: number;
  /** Wall seconds from the start of the run to the poll that first saw the look closed. */
  seenClosedAtSec: number;
  sent: PerCohort;
  compared: PerCohort;
  /** Canary requests of the look that happened at or after T. */
  regressedCanary: number;
}

export interface RealtimeResult {
  service: string;
  settings: {
    intervalMs: number;
    allowedLatenessMs: number;
    sourceIdleTimeoutMs: number;
    instancesPerCohort: number;
    ratePerInstance: number;
    exportIntervalMs: number;
    canaryDelayMs: number;
    encoding: string;
    regressionAtSec: number;
    errorRates: { baseline: number; canaryBefore: number; canaryAfter: number };
  };
  runSeconds: number;
  startUnixMs: number;
  regressionAtUnixMs: number;
  exports: { requests: number; failed: Record<string, number> };
  /** Spans exported over the whole run, per cohort (canary exports still in the delay queue at the end are
   *  dropped: their spans are sent but not delivered), delivered (answered 200), and what the agent counted
   *  by cohort (vigil_request_samples_total). */
  sentTotal: PerCohort;
  delivered: PerCohort;
  agentSamples: PerCohort;
  analysis?: {
    id: string;
    phase: string;
    why: string;
    look: number;
    startedAtUnixMs: number;
    totals: PerCohort;
    late: PerCohort;
    /** Spans sent for the compared looks (startedAtUnixMs, `look` looks). */
    sent: PerCohort;
    /** totals / sent, percent. */
    sharePct: PerCohort;
    /** sent - totals - late: lost without a count (e.g. arrived after the decision, or before the start). */
    unaccounted: PerCohort;
  };
  looks: RealtimeLook[];
  decision?: {
    id: string;
    outcome: string;
    reason: string;
    look: number;
    eventTimeUnixMs: number;
    /** Event time of the decision (its look's end) minus T, seconds. */
    eventSecAfterT: number;
    /** Wall seconds from T to the poll that first saw the decision. */
    wallSecAfterT: number;
    late?: PerCohort;
  };
  /** The earliest the look holding T can close: its end + allowed lateness + canary delay, minus T (s). */
  floorSecAfterT: number;
  counters: {
    lateRequests: PerCohort;
    duplicateSpans: number;
    uncheckedSpans: Record<string, number>;
    registry: Record<string, number>;
  };
  goal: { targetPct: number; pass: boolean };
}

interface Instance {
  cohort: Cohort;
  version: string;
  id: string;
  /** Wall time (ms, fractional) of the instance's next request. */
  nextReqMs: number;
  /** Wall time its timer is due next (ms): phase + k x export interval. */
  dueMs: number;
  timer?: NodeJS.Timeout;
}

interface Snapshot {
  id: string;
  service: string;
  canaryVersion: string;
  phase: string;
  why: string;
  look: number;
  startedAtUnixMs: number;
  totals: Record<Cohort, { requests: number; errors: number }>;
  late: PerCohort;
}

interface DecisionJson {
  id: string;
  analysis: string;
  outcome: string;
  reason: string;
  look: number;
  eventTimeUnixMs: number;
  late?: PerCohort;
}

const SERVICE = 'checkout';
const VERSIONS: Record<Cohort, string> = { baseline: '1.0.0', canary: '1.1.0' };
const ROUTES = ['/api/checkout', '/api/cart/:id', '/api/payment'];
const POLL_MS = 250;

const zero = (): PerCohort => ({ baseline: 0, canary: 0 });

/** The analysis settings `vigil serve` runs with when its config sets none (the schema defaults). */
function defaultAnalysis(): { intervalMs: number; allowedLatenessMs: number; sourceIdleTimeoutMs: number } {
  const { config } = parseConfig('', 'bench.yaml', BUILTIN_REGISTRIES, {});
  return {
    intervalMs: config.analysis.interval,
    allowedLatenessMs: config.analysis.allowedLateness,
    sourceIdleTimeoutMs: config.analysis.sourceIdleTimeout,
  };
}

/** All series of a Prometheus metric, summed (or by one label's value). */
function metricValues(text: string, name: string, label?: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    const key = label === undefined ? '' : (new RegExp(`${label}="([^"]*)"`).exec(line)?.[1] ?? '');
    out[key] = (out[key] ?? 0) + value;
  }
  return out;
}

async function getJson<T>(url: string): Promise<T | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.status === 200 ? ((await res.json()) as T) : undefined;
  } catch {
    return undefined;
  }
}

export async function runRealtime(o: RealtimeOptions): Promise<RealtimeResult> {
  const defaults = defaultAnalysis();
  const { intervalMs } = defaults;
  const rnd = seededRandom(o.seed ?? 2024);
  const dir = mkdtempSync(join(tmpdir(), 'vigil-realtime-'));
  // no analysis settings: the default look interval and late-data settings (allowedLateness, sourceIdleTimeout)
  const agent = await startAgentProcess(dir, '', o.agentNodeArgs);
  const http = new HttpAgent({ keepAlive: true, maxSockets: 2 * o.instances });
  const otlpUrl = new URL(agent.otlpUrl);

  const sentByIndex = new Map<number, PerCohort>();
  const regressedByIndex = new Map<number, number>();
  const sentTotal = zero();
  const delivered = zero();
  const failed: Record<string, number> = {};
  let exportRequests = 0;
  const inFlight = new Set<Promise<void>>();
  const delayed = new Set<NodeJS.Timeout>();

  const startMs = Date.now();
  const tMs = startMs + o.regressionAtSec * 1000;
  const models: Record<Cohort, GenService> = {
    baseline: {
      name: SERVICE,
      version: VERSIONS.baseline,
      cohort: 'baseline',
      errorRate: o.baselineErrorRate,
      latencyMs: 20,
    },
    canary: {
      name: SERVICE,
      version: VERSIONS.canary,
      cohort: 'canary',
      errorRate: o.baselineErrorRate,
      latencyMs: 20,
    },
  };
  const regressed: GenService = { ...models.canary, errorRate: o.regressedErrorRate };

  const instances: Instance[] = [];
  for (const cohort of COHORTS) {
    for (let i = 0; i < o.instances; i++) {
      instances.push({
        cohort,
        version: VERSIONS[cohort],
        id: `${SERVICE}-${cohort}-${randomBytes(3).toString('hex')}-${i}`,
        nextReqMs: startMs + expGap(rnd, o.ratePerInstance),
        dueMs: startMs + rnd() * o.exportIntervalMs,
      });
    }
  }

  const post = (body: Buffer, contentType: string): Promise<boolean> =>
    new Promise((resolve) => {
      const req = request(
        otlpUrl,
        {
          method: 'POST',
          agent: http,
          headers: { 'content-type': contentType, 'content-length': String(body.length) },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== 200) failed[String(res.statusCode)] = (failed[String(res.statusCode)] ?? 0) + 1;
            resolve(res.statusCode === 200);
          });
        },
      );
      req.on('error', (e) => {
        failed[e.message] = (failed[e.message] ?? 0) + 1;
        resolve(false);
      });
      req.end(body);
    });

  const deliver = (body: Buffer, contentType: string, cohort: Cohort, spans: number): void => {
    exportRequests++;
    const p = post(body, contentType)
      .then((ok) => {
        if (ok) delivered[cohort] += spans;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  /** One timer tick of an instance: the requests that happened since its last tick, as one export. */
  const fire = (inst: Instance): void => {
    const now = Date.now();
    const spans: GenResource['spans'] = [];
    while (inst.nextReqMs <= now) {
      const endMs = Math.floor(inst.nextReqMs);
      inst.nextReqMs += expGap(rnd, o.ratePerInstance);
      const isRegressed = inst.cohort === 'canary' && endMs >= tMs;
      const { latencyMs, error } = drawRequest(isRegressed ? regressed : models[inst.cohort], rnd);
      const route = ROUTES[Math.floor(rnd() * ROUTES.length)]!;
      const endNs = BigInt(endMs) * 1_000_000n;
      spans.push({
        traceId: randomBytes(16),
        spanId: randomBytes(8),
        parentSpanId: randomBytes(8),
        name: `POST ${route}`,
        kind: 2,
        startNs: endNs - BigInt(Math.max(1, Math.round(latencyMs * 1e6))),
        endNs,
        attrs: [
          ['http.request.method', 'POST'],
          ['http.route', route],
          ['http.response.status_code', error ? 503 : 200],
          ['url.scheme', 'http'],
          ['server.port', 8080],
        ],
        statusCode: error ? 2 : 0,
      });
      const index = Math.floor(endMs / intervalMs);
      let sent = sentByIndex.get(index);
      if (!sent) sentByIndex.set(index, (sent = zero()));
      sent[inst.cohort]++;
      sentTotal[inst.cohort]++;
      if (isRegressed) regressedByIndex.set(index, (regressedByIndex.get(index) ?? 0) + 1);
    }
    if (spans.length > 0) {
      const resource: GenResource = {
        attrs: [
          ['service.name', SERVICE],
          ['service.version', inst.version],
          ['vigil.cohort', inst.cohort],
          ['service.instance.id', inst.id],
          ['telemetry.sdk.language', 'nodejs'],
          ['telemetry.sdk.name', 'opentelemetry'],
          ['k8s.pod.name', inst.id],
        ],
        scope: '@opentelemetry/instrumentation-http',
        spans,
      };
      const [body, type] =
        o.encoding === 'json'
          ? [Buffer.from(encodeJson([resource])), 'application/json']
          : [encodeProtobuf([resource]), 'application/x-protobuf'];
      if (inst.cohort === 'canary') {
        const t = setTimeout(() => {
          delayed.delete(t);
          deliver(body, type, 'canary', spans.length);
        }, o.canaryDelayMs);
        delayed.add(t);
      } else deliver(body, type, 'baseline', spans.length);
    }
    inst.dueMs += o.exportIntervalMs;
    inst.timer = setTimeout(() => fire(inst), Math.max(0, inst.dueMs - Date.now()));
  };
  for (const inst of instances) inst.timer = setTimeout(() => fire(inst), Math.max(0, inst.dueMs - Date.now()));

  // poll the analysis and the decisions until the rollback (+ a flush), or the time-out
  const points: { look: number; snap: Snapshot; atMs: number }[] = [];
  let snap: Snapshot | undefined;
  let decision: DecisionJson | undefined;
  let decisionSeenMs = Number.NaN;
  const flushMs = o.canaryDelayMs + o.exportIntervalMs + 2000;
  const deadline = tMs + o.decisionTimeoutSec * 1000;
  let stopAt = deadline;
  let lastLog = startMs;
  try {
    while (Date.now() < stopAt) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      const list = await getJson<{ analyses: Snapshot[] }>(`${agent.apiUrl}/api/v1/analyses`);
      const found = list?.analyses.find((a) => a.service === SERVICE && a.canaryVersion === VERSIONS.canary);
      if (found) {
        snap = found;
        if (found.look > (points.at(-1)?.look ?? 0)) points.push({ look: found.look, snap: found, atMs: Date.now() });
      }
      if (decision === undefined && snap !== undefined && snap.phase !== 'running') {
        const ds = await getJson<{ decisions: DecisionJson[] }>(`${agent.apiUrl}/api/v1/decisions`);
        decision = ds?.decisions.find((d) => d.analysis === snap!.id);
        if (decision) {
          decisionSeenMs = Date.now();
          stopAt = Math.min(deadline + flushMs, decisionSeenMs + flushMs);
          console.log(
            `  +${sec(decisionSeenMs - startMs)} s: ${decision.outcome} at look ${decision.look} (${sec(decisionSeenMs - tMs)} s after T); exporting ${sec(flushMs)} s more so every span of the compared looks is delivered`,
          );
        }
      }
      if (Date.now() - lastLog >= 10_000) {
        lastLog = Date.now();
        console.log(
          `  +${sec(lastLog - startMs)} s: exported ${sentTotal.baseline} baseline / ${sentTotal.canary} canary spans (the canary's delivered ${sec(o.canaryDelayMs)} s later); analysis ${snap ? `${snap.phase}, look ${snap.look}, compared ${snap.totals.baseline.requests} / ${snap.totals.canary.requests}, late ${snap.late.baseline} / ${snap.late.canary}` : 'not started'}`,
        );
      }
    }
  } finally {
    for (const inst of instances) clearTimeout(inst.timer);
    for (const t of delayed) clearTimeout(t);
  }
  await Promise.all(inFlight);
  const endMs = Date.now();

  // final reads: the analysis, then the agent's counters
  const list = await getJson<{ analyses: Snapshot[]; counters: Record<string, number> }>(
    `${agent.apiUrl}/api/v1/analyses`,
  );
  snap = list?.analyses.find((a) => a.service === SERVICE && a.canaryVersion === VERSIONS.canary) ?? snap;
  if (snap && snap.look > (points.at(-1)?.look ?? 0)) points.push({ look: snap.look, snap, atMs: endMs });
  const metricsText = await (await fetch(`${agent.apiUrl}/metrics`)).text();
  await agent.stop();
  http.destroy();

  const lateMetric = metricValues(metricsText, 'vigil_late_requests_total', 'cohort');
  const samplesMetric = metricValues(metricsText, 'vigil_request_samples_total', 'cohort');
  const sentFor = (fromIndex: number, looks: number): PerCohort => {
    const out = zero();
    for (let i = fromIndex; i < fromIndex + looks; i++) {
      const s = sentByIndex.get(i);
      if (s) for (const c of COHORTS) out[c] += s[c];
    }
    return out;
  };

  let analysis: RealtimeResult['analysis'];
  const looks: RealtimeLook[] = [];
  if (snap) {
    const first = Math.floor(snap.startedAtUnixMs / intervalMs);
    const totals = { baseline: snap.totals.baseline.requests, canary: snap.totals.canary.requests };
    const sent = sentFor(first, snap.look);
    const pct = (c: Cohort) => (sent[c] === 0 ? Number.NaN : (100 * totals[c]) / sent[c]);
    analysis = {
      id: snap.id,
      phase: snap.phase,
      why: snap.why,
      look: snap.look,
      startedAtUnixMs: snap.startedAtUnixMs,
      totals,
      late: snap.late,
      sent,
      sharePct: { baseline: pct('baseline'), canary: pct('canary') },
      unaccounted: {
        baseline: sent.baseline - totals.baseline - snap.late.baseline,
        canary: sent.canary - totals.canary - snap.late.canary,
      },
    };
    // per look, from the polls (several looks closed between two polls are shown together, on the last one)
    let prev = { look: 0, totals: zero() };
    for (const p of points) {
      const t = { baseline: p.snap.totals.baseline.requests, canary: p.snap.totals.canary.requests };
      const index = first + p.look - 1;
      const fromIndex = first + prev.look;
      let regressedCanary = 0;
      for (let i = fromIndex; i <= index; i++) regressedCanary += regressedByIndex.get(i) ?? 0;
      looks.push({
        look: p.look,
        index,
        startUnixMs: fromIndex * intervalMs,
        endSec: ((index + 1) * intervalMs - startMs) / 1000,
        seenClosedAtSec: (p.atMs - startMs) / 1000,
        sent: sentFor(fromIndex, p.look - prev.look),
        compared: { baseline: t.baseline - prev.totals.baseline, canary: t.canary - prev.totals.canary },
        regressedCanary,
      });
      prev = { look: p.look, totals: t };
    }
  }
  const tIndex = Math.floor(tMs / intervalMs);
  const floorSecAfterT = ((tIndex + 1) * intervalMs + defaults.allowedLatenessMs + o.canaryDelayMs - tMs) / 1000;
  const targetPct = 99;
  const pass =
    analysis !== undefined &&
    analysis.sharePct.baseline >= targetPct &&
    analysis.sharePct.canary >= targetPct &&
    Object.keys(failed).length === 0;
  return {
    service: SERVICE,
    settings: {
      ...defaults,
      instancesPerCohort: o.instances,
      ratePerInstance: o.ratePerInstance,
      exportIntervalMs: o.exportIntervalMs,
      canaryDelayMs: o.canaryDelayMs,
      encoding: o.encoding,
      regressionAtSec: o.regressionAtSec,
      errorRates: {
        baseline: o.baselineErrorRate,
        canaryBefore: o.baselineErrorRate,
        canaryAfter: o.regressedErrorRate,
      },
    },
    runSeconds: (endMs - startMs) / 1000,
    startUnixMs: startMs,
    regressionAtUnixMs: tMs,
    exports: { requests: exportRequests, failed },
    sentTotal,
    delivered,
    agentSamples: { baseline: samplesMetric.baseline ?? 0, canary: samplesMetric.canary ?? 0 },
    ...(analysis ? { analysis } : {}),
    looks,
    ...(decision
      ? {
          decision: {
            id: decision.id,
            outcome: decision.outcome,
            reason: decision.reason,
            look: decision.look,
            eventTimeUnixMs: decision.eventTimeUnixMs,
            eventSecAfterT: (decision.eventTimeUnixMs - tMs) / 1000,
            wallSecAfterT: (decisionSeenMs - tMs) / 1000,
            ...(decision.late ? { late: decision.late } : {}),
          },
        }
      : {}),
    floorSecAfterT,
    counters: {
      lateRequests: { baseline: lateMetric.baseline ?? 0, canary: lateMetric.canary ?? 0 },
      duplicateSpans: metricValues(metricsText, 'vigil_spans_duplicate_total')[''] ?? 0,
      uncheckedSpans: metricValues(metricsText, 'vigil_spans_unchecked_total', 'reason'),
      registry: list?.counters ?? {},
    },
    goal: { targetPct, pass },
  };
}

/** An exponential gap (ms) between Poisson arrivals at `ratePerSec`. */
function expGap(rnd: () => number, ratePerSec: number): number {
  return (-Math.log(1 - rnd()) / ratePerSec) * 1000;
}

const sec = (ms: number): string => (ms / 1000).toFixed(1);
