/**
 * The cost of counting requests, not attempts (issue 13; src/analysis/open-traces.ts), part of
 * `npm run bench:ingest` (`--open-traces`, or `--open-traces-only`): one core, no I/O.
 *
 * 1. CPU per span (process CPU time, median of interleaved rounds): the soak traffic (1,000 services with canaries, 500-span protobuf requests, 25 spans a resource,
 *    fresh trace and span ids per request) decoded and ingested by an in-process agent (decoder, de-duplication,
 *    intake, analysis registry, looks) with `analysis.requestUnit: trace` (the default) and `span`, in interleaved
 *    rounds (median reported), event time advancing at `rate` spans/s so that the table fills and empties as in a
 *    live agent; once with every span a request of its own, once with every 10th span a retried attempt of the
 *    span before it (the merge path: a request taken back and the merged one added).
 * 2. Memory per open trace: `entries` requests remembered for 1,000 services x 2 looks x 2 cohorts, heap + array
 *    buffers measured after a full GC, against the bytes the table reports.
 */
import { OpenTraces, requestKey } from '../../src/analysis/open-traces.js';
import { LANE_SPANS, type Lane, gcFunction, heapAndBuffers, ingestLane, runLane } from './ingest-lane.js';

export interface OpenTracesCostRow {
  /** Every k-th span a retried attempt (0: none). */
  retryEvery: number;
  traceSpansPerSec: number;
  spanSpansPerSec: number;
  /** ns of CPU per span: trace - span (median round of each). */
  extraNsPerSpan: number;
  /** (span - trace) / span, percent. */
  slowerPct: number;
  /** Requests remembered at the end (vigil_open_traces), attempts folded in, open traces evicted. */
  openAtEnd: number;
  /** Bytes the table held at the end per request remembered (partly filled buckets and spares included). */
  bytesPerOpenAtEnd: number;
  retriedAttempts: number;
  evicted: number;
}

export interface OpenTracesCostResult {
  rate: number;
  spansPerRequest: number;
  rows: OpenTracesCostRow[];
  memory: { entries: number; heapBytesPerEntry: number; tableBytesPerEntry: number };
}

const SPANS = LANE_SPANS;

const lane = (unit: 'trace' | 'span', retryEvery: number, start: number): Lane =>
  ingestLane(`analysis: { requestUnit: ${unit} }`, start, retryEvery);
/** CPU time rather than wall time: the machines this runs on are shared (see runLane). */
const run = (l: Lane, requests: number, rate: number): number => runLane(l, requests, rate, 'cpu');

/** Bytes per remembered request: `entries` of 1,000 services x 2 looks x 2 cohorts. */
function memoryPerEntry(entries: number): OpenTracesCostResult['memory'] {
  const gc = gcFunction();
  const used = heapAndBuffers;
  const routes = Array.from({ length: 20 }, (_, i) => `/route/${i}`);
  gc();
  gc();
  const before = used();
  const t = new OpenTraces(entries);
  // 1,000 services x 2 open looks, requests of both cohorts: ~500 a look
  let k = 1;
  for (let i = 0; i < entries; i++) {
    k = (k * 48271) % 2147483647;
    const key = requestKey(k * 2097152 + (i & 2097151), (i & 1) === 1); // distinct keys
    t.add(
      (i % 1000) + 1,
      176_722_560 + ((i / 1000) & 1),
      key,
      1_767_225_600_000 + i,
      40,
      false,
      0,
      routes[i % 20],
      '1.0.0',
    );
  }
  gc();
  gc();
  const after = used();
  return {
    entries: t.size,
    heapBytesPerEntry: (after - before) / t.size,
    tableBytesPerEntry: t.bytes / t.size,
  };
}

async function costRow(
  retryEvery: number,
  opts: { rate: number; rounds: number; requestsPerRound: number; warmupRequests: number },
): Promise<OpenTracesCostRow> {
  const start = Date.now() - 3_600_000;
  const trace = lane('trace', retryEvery, start);
  const span = lane('span', retryEvery, start);
  run(trace, opts.warmupRequests, opts.rate);
  run(span, opts.warmupRequests, opts.rate);
  const traceUs: number[] = [];
  const spanUs: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    traceUs.push(run(trace, opts.requestsPerRound, opts.rate));
    spanUs.push(run(span, opts.requestsPerRound, opts.rate));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const spans = opts.requestsPerRound * SPANS;
  const traceRate = (spans * 1e6) / median(traceUs);
  const spanRate = (spans * 1e6) / median(spanUs);
  const c = trace.agent.registry.counters;
  const row: OpenTracesCostRow = {
    retryEvery,
    traceSpansPerSec: traceRate,
    spanSpansPerSec: spanRate,
    extraNsPerSpan: ((median(traceUs) - median(spanUs)) * 1000) / spans,
    slowerPct: ((spanRate - traceRate) / spanRate) * 100,
    openAtEnd: trace.agent.registry.openTraces,
    bytesPerOpenAtEnd: trace.agent.registry.openTracesBytes / trace.agent.registry.openTraces,
    retriedAttempts: c.retriedAttempts,
    evicted: c.evictedOpenTraces,
  };
  await trace.agent.stop();
  await span.agent.stop();
  return row;
}

export async function runOpenTracesCost(opts: {
  rate: number;
  rounds: number;
  requestsPerRound: number;
  warmupRequests: number;
  entries: number;
}): Promise<OpenTracesCostResult> {
  // memory first, in a heap the lanes have not used yet
  const memory = memoryPerEntry(opts.entries);
  const rows = [await costRow(0, opts), await costRow(10, opts)];
  return { rate: opts.rate, spansPerRequest: SPANS, rows, memory };
}
