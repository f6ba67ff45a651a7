/**
 * An in-process ingest lane for the cost benches (ingest-dedup.ts, ingest-open-traces.ts): an agent built from a
 * config snippet, fed the soak traffic (1,000 services with canaries, 500-span protobuf requests, 25 spans a
 * resource) with event time advancing at `rate` spans/s, and the memory probes both benches use.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseConfig } from '../../src/config/load.js';
import { DEFAULT_COHORT_RULES } from '../../src/ingest/cohort.js';
import { decodeTracesProtobuf } from '../../src/ingest/otlp/decode-traces-protobuf.js';
import { silentLogger } from '../../src/logger.js';
import { createAgent, type Agent } from '../../src/main.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';
import { fleet } from './ingest-payload.js';
import { TrafficSource } from './ingest-traffic.js';

export const LANE_SPANS = 500;

export interface Lane {
  agent: Agent;
  source: TrafficSource;
  simMs: number;
}

/** An agent on `configYaml` and its traffic from event time `start`; `retryEvery`: every k-th span a retry. */
export function ingestLane(configYaml: string, start: number, retryEvery = 0): Lane {
  const agent = createAgent({
    loaded: parseConfig(configYaml, 'bench.yaml', BUILTIN_REGISTRIES, {}),
    registries: BUILTIN_REGISTRIES,
    logger: silentLogger(),
    auditPath: '/dev/null',
  });
  const source = new TrafficSource('protobuf', {
    services: fleet(1000),
    requests: 100,
    spansPerRequest: LANE_SPANS,
    spansPerResource: 25,
    seed: 11,
    ...(retryEvery > 0 ? { retryEvery } : {}),
  });
  return { agent, source, simMs: start };
}

/**
 * Runs `requests` requests through the lane; returns the µs spent decoding and ingesting them: `wall` time, or
 * `cpu` time of this process (all threads, the garbage collector's helpers included; on a shared machine another
 * process taking the core inflates wall time, not this process's CPU time).
 */
export function runLane(l: Lane, requests: number, rate: number, clock: 'wall' | 'cpu'): number {
  let us = 0;
  const stepMs = (LANE_SPANS / rate) * 1000;
  for (let i = 0; i < requests; i++) {
    l.simMs += stepMs;
    l.source.refresh(l.simMs, 1);
    const body = l.source.take().body;
    if (clock === 'cpu') {
      const c0 = process.cpuUsage();
      l.agent.ingest(decodeTracesProtobuf(body, DEFAULT_COHORT_RULES).samples);
      const c = process.cpuUsage(c0);
      us += c.user + c.system;
    } else {
      const t0 = performance.now();
      l.agent.ingest(decodeTracesProtobuf(body, DEFAULT_COHORT_RULES).samples);
      us += (performance.now() - t0) * 1000;
    }
  }
  return us;
}

/** The V8 garbage collector as a function (--expose-gc set at run time). */
export function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Heap used plus array buffers, bytes: what a table of this process holds, measured after a full GC. */
export function heapAndBuffers(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
