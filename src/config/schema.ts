/**
 * Vigil's configuration: ONE schema, every key with a default documented here (README "Configuration"
 * mirrors it). Validated once at start (src/config/load.ts), then frozen.
 *
 * The `.meta({ description })` texts are the user-facing documentation of each key: they become the
 * descriptions of schema/vigil.schema.json (src/config/json-schema.ts, `npm run schema`), which editors
 * show on hover. Metadata never changes what the schema accepts.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';

const duration = (def: string, description: string) =>
  z
    .union([z.string(), z.number()])
    .default(def)
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `"${String(v)}" is not a duration`,
          params: { fix: 'write a duration such as 500ms, 10s, 5m or 1h' },
        });
        return z.NEVER;
      }
      return ms;
    })
    .meta({ description: `${description} A duration: 500ms, 10s, 5m, 1h30m, 2d, or a number of milliseconds.` });

const listen = (port: number) =>
  z
    .object({
      host: z
        .string()
        .min(1)
        .default('0.0.0.0')
        .meta({ description: 'Address to listen on (0.0.0.0: every interface).' }),
      port: z.number().int().min(0).max(65535).default(port).meta({ description: 'TCP port to listen on.' }),
    })
    .strict()
    .prefault({});

const name = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i, { message: 'names use letters, digits, ".", "_" and "-"' });

export const metricSchema = z
  .object({
    name: name.meta({
      description:
        'Name of the metric, unique among the metrics (letters, digits, ".", "_" and "-"); shown in verdicts, chat and the audit log.',
    }),
    detector: z.string().min(1).meta({ description: 'The detector that tests this metric (see docs/detectors.md).' }),
    options: z.record(z.string(), z.unknown()).default({}).meta({
      description: "The detector's options, checked by the detector when the config is loaded (see docs/detectors.md).",
    }),
    shadow: z.boolean().default(false).meta({
      description: 'Computed, recorded and shown, never acts: trial a detector on live traffic before trusting it.',
    }),
    weight: z
      .number()
      .positive()
      .default(1)
      .meta({ description: 'Bonferroni weight: this metric gets alpha * weight / sum(weights of acting metrics).' }),
    // Which telemetry the detector sees: src/analysis/evidence-source.ts.
    source: z.enum(['auto', 'spans', 'metrics', 'both']).default('auto').meta({
      description:
        'Which telemetry the detector sees: `auto` (per look: the spans when both cohorts have spans, else the OTLP metric histograms), `spans`, `metrics`, or `both` (summed; only for fleets where each instance exports one or the other).',
    }),
  })
  .strict();

export const DEFAULT_METRICS = [
  { name: 'error-rate', detector: 'error-rate-sequential', options: {}, shadow: false, weight: 1 },
  { name: 'latency', detector: 'latency-sequential', options: { tolerance: 0.05 }, shadow: false, weight: 1 },
  // The tail guard is part of the default set: the mean-of-log test barely sees a slower tail.
  {
    name: 'latency-p99',
    detector: 'latency-quantile',
    options: { quantile: 0.99, tolerance: 0.1 },
    shadow: false,
    weight: 1,
  },
];

const analysisSchema = z
  .object({
    interval: duration('10s', 'Look interval (event time): the detectors look at the cohorts once per interval.'),
    alpha: z
      .number()
      .gt(0)
      .lt(1)
      .default(0.05)
      .meta({ description: 'Family-wise false-rollback budget per analysis, split across acting metrics.' }),
    minSamples: z
      .number()
      .int()
      .min(1)
      .default(25)
      .meta({ description: 'Samples per cohort before any verdict other than inconclusive.' }),
    maxDuration: duration('30m', 'Longest analysis: then the canary is promoted if nothing failed.'),
    allowedLateness: duration(
      '5s',
      "How late (event time) a span may arrive behind its own cohort's latest span and still count in its look.",
    ),
    // Per-source event time: src/analysis/event-clock.ts.
    sourceIdleTimeout: duration(
      '30s',
      "A cohort that has not moved forward while the other moved this far (event time) stops holding the looks back; until then each look waits for both cohorts, however far behind one is. Above the longest pause of a cohort's pipeline (the SDK's export interval plus a Collector batch and retry).",
    ),
    baselineHistory: duration(
      '5m',
      "How much of the baseline's recent past (event time) is kept for a canary that starts late or whose past is backfilled: its analysis compares against the baseline looks that match.",
    ),
    silenceTimeout: duration(
      '5m',
      'A canary silent this long (event time) while the baseline keeps reporting is abandoned, never promoted.',
    ),
    metrics: z.array(metricSchema).min(1).prefault(DEFAULT_METRICS).meta({
      description:
        'The metrics every analysis tests, each with one detector. Absent: error-rate (error-rate-sequential), latency (latency-sequential) and latency-p99 (latency-quantile).',
    }),
  })
  .strict();

// Cardinality limits and event-time expiry: src/limits/limits.ts.
const limitsSchema = z
  .object({
    maxServices: z.number().int().min(1).default(10_000).meta({
      description: 'Services tracked at once; telemetry of further services is dropped (counted, logged once).',
    }),
    maxAnalyses: z
      .number()
      .int()
      .min(1)
      .default(5_000)
      .meta({ description: 'Analyses running at once over all services; further canary versions wait.' }),
    maxVersionsPerService: z
      .number()
      .int()
      .min(1)
      .default(64)
      .meta({ description: 'Versions remembered per service (canary, unknown-cohort and finished versions).' }),
    maxMetricStreams: z
      .number()
      .int()
      .min(1)
      .default(200_000)
      .meta({ description: 'OTLP metric streams held for cumulative-to-delta conversion.' }),
    serviceIdleTimeout: duration(
      '1h',
      'A service silent this long (event time, behind most other services) is forgotten.',
    ),
    finishedRetention: duration(
      '1h',
      'A finished analysis stays listed this long (event time) after its decision; its outcome is kept.',
    ),
  })
  .strict();

// The bounded ingest queue: src/ingest/admission/gate.ts.
const ingestSchema = z
  .object({
    maxInflightBytes: z
      .number()
      .int()
      .min(1024 * 1024)
      .default(128 * 1024 * 1024)
      .meta({
        description:
          'Estimated memory (bytes) of OTLP requests admitted and not yet aggregated (bodies raw and inflated); past it, requests are refused with 503 + Retry-After / UNAVAILABLE.',
      }),
    maxInflightRequests: z.number().int().min(1).default(128).meta({
      description:
        'OTLP requests admitted and not yet answered, HTTP and gRPC together; past it, requests are refused.',
    }),
    retryAfter: duration('1s', 'The delay refused clients are asked to wait (Retry-After, RetryInfo); at least 1s.'),
    workerDecodeBytes: z
      .number()
      .int()
      .min(0)
      .default(1024 * 1024)
      .meta({
        description: 'Trace bodies of at least this many bytes (after gzip) are decoded in worker threads; 0: never.',
      }),
    decodeWorkers: z
      .number()
      .int()
      .min(0)
      .max(64)
      .default(0)
      .meta({ description: 'Worker threads for large bodies; 0: one less than the CPUs (at least 1, at most 4).' }),
    dedup: z.boolean().default(true).meta({
      description:
        'De-duplicate request spans by trace id + span id, so that a batch delivered twice (a retry) counts once.',
    }),
    dedupMaxSpans: z.number().int().min(1000).default(1_000_000).meta({
      description:
        'Span ids remembered for de-duplication, all services together (about 50 bytes each); past it, spans are counted unchecked.',
    }),
    dedupHorizon: duration(
      '60s',
      "How long (event time, behind a service's latest span) span ids are remembered; at least analysis.allowedLateness is used.",
    ),
  })
  .strict();

const connectorSchema = z
  .object({
    name: name.meta({
      description:
        'Name of this connector or notifier, unique among both (letters, digits, ".", "_" and "-"); plans refer to connectors by it.',
    }),
    type: z
      .string()
      .min(1)
      .meta({ description: 'Which built-in connector or notifier this is (see docs/connectors.md).' }),
    options: z.record(z.string(), z.unknown()).default({}).meta({
      description:
        'Options of this type, checked by the connector itself when the config is loaded (see docs/connectors.md). Secrets belong in ${ENV} references.',
    }),
  })
  .strict();

const rolloutSchema = z
  .object({
    service: z
      .string()
      .min(1)
      .meta({ description: 'The service (OTLP resource attribute service.name) these settings apply to.' }),
    plan: z.array(z.string()).optional().meta({
      description: "Connector names applied in order on this service's rollback; defaults to the top-level `plan`.",
    }),
    canaryVersion: z
      .string()
      .optional()
      .meta({ description: "This service's canary is the telemetry with service.version equal to this." }),
    expectedCanaryShare: z.number().gt(0).lt(1).optional().meta({
      description:
        'Expected canary share of requests (between 0 and 1, exclusive), when known; the srm detector checks the split against it.',
    }),
    baseline: z.enum(['required', 'none']).default('required').meta({
      description:
        '`none`: this service ships without a baseline cohort; its analysis starts with the first canary sample and only absolute metrics (slo-guard) can fail it; it is promoted at analysis.maxDuration.',
    }),
  })
  .strict();

export const configSchema = z
  .object({
    server: z
      .object({
        otlpHttp: listen(4318).meta({
          description: 'OTLP/HTTP receiver (/v1/traces, /v1/metrics; protobuf or JSON, gzip).',
        }),
        otlpGrpc: listen(4317).meta({ description: 'OTLP/gRPC receiver (TraceService and MetricsService).' }),
        api: z
          .object({
            host: z
              .string()
              .min(1)
              .default('0.0.0.0')
              .meta({ description: 'Address to listen on (0.0.0.0: every interface).' }),
            port: z.number().int().min(0).max(65535).default(8080).meta({ description: 'TCP port to listen on.' }),
            publicUrl: z
              .string()
              .url()
              .optional()
              .meta({ description: 'Base URL used for links to decisions in chat messages.' }),
          })
          .strict()
          .prefault({})
          .meta({ description: 'Control API: /api/v1/*, the dashboard, /healthz, /readyz and /metrics.' }),
        auth: z
          .object({
            tokens: z.array(z.string()).default([]).meta({
              description:
                'Bearer tokens accepted by /api/* and the dashboard (health, readiness and metrics stay open); empty strings are ignored; none: the API is open to anyone who can reach it (warned at start). Write them as ${ENV} references.',
            }),
          })
          .strict()
          .prefault({})
          .meta({ description: 'Authentication of the control API.' }),
        maxBodyBytes: z
          .number()
          .int()
          .min(1024)
          .default(16 * 1024 * 1024)
          .meta({ description: 'OTLP request body limit in bytes, checked before and after decompression.' }),
        // The bounded shutdown: src/main.ts (stop) and src/cli.ts (serve).
        shutdownTimeout: duration(
          '30s',
          'On SIGTERM or SIGINT, how long Vigil waits for the recorded decisions to reach the queue, the active jobs to finish and the last checkpoint to be saved; then it exits anyway, even with Redis down or frozen, and logs what it left undone. Keep it below the grace period of your supervisor (Kubernetes: terminationGracePeriodSeconds).',
        ),
      })
      .strict()
      .prefault({})
      .meta({ description: 'The OTLP receivers, the control API and its authentication, the shutdown.' }),
    queue: z
      .object({
        redis: z.string().nullable().default(null).meta({
          description:
            'Redis URL (BullMQ queues); absent, null or empty: embedded in-process queue (single node, not durable).',
        }),
        prefix: z.string().min(1).default('vigil').meta({ description: 'Redis key prefix of the BullMQ queues.' }),
      })
      .strict()
      .prefault({})
      .meta({ description: 'Where rollback and notification jobs wait for their turn.' }),
    cohorts: z
      .object({
        attribute: z.string().min(1).default('vigil.cohort').meta({
          description:
            'Span or resource attribute naming the cohort (canary/candidate/experiment or baseline/control/stable/primary); checked first.',
        }),
        podLabels: z.array(z.string().min(1)).default(['track']).meta({
          description:
            'Kubernetes pod labels (resource attribute k8s.pod.label.<name>) whose value canary or stable/baseline/primary names the cohort; checked next.',
        }),
        canaryVersion: z.string().nullable().default(null).meta({
          description:
            'Last rule: telemetry whose service.version equals this is the canary, every other version the baseline; null: not used.',
        }),
      })
      .strict()
      .prefault({})
      .meta({
        description:
          'How telemetry is told apart as canary or baseline; the first rule that matches wins, else the cohort is unknown (never compared).',
      }),
    analysis: analysisSchema.prefault({}).meta({
      description:
        'How each canary is compared with its baseline: look interval, false-rollback budget, metrics and their detectors.',
    }),
    limits: limitsSchema
      .prefault({})
      .meta({ description: 'Cardinality limits and event-time expiry: memory is bounded by these, never by traffic.' }),
    ingest: ingestSchema.prefault({}).meta({
      description: 'The bounded queue between receiving OTLP requests and aggregating them (docs/ingest.md).',
    }),
    rollouts: z
      .array(rolloutSchema)
      .default([])
      .meta({ description: 'Optional per-service settings: rollback plan, canary version, expected split, baseline.' }),
    plan: z.array(z.string()).default([]).meta({
      description:
        'Default rollback plan: names of `connectors`, applied in order; empty: decisions are recorded and notified, nothing is rolled back.',
    }),
    connectors: z.array(connectorSchema).default([]).meta({
      description:
        'Rollback plan steps (feature flags, traffic, deployers, webhooks), referred to by name from `plan` and `rollouts[].plan`.',
    }),
    notifiers: z
      .array(connectorSchema)
      .default([])
      .meta({ description: 'Chat and paging notifiers: every decision is sent to each of them, on their own queue.' }),
    actions: z
      .object({
        mode: z.enum(['enforce', 'dry-run']).default('enforce').meta({
          description:
            '`enforce`: run the rollback plans; `dry-run`: decide and notify, change nothing (the kill switch).',
        }),
        stepTimeout: duration('20s', 'Time limit of one attempt of one plan step.'),
        attempts: z.number().int().min(1).max(50).default(5).meta({
          description: 'Attempts per plan step and per notification; retryable errors back off exponentially.',
        }),
        backoff: duration('1s', 'Delay after the first failed attempt; doubled after each further one.'),
        maxRollbacksPerService: z.number().int().min(1).default(3).meta({
          description:
            'Storm guard: at most this many rollbacks per service per stormWindow; further ones run no plan.',
        }),
        stormWindow: duration('1h', 'Window of the storm guard (maxRollbacksPerService).'),
      })
      .strict()
      .prefault({})
      .meta({ description: 'How rollback plans and notifications run.' }),
    audit: z
      .object({
        path: z
          .string()
          .min(1)
          .default('vigil-audit.jsonl')
          .meta({ description: 'Audit log file (JSON lines), fsynced before any job is enqueued.' }),
      })
      .strict()
      .prefault({})
      .meta({ description: 'The audit log: every decision, durable before anything acts on it.' }),
    // Checkpoints of the analyses: src/agent/checkpoints.ts.
    state: z
      .object({
        dir: z.string().min(1).nullable().default(null).meta({
          description:
            "Directory of the analyses' checkpoint on the embedded queue (absent or null: `vigil-state` beside audit.path). With queue.redis the checkpoint is kept in Redis instead.",
        }),
        checkpointInterval: duration(
          '5s',
          'How often the analyses are checkpointed (and at every decision and at shutdown): a kill -9 loses at most this much analysis progress.',
        ),
      })
      .strict()
      .prefault({})
      .meta({
        description:
          'What survives a restart: analyses (evidence, looks, phases), rolled-back versions and resume records, restored at start.',
      }),
    logging: z
      .object({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info')
          .meta({ description: 'Lowest level logged (JSON lines on stdout).' }),
      })
      .strict()
      .prefault({})
      .meta({ description: 'Logging.' }),
  })
  .strict()
  .meta({
    title: 'Vigil configuration',
    description:
      'Configuration of Vigil, the auto-rollback agent for canary releases (vigil --config vigil.yaml). Every key has a default, so {} is a valid config. Strings may use ${VAR} (an unset variable is an error) or ${VAR:-default}.',
  });

export type VigilConfig = z.output<typeof configSchema>;
export type MetricConfig = z.output<typeof metricSchema>;
export type ConnectorConfig = z.output<typeof connectorSchema>;
export type RolloutConfig = z.output<typeof rolloutSchema>;
