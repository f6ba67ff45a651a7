/**
 * Vigil's configuration: ONE schema, every key with a default documented here (README "Configuration"
 * mirrors it). Validated once at start (src/config/load.ts), then frozen.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';

const duration = (def: string) =>
  z
    .union([z.string(), z.number()])
    .default(def)
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${String(v)}" is not a duration`, params: { fix: 'write a duration such as 500ms, 10s, 5m or 1h' } });
        return z.NEVER;
      }
      return ms;
    });

const listen = (port: number) =>
  z
    .object({
      host: z.string().min(1).default('0.0.0.0'),
      port: z.number().int().min(0).max(65535).default(port),
    })
    .strict()
    .prefault({});

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]*$/i, { message: 'names use letters, digits, ".", "_" and "-"' });

export const metricSchema = z
  .object({
    name,
    detector: z.string().min(1),
    options: z.record(z.string(), z.unknown()).default({}),
    /** Computed, recorded and shown, never acts. */
    shadow: z.boolean().default(false),
    /** Bonferroni weight: this metric gets alpha * weight / sum(weights of acting metrics). */
    weight: z.number().positive().default(1),
    /**
     * Which telemetry the detector sees (src/analysis/evidence-source.ts): `auto` (per look: the spans when
     * both cohorts have spans, else the OTLP metric histograms), `spans`, `metrics`, or `both` (summed; only
     * for fleets where each instance exports one or the other).
     */
    source: z.enum(['auto', 'spans', 'metrics', 'both']).default('auto'),
  })
  .strict();

export const DEFAULT_METRICS = [
  { name: 'error-rate', detector: 'error-rate-sequential', options: {}, shadow: false, weight: 1 },
  { name: 'latency', detector: 'latency-sequential', options: { tolerance: 0.05 }, shadow: false, weight: 1 },
  // The tail guard is part of the default set: the mean-of-log test barely sees a slower tail.
  { name: 'latency-p99', detector: 'latency-quantile', options: { quantile: 0.99, tolerance: 0.1 }, shadow: false, weight: 1 },
];

const analysisSchema = z
  .object({
    interval: duration('10s'),
    /** Family-wise false-rollback budget per analysis, split across acting metrics. */
    alpha: z.number().gt(0).lt(1).default(0.05),
    /** Per cohort, before any verdict other than inconclusive. */
    minSamples: z.number().int().min(1).default(25),
    /** Then promote if nothing failed. */
    maxDuration: duration('30m'),
    /** How late (event time) a span may arrive and still count in its look. */
    allowedLateness: duration('5s'),
    /** A canary silent this long (event time) while the baseline keeps reporting is abandoned. */
    silenceTimeout: duration('5m'),
    metrics: z.array(metricSchema).min(1).prefault(DEFAULT_METRICS),
  })
  .strict();

/** Cardinality limits and event-time expiry (src/ingest/backpressure-limits.ts). */
const limitsSchema = z
  .object({
    /** Services tracked at once; telemetry of further services is dropped (counted, logged once). */
    maxServices: z.number().int().min(1).default(10_000),
    /** Analyses running at once over all services; further canary versions wait. */
    maxAnalyses: z.number().int().min(1).default(5_000),
    /** Versions remembered per service (canary, unknown-cohort and finished versions). */
    maxVersionsPerService: z.number().int().min(1).default(64),
    /** Metric streams held for cumulative→delta conversion. */
    maxMetricStreams: z.number().int().min(1).default(200_000),
    /** A service silent this long (event time, behind most other services) is forgotten. */
    serviceIdleTimeout: duration('1h'),
    /** A finished analysis stays listed this long (event time) after its decision; its outcome is kept. */
    finishedRetention: duration('1h'),
  })
  .strict();

/** The bounded ingest queue (src/ingest/backpressure-gate.ts): past it, 503 + Retry-After / UNAVAILABLE. */
const ingestSchema = z
  .object({
    /** Estimated memory of OTLP requests admitted and not yet aggregated (bodies raw and inflated). */
    maxInflightBytes: z.number().int().min(1024 * 1024).default(128 * 1024 * 1024),
    /** OTLP requests admitted and not yet answered, HTTP and gRPC together. */
    maxInflightRequests: z.number().int().min(1).default(128),
    /** The delay refused clients are asked to wait (Retry-After, RetryInfo); at least 1s. */
    retryAfter: duration('1s'),
    /** Trace bodies of at least this many bytes (after gzip) are decoded in worker threads; 0: never. */
    workerDecodeBytes: z.number().int().min(0).default(1024 * 1024),
    /** Worker threads for large bodies; 0: one less than the CPUs (at least 1, at most 4). */
    decodeWorkers: z.number().int().min(0).max(64).default(0),
  })
  .strict();

const connectorSchema = z
  .object({ name, type: z.string().min(1), options: z.record(z.string(), z.unknown()).default({}) })
  .strict();

const rolloutSchema = z
  .object({
    service: z.string().min(1),
    /** Connector names applied in order on rollback; defaults to the top-level `plan`. */
    plan: z.array(z.string()).optional(),
    /** This service's canary is the telemetry with service.version equal to this. */
    canaryVersion: z.string().optional(),
    /** Expected canary share of requests (0..1), when known. */
    expectedCanaryShare: z.number().gt(0).lt(1).optional(),
    /** `none`: this service ships without a baseline cohort; its analysis starts with the first canary
     *  sample and only absolute metrics (slo-guard) can fail it; it is promoted at maxDuration. */
    baseline: z.enum(['required', 'none']).default('required'),
  })
  .strict();

export const configSchema = z
  .object({
    server: z
      .object({
        otlpHttp: listen(4318),
        otlpGrpc: listen(4317),
        api: z
          .object({
            host: z.string().min(1).default('0.0.0.0'),
            port: z.number().int().min(0).max(65535).default(8080),
            /** Base URL used for links to decisions in chat messages. */
            publicUrl: z.string().url().optional(),
          })
          .strict()
          .prefault({}),
        auth: z.object({ tokens: z.array(z.string()).default([]) }).strict().prefault({}),
        /** OTLP request body limit, checked before and after decompression. */
        maxBodyBytes: z.number().int().min(1024).default(16 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    queue: z
      .object({
        /** Redis URL; absent or empty: embedded in-process queue (single node, not durable). */
        redis: z.string().nullable().default(null),
        prefix: z.string().min(1).default('vigil'),
      })
      .strict()
      .prefault({}),
    cohorts: z
      .object({
        attribute: z.string().min(1).default('vigil.cohort'),
        podLabels: z.array(z.string().min(1)).default(['track']),
        canaryVersion: z.string().nullable().default(null),
      })
      .strict()
      .prefault({}),
    analysis: analysisSchema.prefault({}),
    limits: limitsSchema.prefault({}),
    ingest: ingestSchema.prefault({}),
    rollouts: z.array(rolloutSchema).default([]),
    plan: z.array(z.string()).default([]),
    connectors: z.array(connectorSchema).default([]),
    notifiers: z.array(connectorSchema).default([]),
    actions: z
      .object({
        mode: z.enum(['enforce', 'dry-run']).default('enforce'),
        stepTimeout: duration('20s'),
        attempts: z.number().int().min(1).max(50).default(5),
        backoff: duration('1s'),
        /** Storm guard: at most this many rollbacks per service per window. */
        maxRollbacksPerService: z.number().int().min(1).default(3),
        stormWindow: duration('1h'),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({ path: z.string().min(1).default('vigil-audit.jsonl') })
      .strict()
      .prefault({}),
    logging: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .prefault({}),
  })
  .strict();

export type VigilConfig = z.output<typeof configSchema>;
export type MetricConfig = z.output<typeof metricSchema>;
export type ConnectorConfig = z.output<typeof connectorSchema>;
export type RolloutConfig = z.output<typeof rolloutSchema>;
