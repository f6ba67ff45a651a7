/** Vigil's own Prometheus metrics (served on the API port at /metrics). One registry per agent. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface VigilMetrics {
  registry: Registry;
  spansAccepted: Counter<'transport' | 'encoding'>;
  spansRejected: Counter<'transport' | 'reason'>;
  requestsRejected: Counter<'transport' | 'status'>;
  otlpDropped: Counter<'signal'>;
  samples: Counter<'cohort'>;
  analyses: Gauge<'state'>;
  looks: Counter;
  decisions: Counter<'outcome'>;
  jobs: Counter<'queue' | 'outcome' | 'connector'>;
  queueLag: Gauge<'queue'>;
  queueDepth: Gauge<'queue' | 'state'>;
  ingestInflightRequests: Gauge;
  ingestInflightBytes: Gauge;
  ingestThrottled: Counter<'transport' | 'reason'>;
  limitRefused: Counter<'limit'>;
  limitReached: Counter<'limit'>;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): VigilMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'vigil_process_' });
  const r = [registry];
  return {
    registry,
    spansAccepted: new Counter({ name: 'vigil_otlp_spans_accepted_total', help: 'Spans accepted over OTLP', labelNames: ['transport', 'encoding'], registers: r }),
    spansRejected: new Counter({ name: 'vigil_otlp_spans_rejected_total', help: 'Spans rejected (partial success)', labelNames: ['transport', 'reason'], registers: r }),
    requestsRejected: new Counter({ name: 'vigil_otlp_requests_rejected_total', help: 'OTLP requests answered with an error status', labelNames: ['transport', 'status'], registers: r }),
    otlpDropped: new Counter({ name: 'vigil_otlp_dropped_bytes_total', help: 'OTLP payload bytes accepted and dropped unread (signals Vigil does not analyse yet)', labelNames: ['signal'], registers: r }),
    samples: new Counter({ name: 'vigil_request_samples_total', help: 'Request samples by cohort (unknown = not compared)', labelNames: ['cohort'], registers: r }),
    analyses: new Gauge({ name: 'vigil_analyses', help: 'Analyses by state', labelNames: ['state'], registers: r }),
    looks: new Counter({ name: 'vigil_looks_total', help: 'Looks evaluated', registers: r }),
    decisions: new Counter({ name: 'vigil_decisions_total', help: 'Decisions by outcome', labelNames: ['outcome'], registers: r }),
    jobs: new Counter({ name: 'vigil_jobs_total', help: 'Job outcomes by queue', labelNames: ['queue', 'outcome', 'connector'], registers: r }),
    queueLag: new Gauge({ name: 'vigil_queue_lag_seconds', help: 'Age of the oldest waiting job', labelNames: ['queue'], registers: r }),
    queueDepth: new Gauge({ name: 'vigil_queue_jobs', help: 'Jobs by queue and state', labelNames: ['queue', 'state'], registers: r }),
    ingestInflightRequests: new Gauge({ name: 'vigil_ingest_inflight_requests', help: 'OTLP requests admitted by the ingest queue and not yet answered', registers: r }),
    ingestInflightBytes: new Gauge({ name: 'vigil_ingest_inflight_bytes', help: 'Estimated memory held by admitted OTLP requests (ingest.maxInflightBytes bounds it)', registers: r }),
    ingestThrottled: new Counter({ name: 'vigil_ingest_throttled_total', help: 'OTLP requests refused because the ingest queue was full (503 / UNAVAILABLE, retried by clients)', labelNames: ['transport', 'reason'], registers: r }),
    limitRefused: new Counter({ name: 'vigil_limit_refused_total', help: 'Samples or streams dropped because a cardinality limit was reached', labelNames: ['limit'], registers: r }),
    limitReached: new Counter({ name: 'vigil_limit_reached_total', help: 'Times a cardinality limit was reached (each also logged once)', labelNames: ['limit'], registers: r }),
  };
}
