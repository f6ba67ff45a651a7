/**
 * Dedup cost (issue 11), part of `npm run bench:ingest` (`--dedup`, or `--dedup-only`): one core, no I/O.
 *
 * 1. Throughput: the soak traffic (1,000 services with canaries, 500-span protobuf requests, 25 spans a
 *    resource, fresh span ids per request) decoded and ingested by an in-process agent (decoder, intake,
 *    analysis registry, looks) with `ingest.dedup` on and off, in interleaved rounds (median reported).
 *    Event time advances at `rate` spans/s of simulated traffic, so the de-duplication tables fill and
 *    expire as in a live agent (steady state: the spans of the last horizon + one look interval).
 * 2. Memory per tracked span: `keys` span keys over 1,000 services × 7 windows, heap + array buffers measured
 *    after a full GC, against the table bytes the structure reports.
 */
import { SpanDedup } from '../../src/ingest/dedup.js';
import { LANE_SPANS, type Lane, gcFunction, heapAndBuffers, ingestLane, runLane } from './ingest-lane.js';

export interface DedupCostResult {
  rate: number;
  spansPerRequest: number;
  onSpansPerSec: number;
  offSpansPerSec: number;
  /** (off - on) / off, percent. */
  slowerPct: number;
  /** Keys tracked at the end of the run (dedup on), and spans left unchecked past ingest.dedupMaxSpans. */
  trackedAtEnd: number;
  uncheckedLimit: number;
  memory: { keys: number; heapBytesPerKey: number; tableBytesPerKey: number; buckets: number };
}

const SPANS = LANE_SPANS;

const lane = (dedup: boolean, start: number): Lane => ingestLane(`ingest: { dedup: ${dedup} }`, start);
const run = (l: Lane, requests: number, rate: number): number => runLane(l, requests, rate, 'wall');

function memoryPerKey(keys: number): DedupCostResult['memory'] {
  const gc = gcFunction();
  const used = heapAndBuffers;
  gc();
  const before = used();
  const d = new SpanDedup({ bucketMs: 10_000, horizonMs: 60_000, maxSpans: keys });
  const services = 1000;
  const perBatch = 500;
  let k = 1;
  for (let n = 0; n < keys; n += perBatch) {
    const svc = `svc-${(n / perBatch) % services}`;
    const end = 1_700_000_000_000 + Math.floor((n / keys) * 70_000);
    const batch = [];
    for (let i = 0; i < perBatch; i++) {
      k = (k * 48271) % 2147483647;
      batch.push({
        service: svc,
        version: '1',
        cohort: 'canary' as const,
        endUnixMs: end,
        durationMs: 1,
        error: false,
        spanKey: k * 1024 + (i & 1023),
      });
    }
    d.filter(batch);
  }
  gc();
  const after = used();
  const tracked = d.tracked;
  return {
    keys: tracked,
    heapBytesPerKey: (after - before) / tracked,
    tableBytesPerKey: d.tableBytes / tracked,
    buckets: d.bucketCount,
  };
}

export async function runDedupCost(opts: {
  rate: number;
  rounds: number;
  requestsPerRound: number;
  warmupRequests: number;
}): Promise<DedupCostResult> {
  const start = Date.now();
  const on = lane(true, start);
  const off = lane(false, start);
  run(on, opts.warmupRequests, opts.rate);
  run(off, opts.warmupRequests, opts.rate);
  const onUs: number[] = [];
  const offUs: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    onUs.push(run(on, opts.requestsPerRound, opts.rate));
    offUs.push(run(off, opts.requestsPerRound, opts.rate));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const spansPerSec = (us: number) => (opts.requestsPerRound * SPANS * 1e6) / us;
  const onRate = spansPerSec(median(onUs));
  const offRate = spansPerSec(median(offUs));
  const metrics = await on.agent.metrics.registry.getSingleMetricAsString('vigil_spans_unchecked_total');
  const limit = /reason="limit"} (\d+)/.exec(metrics);
  const trackedText = await on.agent.metrics.registry.getSingleMetricAsString('vigil_dedup_tracked_spans');
  const tracked = /vigil_dedup_tracked_spans (\d+)/.exec(trackedText);
  await on.agent.stop();
  await off.agent.stop();
  return {
    rate: opts.rate,
    spansPerRequest: SPANS,
    onSpansPerSec: onRate,
    offSpansPerSec: offRate,
    slowerPct: ((offRate - onRate) / offRate) * 100,
    trackedAtEnd: tracked ? Number(tracked[1]) : 0,
    uncheckedLimit: limit ? Number(limit[1]) : 0,
    memory: memoryPerKey(1_000_000),
  };
}
