import type { CohortOrUnknown, DecodedTraces, RequestSample, Scalar } from '../../contracts/telemetry.js';
import { DEFAULT_MAX_NAME_BYTES } from '../bounded-text.js';
import { pickVersion, resolveResourceCohort, resolveSpanCohort, serviceName } from '../cohort.js';
import { matchesCompiled } from '../where.js';
import type { AttrBag, CompiledIndicator, CompiledRules } from './attribute-keys.js';
import {
  FIRST_POD_LABEL_ROLE,
  ROLE_COHORT,
  ROLE_HTTP_RESPONSE_STATUS,
  ROLE_HTTP_ROUTE,
  ROLE_HTTP_STATUS_OLD,
  ROLE_POD_APP_VERSION,
  ROLE_POD_VERSION,
  ROLE_RPC_GRPC_STATUS,
  ROLE_RPC_RESPONSE_STATUS,
  ROLE_SERVICE_NAME,
  ROLE_SERVICE_VERSION,
} from './attribute-keys.js';

/**
 * What a span means to Vigil (OTLP.md "What a span means"), shared by the protobuf and the JSON decoder so
 * that both produce identical samples.
 *
 * - Requests are spans of kind SERVER (2) or CONSUMER (5); other kinds count as `nonRequestSpans`.
 * - Error: status ERROR (2); on SERVER spans also `http.response.status_code` (else the old
 *   `http.status_code`) >= 500, or a gRPC status the semantic conventions call a server error
 *   (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS) in `rpc.grpc.status_code`
 *   or `rpc.response.status_code` (number or name). 4xx is not an error.
 * - Route: `http.route`; the span name only for CONSUMER spans or spans without any `http.*` attribute
 *   (an HTTP span without a route would otherwise give a high-cardinality name such as `GET /cart/123`).
 * - Rejected (partial success): a zero start or end time, an end before the start, or a resource whose
 *   `service.name` is longer than limits.maxNameLength (bounded-text.ts; a longer version or route is cut,
 *   not rejected). Every span counts in exactly one of samples, nonRequestSpans, rejectedSpans.
 * - Indicators (CohortRules.spanIndicators): the keys whose `where` the span's attributes, else its resource's, match
 *   (where.ts), in configuration order; request spans only (other spans are no samples); absent when none matches.
 */
export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CONSUMER = 5;
export const STATUS_CODE_ERROR = 2;

const GRPC_SERVER_ERRORS: ReadonlySet<number> = new Set([2, 4, 12, 13, 14, 15]);
const GRPC_SERVER_ERROR_NAMES: ReadonlySet<string> = new Set([
  'UNKNOWN',
  'DEADLINE_EXCEEDED',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
]);

/** Resource-level facts, resolved once per resource. */
export interface ResolvedResource {
  service: string;
  version: string;
  cohort: CohortOrUnknown;
  /** `service.name` is longer than limits.maxNameLength: every span of the resource is rejected. */
  serviceTooLong: boolean;
  /** The version is in its cut form (bounded-text.ts). */
  versionCut: boolean;
  /** With span indicators configured: them, and the resource's attribute values by role (a copy of its bag). */
  spanIndicators: { readonly compiled: readonly CompiledIndicator[]; readonly resource: readonly Scalar[] } | undefined;
}

/**
 * The fixed fields of one span, reused across spans. A 64-bit ns time is held exactly as whole milliseconds
 * plus the ns remainder (0 ≤ rem < 1e6), a form both decoders reach exactly (from 32-bit words or from
 * decimal digits), so protobuf and JSON give bit-identical samples.
 */
export class SpanFacts {
  kind = 0;
  statusCode = 0;
  startMs = 0;
  startRem = 0;
  endMs = 0;
  endRem = 0;
  /** The de-duplication key (span-key.ts); undefined: the span has no usable id. */
  spanKey: number | undefined = undefined;
  /** The trace key (span-key.ts); undefined: the span has no valid trace id. */
  traceKey: number | undefined = undefined;
  /** The span name handed to TraceAccumulator.add is in its cut form (longer than the limit). */
  nameCut = false;

  reset(): void {
    this.nameCut = false;
    this.kind = 0;
    this.statusCode = 0;
    this.startMs = 0;
    this.startRem = 0;
    this.endMs = 0;
    this.endRem = 0;
    this.spanKey = undefined;
    this.traceKey = undefined;
  }
}

/**
 * Splits a ns time given as unsigned 32-bit words into [whole ms, ns remainder], exactly:
 * 2^32 ns = 4294 ms + 967296 ns, so ns = hi * 4294 ms + r ns with r = hi * 967296 + lo < 2^53.
 */
export function splitNanos(hi: number, lo: number, out: [number, number]): void {
  const r = hi * 967296 + lo;
  let q = Math.floor(r / 1e6);
  let rem = r - q * 1e6;
  if (rem < 0) {
    q--;
    rem += 1e6;
  } else if (rem >= 1e6) {
    q++;
    rem -= 1e6;
  }
  out[0] = hi * 4294 + q;
  out[1] = rem;
}

/** Unix ms as a float from [whole ms, ns remainder]: one rounding, error below 0.25 µs for current dates. */
export function toMillis(ms: number, rem: number): number {
  return ms + rem / 1e6;
}

/** Version and cohort of a resource from its attribute bag. O(number of pod label keys). */
export function resolveResourceBag(compiled: CompiledRules, bag: AttrBag): ResolvedResource {
  const serviceTooLong = bag.isLong(ROLE_SERVICE_NAME);
  const service = serviceTooLong ? '' : serviceName(bag.str(ROLE_SERVICE_NAME));
  const serviceVersion = bag.str(ROLE_SERVICE_VERSION);
  const podAppVersion = bag.str(ROLE_POD_APP_VERSION);
  const version = pickVersion(serviceVersion, podAppVersion, bag.str(ROLE_POD_VERSION));
  const versionCut =
    bag.long !== 0 &&
    bag.isLong(serviceVersion ? ROLE_SERVICE_VERSION : podAppVersion ? ROLE_POD_APP_VERSION : ROLE_POD_VERSION);
  const labels: (string | undefined)[] = [];
  const labelsEnd = FIRST_POD_LABEL_ROLE + 2 * compiled.rules.podLabels.length;
  for (let role = FIRST_POD_LABEL_ROLE; role < labelsEnd; role++) labels.push(bag.str(role));
  const cohort = resolveResourceCohort(compiled.rules, service, version, bag.str(ROLE_COHORT), labels);
  // one object shape with or without span indicators (the decoders' reads of a resource stay monomorphic)
  const spanIndicators =
    compiled.indicators === undefined ? undefined : { compiled: compiled.indicators, resource: bag.values.slice() };
  return { service, version, cohort, serviceTooLong, versionCut, spanIndicators };
}

/**
 * The keys of the indicators whose `where` a span matches (its attribute values by role, else its resource's), in
 * configuration order; undefined when none does. O(indicators x where keys).
 */
export function matchIndicators(
  indicators: readonly CompiledIndicator[],
  span: readonly Scalar[],
  resource: readonly Scalar[],
): string[] | undefined {
  let keys: string[] | undefined;
  for (const ind of indicators) {
    for (const w of ind.wheres) {
      if (!matchesCompiled(w, span, resource)) continue;
      (keys ??= []).push(ind.key);
      break;
    }
  }
  return keys;
}

/** Whether the span name is needed as the route (so the protobuf decoder decodes it only then). */
export function needsNameAsRoute(kind: number, span: AttrBag): boolean {
  return span.values[ROLE_HTTP_ROUTE] === undefined && (kind === SPAN_KIND_CONSUMER || !span.hasHttp);
}

function isServerError(span: AttrBag): boolean {
  let http = span.num(ROLE_HTTP_RESPONSE_STATUS);
  if (Number.isNaN(http)) http = span.num(ROLE_HTTP_STATUS_OLD);
  if (http >= 500) return true;
  if (GRPC_SERVER_ERRORS.has(span.num(ROLE_RPC_GRPC_STATUS))) return true;
  const rpc = span.values[ROLE_RPC_RESPONSE_STATUS];
  if (rpc === undefined) return false;
  return (
    GRPC_SERVER_ERRORS.has(span.num(ROLE_RPC_RESPONSE_STATUS)) ||
    (typeof rpc === 'string' && GRPC_SERVER_ERROR_NAMES.has(rpc.toUpperCase()))
  );
}

/** Collects the samples and counters of one decode call. */
export class TraceAccumulator {
  readonly samples: RequestSample[] = [];
  spans = 0;
  nonRequestSpans = 0;
  private zeroTime = 0;
  private endBeforeStart = 0;
  private serviceTooLong = 0;
  private versionsCut = 0;
  private routesCut = 0;

  constructor(private readonly maxNameBytes = DEFAULT_MAX_NAME_BYTES) {}

  /**
   * Adds one span. `name` is the span name when `needsNameAsRoute` said so (else ignored). O(1) apart from
   * the sample allocation.
   */
  add(resource: ResolvedResource, f: SpanFacts, span: AttrBag, name: string | undefined): void {
    this.spans++;
    if (resource.serviceTooLong) {
      this.serviceTooLong++;
      return;
    }
    if ((f.startMs === 0 && f.startRem === 0) || (f.endMs === 0 && f.endRem === 0)) {
      this.zeroTime++;
      return;
    }
    // exact integer ns difference while below 2^53 ns (104 days), then one rounding to ms
    const durationNs = (f.endMs - f.startMs) * 1e6 + (f.endRem - f.startRem);
    if (durationNs < 0) {
      this.endBeforeStart++;
      return;
    }
    const kind = f.kind;
    if (kind !== SPAN_KIND_SERVER && kind !== SPAN_KIND_CONSUMER) {
      this.nonRequestSpans++;
      return;
    }
    let route = span.str(ROLE_HTTP_ROUTE);
    let routeCut = span.long !== 0 && span.isLong(ROLE_HTTP_ROUTE);
    if (route === undefined && name !== undefined && name !== '' && needsNameAsRoute(kind, span)) {
      route = name;
      routeCut = f.nameCut;
    }
    if (routeCut) this.routesCut++;
    if (resource.versionCut) this.versionsCut++;
    const error = f.statusCode === STATUS_CODE_ERROR || (kind === SPAN_KIND_SERVER && isServerError(span));
    const cohort = resolveSpanCohort(span.str(ROLE_COHORT), resource.cohort);
    const sample: RequestSample = {
      service: resource.service,
      route,
      version: resource.version,
      cohort,
      endUnixMs: toMillis(f.endMs, f.endRem),
      durationMs: durationNs / 1e6,
      error,
      spanKey: f.spanKey,
      traceKey: f.traceKey,
    };
    const ind = resource.spanIndicators;
    if (ind !== undefined) {
      const keys = matchIndicators(ind.compiled, span.values, ind.resource);
      if (keys !== undefined) sample.indicators = keys;
    }
    this.samples.push(sample);
  }

  result(): DecodedTraces {
    const rejectedSpans = this.zeroTime + this.endBeforeStart + this.serviceTooLong;
    const out: DecodedTraces = {
      samples: this.samples,
      spans: this.spans,
      nonRequestSpans: this.nonRequestSpans,
      rejectedSpans,
    };
    if (rejectedSpans > 0) {
      const parts: string[] = [];
      if (this.zeroTime > 0) parts.push(`${this.zeroTime} with start_time_unix_nano or end_time_unix_nano 0`);
      if (this.endBeforeStart > 0) parts.push(`${this.endBeforeStart} ending before they start`);
      if (this.serviceTooLong > 0) {
        parts.push(
          `${this.serviceTooLong} whose service.name is longer than ${this.maxNameBytes} bytes (limits.maxNameLength)`,
        );
        out.serviceTooLongSpans = this.serviceTooLong;
      }
      out.rejectionMessage = `rejected ${rejectedSpans} span(s): ${parts.join(', ')}`;
    }
    if (this.versionsCut > 0) out.cutVersions = this.versionsCut;
    if (this.routesCut > 0) out.cutRoutes = this.routesCut;
    return out;
  }
}
