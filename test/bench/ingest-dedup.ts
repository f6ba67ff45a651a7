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
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseConfig } from '../../src/config/load.js';
import { DEFAULT_COHORT_RULES } from '../../src/ingest/cohort.js';
import { SpanDedup } from '../../src/ingest/dedup.js';
import { decodeTracesProtobuf } from '../../src/ingest/otlp/decode-traces-protobuf.js';
import { silentLogger } from '../../src/logger.js';
import { createAgent, type Agent } from '../../src/main.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';
import { fleet } from './ingest-payload.js';
import { TrafficSource } from './ingest-traffic.js';

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

const SPANS = 500;

interface Lane {
  agent: Agent;
  source: TrafficSource;
  simMs: number;
}

function lane(dedup: boolean, start: number): Lane {
  const agent = createAgent({
    loaded: parseConfig(`ingest: { dedup: ${dedup} }`, 'bench.yaml', BUILTIN_REGISTRIES, {}),
    registries: BUILTIN_REGISTRIES,
    logger: silentLogger(),
    auditPath: '/dev/null',
  });
  const services = fleet(1000);
  const source = new TrafficSource('protobuf', {
    services,
    requests: 100,
    spansPerRequest: SPANS,
    spansPerResource: 25,
    seed: 11,
  });
  return { agent, source, simMs: start };
}

/** Runs `requests` requests through the lane; returns the µs spent decoding and ingesting. */
function run(l: Lane, requests: number, rate: number): number {
  let us = 0;
  const stepMs = (SPANS / rate) * 1000;
  for (let i = 0; i < requests; i++) {
    l.simMs += stepMs;
    l.source.refresh(l.simMs, 1);
    const body = l.source.take().body;
    const t0 = performance.now();
    l.agent.ingest(decodeTracesProtobuf(body, DEFAULT_COHORT_RULES).samples);
    us += (performance.now() - t0) * 1000;
  }
  return us;
}

function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function memoryPerKey(keys: number): DedupCostResult['memory'] {
  const gc = gcFunction();
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
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
