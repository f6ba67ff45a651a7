/**
 * `npm run bench:ingest` (node --import tsx test/bench/ingest.ts [options]): OTLP ingestion, side by side in
 * one run on this machine. Prints tables and writes bench-results/ingest.json.
 *
 * 1. decode only (one core): Vigil's protobuf decoder vs protobufjs 7 vs JSON.parse of the same request as
 *    OTLP/JSON, spans/s and MB/s (ingest-decode.ts);
 * 2. end to end over loopback: `vigil serve` in its own process, 4 concurrent keep-alive clients POSTing
 *    500-span requests back to back (protobuf, protobuf+gzip, JSON) to 50 services with canaries, analysis
 *    running (looks close as event time advances): accepted spans/s, p50/p99 latency, agent peak RSS;
 *    then protobuf at half the measured maximum (p99 at half load);
 * 3. event-loop stalls: a small-request client's latency while another client sends large bodies;
 * 4. with --soak: half the measured maximum for --soak-minutes (default 10) across 1,000 services with
 *    canaries (canary versions rotate so analyses finish and expire): RSS at start/middle/end, errors, p99.
 *
 * 5. with --dedup: the cost of span de-duplication (ingest-dedup.ts): spans/s decoded and ingested in process
 *    on the soak traffic with ingest.dedup on vs off, and the memory per tracked span.
 * 6. with --realtime: one service on the wall clock (ingest-realtime.ts, ~1.5-2.5 min): `vigil serve` with the
 *    default look interval and late-data settings, 2 cohorts x 10 instances (own service.instance.id), each on
 *    its OWN 5 s export timer at a random phase (the SDK's BatchSpanProcessor), 20 requests/s each, one
 *    OTLP/HTTP request per export; the canary's exports are delivered 15 s after their timer fired (a slower
 *    Collector tier); at T = 40 s the canary's error rate goes from 1% to 5%. Measures the share of each
 *    cohort's sent requests the analysis compared in the looks it closed (goal >= 99%), the time from T to
 *    the rollback (wall clock, and the decision's look / event time) and the agent's late / duplicate /
 *    clock-skew counters.
 * 7. with --open-traces: the cost of counting requests, not attempts (ingest-open-traces.ts): spans/s decoded and
 *    ingested in process on the soak traffic with analysis.requestUnit trace vs span (without retries, and with
 *    every 10th span a retried attempt), and the memory per open trace.
 *
 * The soak's agent config takes extra `analysis:` and `limits:` lines from SOAK_ANALYSIS and SOAK_LIMITS, and
 * top-level ones from SOAK_CONFIG (';' between lines), e.g. SOAK_ANALYSIS="requestUnit: span;routes: {
 * maxPerService: 0 }" or SOAK_CONFIG="ingest: { dedup: false }" to measure one feature's cost.
 *
 * Options: --seconds N (per end-to-end phase, default 10), --soak, --soak-minutes M, --rate R (soak
 * requests/s; default half the measured protobuf maximum), --soak-only (with --rate: the soak alone),
 * --agent-node-args "<flags>" (node flags for the agent process), --quick (short phases, for a smoke run),
 * --dedup, --dedup-only (that section alone: bench-results/ingest-dedup.json), --dedup-rate S (simulated
 * spans/s of event time for it, default 12,000: the tables then hold ~70 s of spans, below the 1M default cap),
 * --realtime, --realtime-only (that section alone: bench-results/ingest-realtime.json), --realtime-encoding
 * protobuf|json (default protobuf), --open-traces, --open-traces-only (that section alone:
 * bench-results/ingest-open-traces.json), --open-traces-rate S (simulated spans/s of event time, default 12,000),
 * --open-traces-entries N (for the memory measure, default 1,000,000), --decode-only (the decoders alone, without
 * and with 2 span indicators configured: bench-results/ingest-decode.json). With --quick the real-time section runs 4 instances per cohort at
 * 10 requests/s with T = 30 s (same 5 s timers, same 15 s canary delay).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_SPAN_INDICATORS, runDecode, type DecodeResult } from './ingest-decode.js';
import { runDedupCost, type DedupCostResult } from './ingest-dedup.js';
import { runOpenTracesCost, type OpenTracesCostResult } from './ingest-open-traces.js';
import { runLoad, startAgentProcess, type AgentProcess, type LoadResult } from './ingest-load.js';
import { fleet } from './ingest-payload.js';
import { runRealtime, type RealtimeResult } from './ingest-realtime.js';
import { TrafficSource, type Mode } from './ingest-traffic.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    soak: { type: 'boolean', default: false },
    'soak-minutes': { type: 'string', default: '10' },
    rate: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'agent-node-args': { type: 'string', default: '' },
    'soak-only': { type: 'boolean', default: false },
    dedup: { type: 'boolean', default: false },
    'dedup-only': { type: 'boolean', default: false },
    'dedup-rate': { type: 'string', default: '12000' },
    realtime: { type: 'boolean', default: false },
    'realtime-only': { type: 'boolean', default: false },
    'realtime-encoding': { type: 'string', default: 'protobuf' },
    'open-traces': { type: 'boolean', default: false },
    'open-traces-only': { type: 'boolean', default: false },
    'open-traces-rate': { type: 'string', default: '12000' },
    'open-traces-entries': { type: 'string', default: '1000000' },
    'decode-only': { type: 'boolean', default: false },
  },
});
const AGENT_NODE_ARGS = args['agent-node-args'].split(' ').filter((a) => a !== '');
const SECONDS = args.quick ? 3 : Number(args.seconds);
const CLIENTS = 4;
const SPANS = 500;
const MB = 1024 * 1024;

const fmt = (x: number, digits = 0): string =>
  Number.isFinite(x)
    ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';

function services(count: number) {
  // every 10th canary regresses (5% errors vs 1%), so rollbacks happen while the benchmark runs
  return fleet(count).map((s, i) => (s.cohort === 'canary' && (i >> 1) % 10 === 0 ? { ...s, errorRate: 0.05 } : s));
}

interface E2eRow extends LoadResult {
  mode: string;
  bodyBytes: number;
}

async function endToEnd(agent: AgentProcess): Promise<{ rows: E2eRow[]; halfLoad: E2eRow; maxRate: number }> {
  const rows: E2eRow[] = [];
  let maxRate = Number.NaN;
  let pbSource: TrafficSource | undefined;
  for (const mode of ['protobuf', 'protobuf+gzip', 'json'] as Mode[]) {
    const source = new TrafficSource(mode, {
      services: services(50),
      requests: 16,
      spansPerRequest: SPANS,
      spansPerResource: 50,
    });
    if (mode === 'protobuf') pbSource = source;
    const tick = () => source.refresh(Date.now(), 1);
    await runLoad({ url: agent.otlpUrl, clients: CLIENTS, seconds: 2, next: () => source.take(), tick }); // warm-up
    const r = await runLoad({
      url: agent.otlpUrl,
      clients: CLIENTS,
      seconds: SECONDS,
      next: () => source.take(),
      tick,
    });
    rows.push({ mode: `${mode}, ${CLIENTS} clients, back to back`, bodyBytes: source.bodyBytes, ...r });
    if (mode === 'protobuf') maxRate = r.requestsPerSec;
    console.log(
      `  ${mode}: ${fmt(r.spansPerSec)} spans/s, p99 ${fmt(r.p99Ms, 1)} ms, errors ${JSON.stringify(r.errors)}`,
    );
  }
  const source = pbSource!;
  const half = await runLoad({
    url: agent.otlpUrl,
    clients: CLIENTS,
    seconds: SECONDS,
    rate: maxRate / 2,
    next: () => source.take(),
    tick: () => source.refresh(Date.now(), 1),
  });
  const halfLoad = {
    mode: `protobuf at half load (${fmt(maxRate / 2, 1)} req/s)`,
    bodyBytes: source.bodyBytes,
    ...half,
  };
  console.log(`  half load: p50 ${fmt(half.p50Ms, 1)} ms, p99 ${fmt(half.p99Ms, 1)} ms`);
  return { rows, halfLoad, maxRate };
}

interface StallRow {
  bulk: string;
  bulkBytes: number;
  bulkRequests: number;
  victimP50Ms: number;
  victimP99Ms: number;
  victimMaxMs: number;
}

/** A 20-span request every 10 ms from one client, alone and while another client sends large bodies. */
async function stalls(agent: AgentProcess): Promise<StallRow[]> {
  const seconds = Math.max(3, Math.round(SECONDS * 0.6));
  const victim = new TrafficSource('protobuf', {
    services: services(10),
    requests: 8,
    spansPerRequest: 20,
    spansPerResource: 10,
    seed: 3,
  });
  const bulks: [string, TrafficSource | undefined][] = [
    ['none', undefined],
    [
      'protobuf, 8,192 spans (a Collector batch)',
      new TrafficSource('protobuf', {
        services: services(50),
        requests: 1,
        spansPerRequest: 8192,
        spansPerResource: 128,
        seed: 4,
        redraw: false,
      }),
    ],
    [
      'protobuf, 30,000 spans (near the 16 MiB limit)',
      new TrafficSource('protobuf', {
        services: services(50),
        requests: 1,
        spansPerRequest: 30_000,
        spansPerResource: 250,
        seed: 5,
        redraw: false,
      }),
    ],
    [
      'JSON, 8,192 spans',
      new TrafficSource('json', {
        services: services(50),
        requests: 1,
        spansPerRequest: 8192,
        spansPerResource: 128,
        seed: 6,
      }),
    ],
    [
      'JSON, 15,000 spans (near the 16 MiB limit)',
      new TrafficSource('json', {
        services: services(50),
        requests: 1,
        spansPerRequest: 15_000,
        spansPerResource: 250,
        seed: 8,
      }),
    ],
  ];
  const rows: StallRow[] = [];
  for (const [name, bulk] of bulks) {
    const tick = () => victim.refresh(Date.now(), 1);
    const victimRun = runLoad({ url: agent.otlpUrl, clients: 1, seconds, rate: 100, next: () => victim.take(), tick });
    const bulkRun =
      bulk === undefined ? undefined : runLoad({ url: agent.otlpUrl, clients: 1, seconds, next: () => bulk.take() });
    const [v, b] = await Promise.all([victimRun, bulkRun]);
    rows.push({
      bulk: name,
      bulkBytes: bulk?.bodyBytes ?? 0,
      bulkRequests: b?.okRequests ?? 0,
      victimP50Ms: v.p50Ms,
      victimP99Ms: v.p99Ms,
      victimMaxMs: v.maxMs,
    });
    console.log(
      `  bulk ${name}: victim p99 ${fmt(v.p99Ms, 1)} ms, max ${fmt(v.maxMs, 1)} ms (bulk errors ${JSON.stringify(b?.errors ?? {})})`,
    );
  }
  return rows;
}

interface SoakResult {
  minutes: number;
  services: number;
  rate: number;
  load: LoadResult;
  rss: {
    atSec: number;
    rssMb: number;
    heapUsedMb: number;
    analysesRunning: number;
    loopLagP99Ms: number;
    loopLagMaxMs: number;
    majorGcMs: number;
    loadAvg1m: number;
  }[];
  peakRssMb: number;
}

async function soak(rate: number, minutes: number): Promise<SoakResult> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-soak-'));
  const rotateSec = Math.max(30, Math.round(minutes * 60 * 0.4));
  const agent = await startAgentProcess(
    dir,
    [
      'analysis:',
      '  interval: 10s',
      `  maxDuration: ${Math.round(rotateSec * 0.75)}s`,
      `  silenceTimeout: ${Math.max(20, Math.round(rotateSec * 0.25))}s`,
      'limits:',
      `  finishedRetention: ${Math.max(20, Math.round(rotateSec * 0.25))}s`,
      ...(process.env.SOAK_LIMITS ? process.env.SOAK_LIMITS.split(';').map((l) => `  ${l.trim()}`) : []),
      ...(process.env.SOAK_CONFIG ? process.env.SOAK_CONFIG.split(';').map((l) => l.trim()) : []),
    ].join('\n'),
    AGENT_NODE_ARGS,
  );
  try {
    const source = new TrafficSource('protobuf', {
      services: services(1000),
      requests: 100,
      spansPerRequest: SPANS,
      spansPerResource: 25,
      seed: 11,
    });
    const samples: SoakResult['rss'] = [];
    let gcBefore = 0;
    const sample = async (atSec: number) => {
      // one scrape: the event-loop delay gauges cover the time since the previous scrape (prom-client resets them)
      const [gc = 0, heap = 0, running = 0, lagP99 = 0, lagMax = 0] = await agent.metrics([
        'vigil_nodejs_gc_duration_seconds_sum{kind="major"}',
        'vigil_nodejs_heap_size_used_bytes',
        'vigil_analyses{state="running"}',
        'vigil_nodejs_eventloop_lag_p99_seconds',
        'vigil_nodejs_eventloop_lag_max_seconds',
      ]);
      samples.push({
        atSec,
        rssMb: agent.rss().rss / MB,
        heapUsedMb: heap / MB,
        analysesRunning: running,
        loopLagP99Ms: lagP99 * 1000,
        loopLagMaxMs: lagMax * 1000,
        majorGcMs: ((Number.isNaN(gc) ? 0 : gc) - gcBefore) * 1000,
        loadAvg1m: loadavg()[0]!,
      });
      gcBefore = Number.isNaN(gc) ? 0 : gc;
    };
    let lastSample = 0;
    const load = await runLoad({
      url: agent.otlpUrl,
      clients: CLIENTS,
      seconds: minutes * 60,
      rate,
      next: () => source.take(),
      windowSec: minutes <= 3 ? 10 : 60,
      tick: (t) => {
        source.refresh(Date.now(), 1 + Math.floor(t / rotateSec));
        if (t - lastSample >= 10) {
          lastSample = t;
          void sample(Math.round(t));
        }
      },
    });
    await sample(Math.round(load.seconds));
    return { minutes, services: 1000, rate, load, rss: samples, peakRssMb: agent.rss().peak / MB };
  } finally {
    await agent.stop();
  }
}

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

function printSoak(r: SoakResult): void {
  const l = r.load;
  console.log(
    `\n${table(
      [
        'at s',
        'RSS MB',
        'heap used MB',
        'analyses running',
        'loop delay p99 ms',
        'loop delay max ms',
        'major GC ms',
        'machine load (1 min)',
      ],
      r.rss.map((s) => [
        String(s.atSec),
        fmt(s.rssMb, 1),
        fmt(s.heapUsedMb, 1),
        fmt(s.analysesRunning),
        fmt(s.loopLagP99Ms, 1),
        fmt(s.loopLagMaxMs, 1),
        fmt(s.majorGcMs, 1),
        fmt(s.loadAvg1m, 2),
      ]),
    )}`,
  );
  console.log(
    `\n${table(
      ['until s', 'requests', 'p50 ms', 'p99 ms', 'max ms'],
      (l.windows ?? []).map((w) => [
        String(w.endSec),
        String(w.requests),
        fmt(w.p50Ms, 1),
        fmt(w.p99Ms, 1),
        fmt(w.maxMs, 1),
      ]),
    )}`,
  );
  console.log(
    `\nrequests ${l.requests}, errors ${JSON.stringify(l.errors)}, p50 ${fmt(l.p50Ms, 1)} ms, p99 ${fmt(l.p99Ms, 1)} ms, peak RSS ${fmt(r.peakRssMb, 1)} MB; soak RSS start / middle / end ${soakSummary(r)}`,
  );
}

/** --soak-only --rate R: the soak alone (bench-results/ingest-soak.json). */
async function soakOnly(): Promise<void> {
  if (args.rate === undefined) throw new Error('--soak-only needs --rate <requests/s>');
  const rate = Number(args.rate);
  const minutes = Number(args['soak-minutes']);
  console.log(
    `# ingest soak: ${minutes} min at ${fmt(rate, 1)} req/s (${fmt(rate * SPANS)} spans/s), 1,000 services with canaries`,
  );
  const r = await soak(rate, minutes);
  printSoak(r);
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(
    'bench-results/ingest-soak.json',
    `${JSON.stringify({ suite: 'ingest-soak', node: process.version, date: new Date().toISOString(), agentNodeArgs: AGENT_NODE_ARGS, soak: r }, null, 2)}\n`,
  );
  console.log('\nwrote bench-results/ingest-soak.json');
}

async function dedupSection(): Promise<DedupCostResult> {
  const rate = Number(args['dedup-rate']);
  console.log(
    `\n## dedup cost: soak traffic (1,000 services, ${SPANS}-span protobuf requests) at ${fmt(rate)} spans/s of event time, decode + ingest in process, ingest.dedup on vs off`,
  );
  const r = await runDedupCost({
    rate,
    rounds: args.quick ? 3 : 7,
    requestsPerRound: args.quick ? 100 : 400,
    // enough simulated traffic for the tables to reach their steady state (horizon 60 s + one 10 s look)
    warmupRequests: Math.ceil((75 * rate) / SPANS),
  });
  console.log(
    `\n${table(
      ['dedup', 'spans/s', 'goal'],
      [
        ['off', fmt(r.offSpansPerSec), ''],
        ['on', fmt(r.onSpansPerSec), `<= 10% slower: ${fmt(r.slowerPct, 1)}%`],
      ],
    )}`,
  );
  console.log(
    `\ntracked span ids at the end ${fmt(r.trackedAtEnd)}, unchecked past the limit ${fmt(r.uncheckedLimit)}; memory: ${fmt(r.memory.keys)} keys in ${fmt(r.memory.buckets)} windows = ${fmt(r.memory.heapBytesPerKey, 1)} B/key measured (heap + array buffers), ${fmt(r.memory.tableBytesPerKey, 1)} B/key in the tables`,
  );
  return r;
}

async function openTracesSection(): Promise<OpenTracesCostResult> {
  const rate = Number(args['open-traces-rate']);
  console.log(
    `\n## requests, not attempts: soak traffic (1,000 services, ${SPANS}-span protobuf requests) at ${fmt(rate)} spans/s of event time, decode + ingest in process, analysis.requestUnit trace vs span`,
  );
  const r = await runOpenTracesCost({
    rate,
    rounds: args.quick ? 3 : 7,
    requestsPerRound: args.quick ? 100 : 400,
    // enough simulated traffic for the table to reach its steady state (a look, its lateness, and some)
    warmupRequests: Math.ceil((40 * rate) / SPANS),
    entries: Number(args['open-traces-entries']),
  });
  console.log(
    `\n${table(
      [
        'retried attempts',
        'span: spans/s',
        'trace: spans/s',
        'trace: extra CPU / span',
        'slower',
        'open at end (B each)',
        'folded',
        'evicted',
      ],
      r.rows.map((row) => [
        row.retryEvery === 0 ? 'none' : `every ${row.retryEvery}th span`,
        fmt(row.spanSpansPerSec),
        fmt(row.traceSpansPerSec),
        `${fmt(row.extraNsPerSpan)} ns`,
        `${fmt(row.slowerPct, 1)}%`,
        `${fmt(row.openAtEnd)} (${fmt(row.bytesPerOpenAtEnd)} B)`,
        fmt(row.retriedAttempts),
        fmt(row.evicted),
      ]),
    )}`,
  );
  console.log(
    `\nmemory: ${fmt(r.memory.entries)} open traces = ${fmt(r.memory.heapBytesPerEntry, 1)} B each measured (heap + array buffers), ${fmt(r.memory.tableBytesPerEntry, 1)} B in the table's columns and index`,
  );
  return r;
}

async function realtimeSection(): Promise<RealtimeResult> {
  const encoding = args['realtime-encoding'];
  if (encoding !== 'protobuf' && encoding !== 'json') throw new Error('--realtime-encoding: protobuf or json');
  const o = {
    instances: args.quick ? 4 : 10,
    ratePerInstance: args.quick ? 10 : 20,
    exportIntervalMs: 5000,
    canaryDelayMs: 15_000,
    regressionAtSec: args.quick ? 30 : 40,
    baselineErrorRate: 0.01,
    regressedErrorRate: 0.05,
    decisionTimeoutSec: args.quick ? 75 : 90,
    encoding,
    agentNodeArgs: AGENT_NODE_ARGS,
  } as const;
  console.log(
    `\n## real time: 1 service, 2 cohorts x ${o.instances} instances, each on its own ${o.exportIntervalMs / 1000} s export timer (random phase), ${o.ratePerInstance} requests/s each, one OTLP/HTTP ${encoding} request per export; canary exports delivered ${o.canaryDelayMs / 1000} s after their timer; canary errors ${fmt(o.baselineErrorRate * 100)}% -> ${fmt(o.regressedErrorRate * 100)}% at T = +${o.regressionAtSec} s (baseline ${fmt(o.baselineErrorRate * 100)}%)`,
  );
  const r = await runRealtime(o);
  const st = r.settings;
  console.log(
    `\nagent config: no analysis settings (defaults): look interval ${st.intervalMs / 1000} s, allowedLateness ${st.allowedLatenessMs / 1000} s, sourceIdleTimeout ${st.sourceIdleTimeoutMs / 1000} s; run ${fmt(r.runSeconds, 1)} s, ${fmt(r.exports.requests)} export requests, failed ${JSON.stringify(r.exports.failed)}`,
  );
  const share = (n: number, d: number) => (d === 0 ? 'n/a' : `${fmt((100 * n) / d, 2)}%`);
  console.log(
    `\n${table(
      [
        'look',
        'event time s (window end)',
        'seen closed at s',
        'baseline sent',
        'baseline compared',
        'share',
        'canary sent',
        'canary compared',
        'share',
        'canary reqs after T',
      ],
      r.looks.map((l) => [
        String(l.look),
        fmt(l.endSec, 1),
        fmt(l.seenClosedAtSec, 1),
        fmt(l.sent.baseline),
        fmt(l.compared.baseline),
        share(l.compared.baseline, l.sent.baseline),
        fmt(l.sent.canary),
        fmt(l.compared.canary),
        share(l.compared.canary, l.sent.canary),
        fmt(l.regressedCanary),
      ]),
    )}`,
  );
  const a = r.analysis;
  if (a === undefined) console.log('\nno analysis of the service was seen');
  else {
    console.log(
      `\n${table(
        [
          'cohort',
          `sent in the ${a.look} compared looks`,
          'compared (totals)',
          'late (analysis)',
          'sent - compared - late',
          'share compared',
          'goal >= 99%',
        ],
        (['baseline', 'canary'] as const).map((c) => [
          c,
          fmt(a.sent[c]),
          fmt(a.totals[c]),
          fmt(a.late[c]),
          fmt(a.unaccounted[c]),
          `${fmt(a.sharePct[c], 2)}%`,
          a.sharePct[c] >= r.goal.targetPct ? 'PASS' : 'FAIL',
        ]),
      )}`,
    );
    console.log(
      '\nsent - compared - late: requests of the compared looks in no counter: delivered after the decision (a decided analysis counts nothing more) or still in the canary delay queue when the run stopped',
    );
    console.log(
      `analysis ${a.id}: ${a.phase} at look ${a.look}, first look's window starts ${fmt((a.startedAtUnixMs - r.startUnixMs) / 1000, 1)} s from the start of the run: ${a.why}`,
    );
  }
  const d = r.decision;
  console.log(
    d === undefined
      ? `\nno decision within ${o.decisionTimeoutSec} s after T`
      : `\ndecision ${d.outcome} at look ${d.look} (event time ${new Date(d.eventTimeUnixMs).toISOString()}, ${fmt(d.eventSecAfterT, 1)} s after T), seen ${fmt(d.wallSecAfterT, 1)} s after T on the wall clock; the look holding T could close ${fmt(r.floorSecAfterT, 1)} s after T at the earliest (its end + allowedLateness + the canary's delay)${d.late ? `; late in the decision: ${JSON.stringify(d.late)}` : ''}`,
  );
  const reg = r.counters.registry;
  console.log(
    `\nagent counters: vigil_late_requests_total baseline ${fmt(r.counters.lateRequests.baseline)} / canary ${fmt(r.counters.lateRequests.canary)}; vigil_spans_duplicate_total ${fmt(r.counters.duplicateSpans)}; vigil_spans_unchecked_total ${JSON.stringify(r.counters.uncheckedSpans)}; registry lateSamples ${fmt(reg.lateSamples ?? Number.NaN)}, clockSkewSamples ${fmt(reg.clockSkewSamples ?? Number.NaN)}, preAnalysisSamples ${fmt(reg.preAnalysisSamples ?? Number.NaN)}, decidedVersionSamples ${fmt(reg.decidedVersionSamples ?? Number.NaN)}`,
  );
  console.log(
    `spans over the whole run: sent ${fmt(r.sentTotal.baseline)} baseline / ${fmt(r.sentTotal.canary)} canary, delivered ${fmt(r.delivered.baseline)} / ${fmt(r.delivered.canary)} (canary exports still delayed at the end are dropped), counted by the agent (vigil_request_samples_total) ${fmt(r.agentSamples.baseline)} / ${fmt(r.agentSamples.canary)}`,
  );
  console.log(
    `\ngoal: share of each cohort's requests compared >= ${r.goal.targetPct}%: ${r.goal.pass ? 'PASS' : 'FAIL'}${a ? ` (baseline ${fmt(a.sharePct.baseline, 2)}%, canary ${fmt(a.sharePct.canary, 2)}%)` : ''}`,
  );
  return r;
}

/** --decode-only: Vigil's decoders (and protobufjs for scale) without and with 2 span indicators configured. */
async function decodeOnly(): Promise<void> {
  const rows: Record<string, DecodeResult> = {};
  for (const [name, spanIndicators] of [
    ['no span indicators', undefined],
    [`${BENCH_SPAN_INDICATORS.length} span indicators`, BENCH_SPAN_INDICATORS],
  ] as const) {
    const r = runDecode({
      spans: SPANS,
      rounds: args.quick ? 3 : 9,
      roundMs: args.quick ? 200 : 500,
      decodersOnly: true,
      ...(spanIndicators === undefined ? {} : { spanIndicators }),
    });
    rows[name] = r;
    console.log(`\n## decode only, ${name}\n`);
    console.log(
      table(
        ['decoder', 'µs/request', 'spans/s', 'MB/s (own encoding)'],
        r.rows.map((x) => [x.name, fmt(x.usPerRequest), fmt(x.spansPerSec), fmt(x.mbPerSec, 1)]),
      ),
    );
  }
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(
    'bench-results/ingest-decode.json',
    `${JSON.stringify({ suite: 'ingest-decode', node: process.version, date: new Date().toISOString(), loadavg: loadavg(), decode: rows }, null, 2)}\n`,
  );
  await Promise.resolve();
}

async function main(): Promise<void> {
  if (args['decode-only']) {
    await decodeOnly();
    return;
  }
  if (args['realtime-only']) {
    const r = await realtimeSection();
    mkdirSync('bench-results', { recursive: true });
    writeFileSync(
      'bench-results/ingest-realtime.json',
      `${JSON.stringify({ suite: 'ingest-realtime', node: process.version, date: new Date().toISOString(), quick: args.quick, realtime: r }, null, 2)}\n`,
    );
    console.log('\nwrote bench-results/ingest-realtime.json');
    return;
  }
  if (args['open-traces-only']) {
    const r = await openTracesSection();
    mkdirSync('bench-results', { recursive: true });
    writeFileSync(
      'bench-results/ingest-open-traces.json',
      `${JSON.stringify({ suite: 'ingest-open-traces', node: process.version, date: new Date().toISOString(), quick: args.quick, openTraces: r }, null, 2)}\n`,
    );
    console.log('\nwrote bench-results/ingest-open-traces.json');
    return;
  }
  if (args['dedup-only']) {
    const r = await dedupSection();
    mkdirSync('bench-results', { recursive: true });
    writeFileSync(
      'bench-results/ingest-dedup.json',
      `${JSON.stringify({ suite: 'ingest-dedup', node: process.version, date: new Date().toISOString(), dedup: r }, null, 2)}\n`,
    );
    console.log('\nwrote bench-results/ingest-dedup.json');
    return;
  }
  if (args['soak-only']) {
    await soakOnly();
    return;
  }
  const loadAtStart = loadavg();
  console.log(
    `# ingest benchmark (node ${process.version}, ${SECONDS}s phases; machine load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')})\n\n## decode only`,
  );
  const decode: DecodeResult = runDecode({ spans: SPANS, rounds: args.quick ? 3 : 7, roundMs: args.quick ? 200 : 500 });
  const byName = (prefix: string) => decode.rows.find((r) => r.name.startsWith(prefix))!;
  console.log(
    `\n500 spans x 10 attributes: protobuf ${fmt(decode.protobufBytes)} B, OTLP/JSON ${fmt(decode.jsonBytes)} B\n`,
  );
  console.log(
    table(
      ['decoder', 'µs/request', 'spans/s', 'MB/s (own encoding)'],
      decode.rows.map((r) => [r.name, fmt(r.usPerRequest), fmt(r.spansPerSec), fmt(r.mbPerSec, 1)]),
    ),
  );

  console.log('\n## end to end (vigil serve over loopback)');
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  const agent = await startAgentProcess(dir, '', AGENT_NODE_ARGS);
  let e2e: Awaited<ReturnType<typeof endToEnd>>;
  let stall: StallRow[];
  let peakRssMb: number;
  let e2ePeakRssMb: number;
  let analyses: number;
  try {
    e2e = await endToEnd(agent);
    e2ePeakRssMb = agent.rss().peak / MB;
    console.log('\n## event-loop stalls (victim: one 20-span request every 10 ms)');
    stall = await stalls(agent);
    peakRssMb = agent.rss().peak / MB;
    analyses =
      (await agent.metric('vigil_analyses{state="running"}')) + (await agent.metric('vigil_analyses{state="decided"}'));
  } finally {
    await agent.stop();
  }
  const rows = [...e2e.rows, e2e.halfLoad];
  console.log(
    `\n${table(
      ['load', 'body B', 'spans/s accepted', 'req/s', 'p50 ms', 'p99 ms', 'errors'],
      rows.map((r) => [
        r.mode,
        fmt(r.bodyBytes),
        fmt(r.spansPerSec),
        fmt(r.requestsPerSec, 1),
        fmt(r.p50Ms, 1),
        fmt(r.p99Ms, 1),
        JSON.stringify(r.errors),
      ]),
    )}`,
  );
  console.log(
    `\nagent peak RSS: ${fmt(e2ePeakRssMb, 1)} MB during the 500-span phases, ${fmt(peakRssMb, 1)} MB after the large-body phase; analyses seen ${analyses}`,
  );
  console.log(
    `\n${table(
      ['bulk client sends', 'bulk body B', 'bulk requests', 'victim p50 ms', 'victim p99 ms', 'victim max ms'],
      stall.map((s) => [
        s.bulk,
        fmt(s.bulkBytes),
        String(s.bulkRequests),
        fmt(s.victimP50Ms, 1),
        fmt(s.victimP99Ms, 1),
        fmt(s.victimMaxMs, 1),
      ]),
    )}`,
  );

  let soakResult: SoakResult | undefined;
  if (args.soak) {
    const rate = args.rate !== undefined ? Number(args.rate) : e2e.maxRate / 2;
    const minutes = Number(args['soak-minutes']);
    console.log(
      `\n## soak: ${minutes} min at ${fmt(rate, 1)} req/s (${fmt(rate * SPANS)} spans/s), 1,000 services with canaries`,
    );
    soakResult = await soak(rate, minutes);
    printSoak(soakResult);
  }
  const dedupResult = args.dedup ? await dedupSection() : undefined;
  const openTracesResult = args['open-traces'] ? await openTracesSection() : undefined;
  const realtimeResult = args.realtime ? await realtimeSection() : undefined;

  const vigil = byName('Vigil protobuf');
  const goals = {
    decoderVsProtobufjs: vigil.spansPerSec / byName('protobufjs 7 decode+normalize').spansPerSec,
    endToEndProtobufVsJsonParse: e2e.rows[0]!.spansPerSec / byName('JSON.parse').spansPerSec,
    p99AtHalfLoadMs: e2e.halfLoad.p99Ms,
    soakP99Ms: soakResult?.load.p99Ms,
    soakErrors: soakResult ? Object.values(soakResult.load.errors).reduce((a, b) => a + b, 0) : undefined,
    soakRssMb: soakResult ? soakResult.rss.map((s) => s.rssMb) : undefined,
  };
  console.log(
    `\n## goals\n\n${table(
      ['goal', 'target', 'measured'],
      [
        ['Vigil decoder vs protobufjs 7 decode+normalize', '>= 1.5x', `${fmt(goals.decoderVsProtobufjs, 2)}x`],
        ['end-to-end protobuf ingest vs bare JSON.parse', '>= 1.0x', `${fmt(goals.endToEndProtobufVsJsonParse, 2)}x`],
        ['p99 latency at half load (50 services, one phase)', '< 50 ms', `${fmt(goals.p99AtHalfLoadMs, 1)} ms`],
        [
          'p99 latency at half load, soak (1,000 services)',
          '< 50 ms',
          goals.soakP99Ms === undefined ? 'not run (--soak)' : `${fmt(goals.soakP99Ms, 1)} ms`,
        ],
        ['soak error responses', '0', goals.soakErrors === undefined ? 'not run (--soak)' : String(goals.soakErrors)],
        ['soak RSS (start / middle / end)', 'flat', soakResult ? soakSummary(soakResult) : 'not run (--soak)'],
        [
          'real time: share of baseline / canary requests compared',
          '>= 99% each',
          realtimeResult?.analysis
            ? `${fmt(realtimeResult.analysis.sharePct.baseline, 2)}% / ${fmt(realtimeResult.analysis.sharePct.canary, 2)}%`
            : 'not run (--realtime)',
        ],
      ],
    )}`,
  );

  mkdirSync('bench-results', { recursive: true });
  const out = {
    suite: 'ingest',
    node: process.version,
    date: new Date().toISOString(),
    loadAvgAtStart: loadAtStart,
    loadAvgAtEnd: loadavg(),
    seconds: SECONDS,
    clients: CLIENTS,
    decode,
    endToEnd: rows,
    e2ePeakRssMb,
    peakRssMb,
    stalls: stall,
    soak: soakResult,
    dedup: dedupResult,
    openTraces: openTracesResult,
    realtime: realtimeResult,
    goals,
  };
  writeFileSync('bench-results/ingest.json', `${JSON.stringify(out, null, 2)}\n`);
  console.log('\nwrote bench-results/ingest.json');
}

function soakSummary(s: SoakResult): string {
  const r = s.rss;
  const pick = (f: number) => r[Math.min(r.length - 1, Math.floor(f * (r.length - 1)))]!;
  // RSS swings with the garbage collector; the low points of each third show whether memory creeps
  const third = (i: number) =>
    r.slice(Math.floor((i * r.length) / 3), Math.floor(((i + 1) * r.length) / 3)).map((x) => x.rssMb);
  const lows = [0, 1, 2].map((i) => fmt(Math.min(...third(i))));
  return `${fmt(pick(0.1).rssMb)} / ${fmt(pick(0.5).rssMb)} / ${fmt(pick(1).rssMb)} MB (lowest per third ${lows.join(' / ')} MB)`;
}

await main();
