/**
 * Vigil's configuration: ONE schema, every key with a default documented here (README "Configuration"
 * mirrors it). Validated once at start (src/config/load.ts), then frozen.
 *
 * The `.meta({ description })` texts are the user-facing documentation of each key: they become the
 * descriptions of schema/vigil.schema.json (src/config/json-schema.ts, `npm run schema`), which editors
 * show on hover. Metadata never changes what the schema accepts.
 */
import { z } from 'zod';
import { formatDuration, parseDuration } from './duration.js';
import { whereOption } from '../../detectors/lib/options.js';

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const DAY = 24 * H;
const MiB = 1024 * 1024;

/** The range of a duration key, in milliseconds, and why its minimum is one (said when a value is below it). */
export interface DurationBounds {
  min: number;
  max: number;
  /** What goes wrong below `min` ("no look would ever close"); shown with the problem. */
  below?: string;
}

/**
 * The bounds of each duration key's schema (json-schema.ts puts them on the number form: the string form's
 * grammar cannot say them).
 */
export const DURATION_BOUNDS = new WeakMap<object, DurationBounds>();

const range = (b: DurationBounds) =>
  b.min === 0 ? `at most ${formatDuration(b.max)}` : `from ${formatDuration(b.min)} to ${formatDuration(b.max)}`;

const duration = (def: string, description: string, bounds: DurationBounds) => {
  const fix = `write a duration ${range(bounds)}, such as ${def}`;
  const parse = z
    .union([z.string(), z.number()])
    .default(def)
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === undefined) {
        const negative =
          typeof v === 'number' ? v < 0 : /^\s*-/.test(v) && parseDuration(v.trim().slice(1)) !== undefined;
        ctx.addIssue({
          code: 'custom',
          message: negative
            ? `"${String(v)}" is negative: a duration is ${range(bounds)}`
            : `"${String(v)}" is not a duration`,
          params: { fix: negative ? fix : 'write a duration such as 500ms, 10s, 5m or 1h' },
        });
        return z.NEVER;
      }
      if (ms < bounds.min || ms > bounds.max) {
        const low = ms < bounds.min;
        ctx.addIssue({
          code: 'custom',
          message: `must be ${low ? `at least ${formatDuration(bounds.min)}` : `at most ${formatDuration(bounds.max)}`}, got ${typeof v === 'string' ? v.trim() : `${v} (ms)`}${low && bounds.below ? `: ${bounds.below}` : ''}`,
          params: { fix },
        });
        return z.NEVER;
      }
      return ms;
    });
  const schema = parse.meta({
    description: `${description} A duration: 500ms, 10s, 5m, 1h30m, 2d, or a number of milliseconds; ${range(bounds)}.`,
  });
  // both: JSON Schema generation visits the schema and, under its metadata, the one it wraps
  DURATION_BOUNDS.set(parse, bounds);
  DURATION_BOUNDS.set(schema, bounds);
  return schema;
};

const PORT_DESCRIPTION =
  'TCP port to listen on (0: any free port); not one of the other listeners on the same address (a wildcard host shares every address).';

const listen = (port: number) =>
  z
    .object({
      host: z
        .string()
        .min(1)
        .default('0.0.0.0')
        .meta({ description: 'Address to listen on (0.0.0.0: every interface).' }),
      port: z.number().int().min(0).max(65535).default(port).meta({ description: PORT_DESCRIPTION }),
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
    acknowledgeNotAnytimeValid: z.boolean().default(false).meta({
      description:
        "true lets this metric act (shadow: false) with a detector that is not anytime-valid (kayenta-mann-whitney, or a plug-in that does not declare itself anytime-valid), knowing that its false alarms grow with the number of looks, beyond alpha; without it such a metric is refused unless it is shadow. Its verdicts and the decisions' explanations say it is not anytime-valid.",
    }),
    weight: z.number().min(0.001).max(1000).default(1).meta({
      description:
        'Bonferroni weight: this metric gets alpha * weight / sum(weights of acting metrics); 0.001 to 1000.',
    }),
    // Which telemetry the detector sees: src/analysis/evidence-source.ts.
    source: z.enum(['auto', 'spans', 'metrics', 'both']).default('auto').meta({
      description:
        'Which telemetry the detector sees: `auto` (per look: the spans when both cohorts have spans, else the OTLP metric histograms), `spans`, `metrics`, or `both` (summed; only for fleets where each instance exports one or the other).',
    }),
    where: whereOption.optional().meta({
      description:
        'Attribute filter: only the requests (spans, request-duration histogram points) or data points whose attributes match every key (value, or any of a list) count for this metric, e.g. { http.route: /checkout }. Span or point attributes first, else resource attributes; values compare as text (false matches a boolean false).',
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
    interval: duration('10s', 'Look interval (event time): the detectors look at the cohorts once per interval.', {
      min: S,
      max: H,
      below: 'no look would ever close, so no analysis would ever run',
    }),
    alpha: z.number().gt(0).max(0.5).default(0.05).meta({
      description:
        'Family-wise false-rollback budget per analysis, split across acting metrics; more than 0, at most 0.5.',
    }),
    minSamples: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(25)
      .meta({ description: 'Samples per cohort before any verdict other than inconclusive; 1 to 1,000,000.' }),
    maxDuration: duration(
      '30m',
      'Longest analysis: then the canary is promoted if nothing failed. Longer than analysis.interval.',
      { min: S, max: 30 * DAY },
    ),
    allowedLateness: duration(
      '5s',
      "How late (event time) a span may arrive behind its own cohort's latest span and still count in its look. Shorter than analysis.maxDuration.",
      { min: 0, max: H },
    ),
    // Per-source event time: src/analysis/event-clock.ts.
    sourceIdleTimeout: duration(
      '30s',
      "A cohort that has not moved forward while the other moved this far (event time) stops holding the looks back; until then each look waits for both cohorts, however far behind one is. Above the longest pause of a cohort's pipeline (the SDK's export interval plus a Collector batch and retry).",
      { min: 0, max: DAY },
    ),
    maxClockSkew: duration(
      '2m',
      'A span or metric point dated more than this after Vigil received it is refused (counted, and the sender told by a partial success); none moves a clock past the receive time. NTP keeps pods within milliseconds.',
      { min: S, max: DAY },
    ),
    baselineHistory: duration(
      '5m',
      "How much of the baseline's recent past (event time) is kept for a canary that starts late or whose past is backfilled: its analysis compares against the baseline looks that match. At most 1,000 look intervals.",
      { min: 0, max: DAY },
    ),
    silenceTimeout: duration(
      '5m',
      'A canary silent this long (event time) while the baseline keeps reporting is abandoned, never promoted. At least analysis.interval; keep it shorter than analysis.maxDuration (warned otherwise: a canary that goes silent could be promoted at maxDuration).',
      { min: S, max: 30 * DAY },
    ),
    routes: z
      .object({
        maxPerService: z.number().int().min(0).max(1_000).default(20).meta({
          description:
            "Routes compared as their own strata per service: canary and baseline are compared within each (look, route), so a canary that serves a different mix of endpoints is not taken for a regression. The route is http.route, else the span name of a non-HTTP span (gRPC: package.Service/Method). A service's first routes get a stratum each, later ones are pooled as '(other routes)'. 0 compares the cohorts' whole traffic (no strata). 0 to 1,000.",
        }),
      })
      .strict()
      .prefault({})
      .meta({ description: 'How requests are split into routes, the strata canary and baseline are compared within.' }),
    // Requests, not attempts: src/analysis/open-traces.ts.
    requestUnit: z.enum(['trace', 'span']).default('trace').meta({
      description:
        "What one request is. `trace`: the request spans of one trace, service and cohort that end in the same look are one request (a retried attempt is not a request of its own): failed when its last attempt failed, lasting from the first attempt's start to the last one's end (limits.maxOpenTraces bounds the memory). `span`: every SERVER/CONSUMER span is a request, as in earlier versions (for retries that start a new trace).",
    }),
    metrics: z.array(metricSchema).min(1).prefault(DEFAULT_METRICS).meta({
      description:
        'The metrics every analysis tests, each with one detector. Absent: error-rate (error-rate-sequential), latency (latency-sequential) and latency-p99 (latency-quantile).',
    }),
  })
  .strict();

// Cardinality limits and event-time expiry: src/limits/limits.ts; name lengths: src/ingest/bounded-text.ts.
const limitsSchema = z
  .object({
    maxServices: z.number().int().min(1).max(1_000_000).default(10_000).meta({
      description:
        'Services tracked at once (1 to 1,000,000). When they are all tracked, a new service takes the place of the least recently active one still on probation (see serviceProbation); with none on probation, its telemetry is dropped (counted, logged once).',
    }),
    maxAnalyses: z.number().int().min(1).max(1_000_000).default(5_000).meta({
      description: 'Analyses running at once over all services; further canary versions wait. 1 to 1,000,000.',
    }),
    maxVersionsPerService: z.number().int().min(1).max(10_000).default(64).meta({
      description: 'Versions remembered per service (canary, unknown-cohort and finished versions); 1 to 10,000.',
    }),
    serviceProbation: z.number().int().min(0).max(1_000_000).default(20).meta({
      description:
        'Requests (spans, or requests in metric points) a new service sends before it holds its place for good; until then, and until an analysis of it starts, a newer service may take its place when maxServices are tracked (least recently active first), so a flood of one-off service names cannot lock real services out. 0: no probation (past maxServices, new services wait for idle ones to expire).',
    }),
    // DEFAULT_MAX_NAME_BYTES and MIN_MAX_NAME_BYTES of src/ingest/bounded-text.ts
    maxNameLength: z.number().int().min(64).max(65_536).default(256).meta({
      description:
        'Longest text kept from telemetry, in UTF-8 bytes: spans and metric points whose service.name is longer are refused (OTLP partial success); a longer version (service.version, pod label) or route (http.route, span name) is kept cut: its first bytes, "~" and 16 hex digits of its SHA-256; longer cohort attribute or pod label values are ignored.',
    }),
    maxMetricStreams: z
      .number()
      .int()
      .min(1)
      .max(100_000_000)
      .default(200_000)
      .meta({ description: 'OTLP metric streams held for cumulative-to-delta conversion; 1 to 100,000,000.' }),
    maxOpenTraces: z.number().int().min(1000).max(100_000_000).default(1_000_000).meta({
      description:
        'Requests remembered to fold their retries in (analysis.requestUnit trace), all services together, 66 to ~340 bytes each (measured). The requests of a look leave when it closes; past this many, those of the oldest look are forgotten (vigil_limit_evicted_total{limit="open-traces"}) and their later attempts count as new requests. The default covers about 80,000 requests/s with 10 s looks. 1,000 to 100,000,000.',
    }),
    serviceIdleTimeout: duration(
      '1h',
      'A service silent this long (event time, behind most other services) is forgotten, with its running analyses. At least analysis.interval and analysis.sourceIdleTimeout.',
      { min: S, max: 30 * DAY },
    ),
    finishedRetention: duration(
      '1h',
      'A finished analysis stays listed this long (event time) after its decision; its outcome is kept.',
      { min: 0, max: 30 * DAY },
    ),
  })
  .strict();

// The bounded ingest queue: src/ingest/admission/gate.ts.
const ingestSchema = z
  .object({
    maxInflightBytes: z
      .number()
      .int()
      .min(MiB)
      .max(16 * 1024 * MiB)
      .default(128 * MiB)
      .meta({
        description:
          'Estimated memory (bytes) of OTLP requests admitted and not yet aggregated (bodies raw and inflated); past it, requests are refused with 503 + Retry-After / UNAVAILABLE. 1 MiB to 16 GiB.',
      }),
    maxInflightRequests: z.number().int().min(1).max(100_000).default(128).meta({
      description:
        'OTLP requests admitted and not yet answered, HTTP and gRPC together; past it, requests are refused. 1 to 100,000.',
    }),
    retryAfter: duration('1s', 'The delay refused clients are asked to wait (Retry-After, RetryInfo).', {
      min: S,
      max: 5 * MIN,
      below: 'Retry-After counts whole seconds',
    }),
    headersTimeout: duration(
      '10s',
      'Time an OTLP/HTTP client gets to send the headers of a request once it has started it (or connected); past it: 408 and the connection is closed.',
      { min: S, max: 10 * MIN },
    ),
    bodyTimeout: duration(
      '60s',
      "Time from an OTLP request's headers to the last byte of its body (HTTP; past it: 408 + google.rpc.Status, not retried, and the connection is closed) or to its whole message (gRPC; past it: DEADLINE_EXCEEDED). A request waiting for its body holds a slot of maxInflightRequests, never bytes. 60s lets a 16 MiB body arrive at 2.3 Mbit/s (the Collector's own export timeout is 30s).",
      { min: S, max: H },
    ),
    idleTimeout: duration(
      '2m',
      'An OTLP connection with nothing in flight for this long is closed: HTTP keep-alive connections between requests (and sockets where nothing moves), gRPC connections without calls (GOAWAY). Clients reconnect when they next export.',
      { min: S, max: DAY },
    ),
    maxStreamsPerConnection: z.number().int().min(1).max(1024).default(16).meta({
      description:
        'Concurrent OTLP/gRPC calls (HTTP/2 streams) on one connection; clients queue the rest. Bounds what one connection can hold of maxInflightRequests (a Collector sends at most sending_queue.num_consumers, 10 by default, at once).',
    }),
    workerDecodeBytes: z
      .number()
      .int()
      .min(0)
      .max(1024 * MiB)
      .default(MiB)
      .meta({
        description:
          'Trace bodies of at least this many bytes (after gzip) are decoded in worker threads; 0: never. At most 1 GiB.',
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
    dedupMaxSpans: z.number().int().min(1000).max(100_000_000).default(1_000_000).meta({
      description:
        'Span ids remembered for de-duplication, all services together (about 50 bytes each); past it, spans are counted unchecked. 1,000 to 100,000,000.',
    }),
    dedupHorizon: duration(
      '60s',
      "How long (event time, behind a service's latest span) span ids are remembered; at least analysis.allowedLateness is used.",
      { min: 0, max: DAY },
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

/** `rollouts[].promote` (issue 17): the steps of a progressive rollout Vigil drives through a connector. */
export const promotionSchema = z
  .object({
    via: z.string().min(1).meta({
      description:
        'The connector (under connectors:) that sets the canary share: a traffic connector (nginx, haproxy, gateway-api, istio) or a flag connector.',
    }),
    steps: z
      .array(z.number().gt(0).max(100))
      .min(1)
      .refine((xs) => xs.every((x, i) => i === 0 || x > xs[i - 1]!), { message: 'steps must increase' })
      .refine((xs) => xs[xs.length - 1] === 100, { message: 'the last step must be 100 (the whole traffic)' })
      .meta({
        description:
          'Canary share of traffic at each step, in percent, increasing, ending at 100: [1, 5, 25, 50, 100].',
      }),
    minLooksPerStep: z.number().int().min(1).max(10_000).default(6).meta({
      description: 'Looks at each share before the next step (and analysis.minSamples per cohort at that share).',
    }),
    approve: z.array(z.number().gt(0).max(100)).default([]).meta({
      description: 'Steps (shares, each one of `steps`) that wait for a person to approve them (API, CLI, dashboard).',
    }),
  })
  .strict()
  .refine((p) => p.approve.every((a) => p.steps.includes(a)), {
    message: 'every approve entry must be one of steps',
    path: ['approve'],
  });

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
    drill: z
      .object({
        every: duration(
          '7d',
          "How often the agent rehearses this service's rollback (a dry-run drill, docs/drills.md).",
          {
            min: 10_000,
            max: 366 * 86_400_000,
            below: 'drills would run back to back',
          },
        ),
      })
      .strict()
      .optional()
      .meta({
        description:
          'Regular rollback drills run by the agent itself (dry runs: nothing real is touched), kept in the audit log and shown on the dashboard; not in cluster mode.',
      }),
    promote: promotionSchema.optional().meta({
      description:
        'A promotion plan (docs/promotion.md): Vigil moves the canary share through these steps itself, through a traffic or flag connector, each step once the analysis has enough evidence at that share and no metric failed.',
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
            port: z.number().int().min(0).max(65535).default(8080).meta({ description: PORT_DESCRIPTION }),
            publicUrl: z.string().url().optional().meta({
              description:
                "Base URL of the API as people reach it (a proxy, SSO): chat messages link to each decision's report there (/api/v1/decisions/<id>/report), and reports print it in their resume commands.",
            }),
          })
          .strict()
          .prefault({})
          .meta({ description: 'Control API: /api/v1/*, the dashboard, /healthz, /readyz and /metrics.' }),
        auth: z
          .object({
            tokens: z
              .array(
                z.union([
                  z.string().min(1),
                  z
                    .object({
                      name: z
                        .string()
                        .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" and "-", at most 64')
                        .meta({ description: 'Who holds the token: recorded with every action taken with it.' }),
                      token: z.string().min(1).meta({ description: 'The bearer token, as an ${ENV} reference.' }),
                      scopes: z
                        .array(z.enum(['read', 'operate']))
                        .min(1)
                        .meta({
                          description:
                            'read: analyses, decisions, the dashboard, the judge endpoints; operate: the actions (resume, pause, rollback, promote).',
                        }),
                    })
                    .strict(),
                ]),
              )
              .default([])
              .meta({
                description:
                  'Bearer tokens accepted by /api/* and the dashboard (health, readiness and metrics stay open). A plain string carries both scopes (read and operate); `{ name, token, scopes: [read] }` a name (recorded with each action) and only the scopes listed. Write tokens as ${ENV} references (${VIGIL_TOKEN}, never ${VIGIL_TOKEN:-}). Each is visible ASCII without spaces; an empty one is an error, never an open API. None and no `open: true`: `vigil serve` refuses to start.',
              }),
            open: z.boolean().default(false).meta({
              description:
                'true: the control API and the dashboard need no token, so anyone who can reach them can read every analysis and decision and resume rolled-back versions (logged as a warning at start). Only without tokens; for a local demo or an API reachable by trusted hosts alone.',
            }),
          })
          .strict()
          .prefault({})
          .meta({
            description:
              'Authentication of the control API: bearer tokens, or `open: true` said out loud; `vigil serve` refuses a config with neither.',
          }),
        maxBodyBytes: z
          .number()
          .int()
          .min(1024)
          .max(1024 * MiB)
          .default(16 * MiB)
          .meta({
            description: 'OTLP request body limit in bytes, checked before and after decompression; 1 KiB to 1 GiB.',
          }),
        // The bounded shutdown: src/main.ts (stop) and src/cli.ts (serve).
        shutdownTimeout: duration(
          '30s',
          'On SIGTERM or SIGINT, how long Vigil waits for the recorded decisions to reach the queue, the active jobs to finish and the last checkpoint to be saved; then it exits anyway, even with Redis down or frozen, and logs what it left undone. Keep it below the grace period of your supervisor (Kubernetes: terminationGracePeriodSeconds).',
          { min: S, max: H },
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
        jobLock: duration(
          '30s',
          "How long a running job's lock lives without renewal (BullMQ lockDuration; the stalled check runs as often): the job of a replica that died (kill -9) runs again on another replica within twice this. Keep actions.stepTimeout below it.",
          { min: S, max: 10 * MIN, below: 'a job still running would be taken for stalled between two lock renewals' },
        ),
      })
      .strict()
      .prefault({})
      .meta({ description: 'Where rollback and notification jobs wait for their turn.' }),
    cluster: z
      .object({
        enabled: z.boolean().default(false).meta({
          description:
            'Run as one of several replicas on one Redis (queue.redis required): each service is owned by one replica at a time through a lease in Redis, analyses are checkpointed per service in Redis and continued by the next owner, each decision is claimed in Redis so it is made once. See docs/cluster.md.',
        }),
        replicaId: z
          .string()
          .min(1)
          .max(200)
          .regex(/^[^|\s]+$/, 'no spaces and no "|"')
          .nullable()
          .default(null)
          .meta({
            description:
              "This replica's name in GET /api/v1/cluster and the logs (absent or null: the host name). A random suffix is added per process, so a restarted replica is a new owner.",
          }),
        advertiseUrl: z.string().url().nullable().default(null).meta({
          description:
            "Where the other replicas reach this replica's control API to forward requests for the services it owns (absent or null: http://<host name>:<server.api.port>; on Kubernetes the pod's name on a headless Service).",
        }),
        leaseTtl: duration(
          '15s',
          "A service's lease lives this long without renewal (renewed every third of it): after a replica dies, its services wait at most this long before a survivor takes them over.",
          { min: 3 * S, max: 10 * MIN, below: 'a renewal delayed by one slow Redis round trip would lose every lease' },
        ),
        handoverQuiet: duration(
          '5s',
          "When another replica receives a service's telemetry (the ring of a load balancer changed), the owner hands the service over once it has received none of it for this long.",
          {
            min: 100,
            max: 10 * MIN,
            below: 'two replicas that both still receive a service would pass it back and forth',
          },
        ),
      })
      .strict()
      .prefault({})
      .meta({
        description:
          'Several replicas on one Redis: service ownership, failover and one control plane (docs/cluster.md).',
      }),
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
        stepTimeout: duration('20s', 'Time limit of one attempt of one plan step.', {
          min: 100,
          max: H,
          below: 'no vendor answers that fast, so every step would time out',
        }),
        attempts: z.number().int().min(1).max(50).default(5).meta({
          description:
            'Attempts per plan step and per notification; retryable errors back off exponentially. 1 to 50, and the last wait (backoff * 2^(attempts-2)) at most 1h.',
        }),
        backoff: duration('1s', 'Delay after the first failed attempt; doubled after each further one.', {
          min: 0,
          max: H,
        }),
        maxRollbacksPerService: z.number().int().min(1).max(1000).default(3).meta({
          description:
            'Storm guard: at most this many rollbacks per service per stormWindow; further ones run no plan. 1 to 1000.',
        }),
        stormWindow: duration('1h', 'Window of the storm guard (maxRollbacksPerService); at least analysis.interval.', {
          min: S,
          max: 30 * DAY,
        }),
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
          { min: 100, max: H, below: 'the agent would do little else than checkpoint' },
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
      'Configuration of Vigil, the auto-rollback agent for canary releases (vigil --config vigil.yaml). Every key has a default; `vigil serve` also needs server.auth.tokens (or server.auth.open: true). Strings may use ${VAR} (an unset variable is an error) or ${VAR:-default}.',
  });

export type VigilConfig = z.output<typeof configSchema>;
export type MetricConfig = z.output<typeof metricSchema>;
export type ConnectorConfig = z.output<typeof connectorSchema>;
export type RolloutConfig = z.output<typeof rolloutSchema>;
