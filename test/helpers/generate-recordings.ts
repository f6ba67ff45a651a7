/**
 * Generates the committed fixture recordings under fixtures/recordings/ (see its README): OTLP JSON lines
 * as the Collector's file exporter writes them, serialised by the REAL OpenTelemetry JS SDK
 * (BasicTracerProvider spans, `JsonTraceSerializer` of @opentelemetry/otlp-transformer), gzip-compressed.
 * Deterministic: a seeded PRNG draws traffic, times and ids, so the same seed gives the same bytes.
 *
 *   node --import tsx test/helpers/generate-recordings.ts            # rewrites both fixtures
 *
 * Each line is one event-time slice of `lineMs` holding the spans of every service that ended in it, grouped
 * by resource as an SDK or a Collector batch does.
 */
import { gzipSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type IdGenerator,
} from '@opentelemetry/sdk-trace-base';
import { seededRandom } from '../../src/demo/traffic-generator.js';

/** 2026-01-01T00:00:00Z: fixtures live at a fixed event time. */
export const RECORDING_T0 = 1_767_225_600_000;

export interface CohortSpec {
  version: string;
  /** `vigil.cohort` resource attribute; absent = the cohort is unknown to Vigil. */
  cohort?: 'baseline' | 'canary';
  /** Mean requests per second (Poisson). */
  ratePerSec: number;
  /** Overrides of the service's error rate and latency for this cohort (a regressed canary). */
  errorRate?: number;
  latencyFactor?: number;
}

export interface ServiceSpec {
  name: string;
  route: string;
  cohorts: CohortSpec[];
  /** Probability that a request fails (HTTP 500, status ERROR). */
  errorRate: number;
  /** Log-normal latency: median (ms) and sigma of ln(duration). */
  latencyMedianMs: number;
  latencySigma: number;
  /** A slow mode: this share of requests is `slowFactor` times slower (heavy right tail). */
  slowShare: number;
  slowFactor: number;
  /** Share of requests that also make a CLIENT call (a non-request span Vigil must skip). */
  clientShare: number;
}

export interface RecordingSpec {
  seed: number;
  durationMs: number;
  /** Event time covered by one line (one export batch). */
  lineMs: number;
  services: ServiceSpec[];
  /** 'random' trace ids (as SDKs make them) or 'sequential' ones (compress ~2x better; replay ignores ids). */
  ids: 'random' | 'sequential';
}

function idGenerator(rand: () => number, kind: RecordingSpec['ids']): IdGenerator {
  let counter = 0;
  const word = () =>
    Math.floor(rand() * 4294967296)
      .toString(16)
      .padStart(8, '0');
  return {
    generateTraceId: () =>
      kind === 'random' ? word() + word() + word() + word() : (++counter).toString(16).padStart(32, '0'),
    generateSpanId: () => (kind === 'random' ? word() + word() : (++counter).toString(16).padStart(16, '0')),
  };
}

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
}

/** Poisson draw: Knuth's product method for small means, a rounded normal above 30. */
function poisson(rand: () => number, mean: number): number {
  if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * gaussian(rand)));
  const limit = Math.exp(-mean);
  let k = 0;
  let p = rand();
  while (p > limit) {
    k++;
    p *= rand();
  }
  return k;
}

/** An exact OTel HrTime from whole microseconds since the epoch (a ms float would leak float noise into ns). */
const hr = (epochUs: number): [number, number] => [Math.floor(epochUs / 1e6), (epochUs % 1e6) * 1000];

function emitRequest(tracer: Tracer, s: ServiceSpec, c: CohortSpec, rand: () => number, endUs: number): void {
  const slow = rand() < s.slowShare ? s.slowFactor : 1;
  const durationUs = Math.max(
    50,
    Math.round(1000 * s.latencyMedianMs * (c.latencyFactor ?? 1) * slow * Math.exp(s.latencySigma * gaussian(rand))),
  );
  const failed = rand() < (c.errorRate ?? s.errorRate);
  const notFound = !failed && rand() < 0.02; // 4xx: not a failure
  const startUs = endUs - durationUs;
  const span = tracer.startSpan(`GET ${s.route}`, {
    kind: SpanKind.SERVER,
    startTime: hr(startUs),
    attributes: {
      'http.request.method': 'GET',
      'http.route': s.route,
      'http.response.status_code': failed ? 500 : notFound ? 404 : 200,
    },
  });
  if (rand() < s.clientShare) {
    const child = tracer.startSpan(
      'SELECT orders',
      {
        kind: SpanKind.CLIENT,
        startTime: hr(startUs + Math.round(durationUs * 0.1)),
        attributes: { 'db.system.name': 'postgresql' },
      },
      trace.setSpan(ROOT_CONTEXT, span),
    );
    child.end(hr(startUs + Math.round(durationUs * 0.6)));
  }
  if (failed) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end(hr(endUs));
}

/** Builds the recording: one OTLP JSON line per `lineMs` slice, newline-terminated, not yet compressed. */
export async function generateRecording(spec: RecordingSpec): Promise<string> {
  const rand = seededRandom(spec.seed);
  const exporter = new InMemorySpanExporter();
  const ids = idGenerator(rand, spec.ids);
  const sources = spec.services.flatMap((s) =>
    s.cohorts.map((c) => {
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({
          'service.name': s.name,
          'service.version': c.version,
          ...(c.cohort ? { 'vigil.cohort': c.cohort } : {}),
          'deployment.environment.name': 'prod',
        }),
        idGenerator: ids,
        spanProcessors: [new SimpleSpanProcessor(exporter)],
      });
      return { service: s, cohort: c, provider, tracer: provider.getTracer('fixture-recorder', '1.0.0') };
    }),
  );
  const decoder = new TextDecoder();
  const lines: string[] = [];
  for (let from = 0; from < spec.durationMs; from += spec.lineMs) {
    const to = Math.min(spec.durationMs, from + spec.lineMs);
    for (const src of sources) {
      const n = poisson(rand, (src.cohort.ratePerSec * (to - from)) / 1000);
      const ends = Array.from({ length: n }, () =>
        Math.floor((RECORDING_T0 + from + rand() * (to - from)) * 1000),
      ).sort((a, b) => a - b);
      for (const end of ends) emitRequest(src.tracer, src.service, src.cohort, rand, end);
    }
    await Promise.all(sources.map((s) => s.provider.forceFlush()));
    const spans = exporter.getFinishedSpans();
    exporter.reset();
    if (spans.length > 0) lines.push(decoder.decode(JsonTraceSerializer.serializeRequest(spans)));
  }
  await Promise.all(sources.map((s) => s.provider.shutdown()));
  return `${lines.join('\n')}\n`;
}

/**
 * `healthy-canary`: `checkout` with a baseline (1.4.1, 12 req/s) and a canary (1.4.2, 3 req/s) drawn from
 * the SAME distribution (1% errors, log-normal latency with a 3% slow mode), plus `cart`, whose single
 * version carries no cohort (the backtest splits all of its traffic). 6 minutes, one line per 5 s.
 */
export function healthyCanarySpec(): RecordingSpec {
  const common = {
    errorRate: 0.01,
    latencyMedianMs: 45,
    latencySigma: 0.45,
    slowShare: 0.03,
    slowFactor: 4,
    clientShare: 0.1,
  };
  return {
    seed: 20260101,
    durationMs: 6 * 60_000,
    lineMs: 5_000,
    ids: 'random',
    services: [
      {
        name: 'checkout',
        route: '/checkout',
        cohorts: [
          { version: '1.4.1', cohort: 'baseline', ratePerSec: 12 },
          { version: '1.4.2', cohort: 'canary', ratePerSec: 3 },
        ],
        ...common,
      },
      {
        name: 'cart',
        route: '/cart/{id}',
        cohorts: [{ version: '2.0.0', ratePerSec: 4 }],
        ...common,
        errorRate: 0.02,
        latencyMedianMs: 20,
      },
    ],
  };
}

/**
 * `many-services-aa`: `count` independent services, each an A/A pair (canary and baseline from the SAME
 * distribution), so `vigil replay` runs one A/A trial per service. Services differ in traffic, error rate
 * and latency shape (seeded), as a real fleet does.
 */
export function manyServicesSpec(count = 200, durationMs = 190_000): RecordingSpec {
  const rand = seededRandom(7_000_001);
  const services: ServiceSpec[] = [];
  for (let i = 0; i < count; i++) {
    const rate = 0.3 * Math.exp(rand() * Math.log(3)); // 0.3 .. 0.9 req/s per cohort
    services.push({
      name: `svc-${String(i).padStart(3, '0')}`,
      route: `/api/v1/r${i % 7}`,
      cohorts: [
        { version: '1.0.0', cohort: 'baseline', ratePerSec: rate },
        { version: '1.1.0', cohort: 'canary', ratePerSec: rate },
      ],
      errorRate: 0.002 * Math.exp(rand() * Math.log(50)), // 0.2% .. 10%
      latencyMedianMs: 10 * Math.exp(rand() * Math.log(30)), // 10 .. 300 ms
      latencySigma: 0.3 + 0.6 * rand(),
      slowShare: rand() < 0.3 ? 0.05 : 0,
      slowFactor: 5,
      clientShare: 0,
    });
  }
  return { seed: 424242, durationMs, lineMs: 10_000, ids: 'sequential', services };
}

/** Writes both fixtures (gzip level 9) into `dir`; returns their sizes in bytes. */
export async function writeFixtures(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, spec] of [
    ['healthy-canary.jsonl.gz', healthyCanarySpec()],
    ['many-services-aa.jsonl.gz', manyServicesSpec()],
  ] as const) {
    const gz = gzipSync(await generateRecording(spec), { level: 9 });
    writeFileSync(join(dir, name), gz);
    out[name] = gz.length;
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = join(import.meta.dirname, '../../fixtures/recordings');
  writeFixtures(dir).then(
    (sizes) => {
      for (const [name, size] of Object.entries(sizes)) process.stdout.write(`${join(dir, name)}: ${size} bytes\n`);
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
