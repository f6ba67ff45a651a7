import { INSTANCE_SERIES_SEPARATOR } from '../../contracts/evidence.js';
import type { CohortOrUnknown } from '../../contracts/telemetry.js';
import type { CohortRules } from '../cohort.js';
import { resolveResource, resolveSpanCohort } from '../cohort.js';
import type { AttrEntry } from './attributes.js';
import { attrValue, boundedIdentity, canonicalSet, scalarNumber, scalarString } from './attributes.js';
import { DEFAULT_MAX_NAME_BYTES } from '../bounded-text.js';
import type { CompiledIndicator, MetricIndicators } from './indicators.js';
import { instanceKey, matchingKeys } from './indicators.js';
import type {
  DecodedMetrics,
  HistogramPoint,
  HistogramPointValues,
  MetricDataKind,
  NumberPoint,
  ResourceInfo,
  VigilMetricSpec,
} from './metric-model.js';
import {
  FLAG_NO_RECORDED_VALUE,
  TEMPORALITY_CUMULATIVE,
  TEMPORALITY_DELTA,
  VIGIL_METRICS,
  msPerUnit,
} from './metric-model.js';

/**
 * What an OTLP metric data point means to Vigil, shared by the protobuf and the JSON decoder so that both
 * produce identical DecodedMetrics (the role TraceAccumulator plays for spans).
 *
 * - Vigil reads the histograms (explicit or exponential) named in VIGIL_METRICS whose unit is a time unit
 *   (the metric's default unit when it carries none). Every other data point is counted and ignored.
 * - Rejected (partial success): any data point with time_unix_nano 0 (the spec says consumers SHOULD reject
 *   them); a Vigil histogram point with an unspecified (or unknown) aggregation temporality, bucket counts
 *   that do not match `bounds.length + 1`, bounds that are not finite and strictly increasing, bucket counts
 *   that do not add up to `count`, a zero threshold that is not finite and >= 0, or an exponential scale
 *   outside [-10, 20]. Points flagged NO_RECORDED_VALUE are kept unchecked (stream state skips them).
 * - Error: for HTTP metrics `http.response.status_code` (else `http.status_code`) >= 500, or a non-empty
 *   `error.type`; for RPC metrics a gRPC server-error status (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
 *   INTERNAL, UNAVAILABLE, DATA_LOSS) in `rpc.grpc.status_code` or `rpc.response.status_code` (number or
 *   name), or, when neither is present, a non-empty `error.type`.
 * - Version and cohort: from the resource (same rules as spans); the cohort attribute on the point overrides.
 * - Lengths (src/ingest/bounded-text.ts): every data point of a resource whose `service.name` is longer than
 *   limits.maxNameLength is rejected; a longer version is cut. Identities longer than MAX_IDENTITY_CHARS are
 *   kept as their hash (attributes.ts `boundedIdentity`).
 *
 * Metric indicators (issue 16, `indicators`: a metric named by one is also read, whatever its name):
 * - `histogram`: a Histogram / ExponentialHistogram, validated like the request histograms; values in ms when the
 *   unit is a time unit (a Vigil metric without unit: its default unit), else as they are (msPerUnit 1); error:
 *   the request rules for a Vigil metric's name, else a non-empty `error.type`. A point of a Vigil request metric
 *   keeps feeding the requests and ALSO names the indicators it matches (`HistogramPoint.indicators`); a point of
 *   another metric is kept only when it matches one (`indicatorOnly`), else counted as ignored.
 * - `counter`: a monotonic Sum; `gauge`: a Gauge, or a non-monotonic Sum with CUMULATIVE temporality (an
 *   UpDownCounter: the value is the level). A non-monotonic Sum with DELTA temporality is ignored and counted
 *   (`deltaUpDownPoints`): the OTel SDKs export UpDownCounters cumulatively even under a delta preference
 *   (exporter-metrics-otlp-http `DeltaTemporalitySelector`), so such points come from an unusual pipeline.
 *   Rejected besides time 0: a Sum with an unspecified or unknown temporality (a Gauge has none), a value that
 *   is not finite, a negative value of a monotonic Sum. The point's attributes (then its resource's) must match
 *   the indicator's `where` (indicators.ts); a point that matches none is counted as ignored.
 */
const GRPC_SERVER_ERRORS: ReadonlySet<number> = new Set([2, 4, 12, 13, 14, 15]);
const GRPC_SERVER_ERROR_NAMES: ReadonlySet<string> = new Set([
  'UNKNOWN',
  'DEADLINE_EXCEEDED',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
]);

/** The metric a data point belongs to, resolved once per Metric message. */
export interface MetricContext {
  resource: ResourceInfo;
  scope: string;
  name: string;
  unit: string;
  kind: MetricDataKind;
  temporality: number;
  /** Present for the request-duration metrics (VIGIL_METRICS): their error rules. */
  spec?: VigilMetricSpec;
  msPerUnit: number;
  /** The points are request evidence (a Vigil metric, a histogram, a time unit): the path of old. */
  request: boolean;
  /** The indicators of the metric's role (histogram, counter or gauge) that name it. */
  indicators?: readonly CompiledIndicator[];
  /** Number points (Sum, Gauge): what an indicator makes of them. */
  role?: 'counter' | 'gauge';
}

/** A histogram data point as decoded, before validation: its values and its attributes as sent. */
export interface RawHistogramPoint extends HistogramPointValues {
  attributes: AttrEntry[];
}

/** A number data point (Sum, Gauge) as decoded, before validation; `value` is as_int or as_double. */
export interface RawNumberPoint {
  attributes: AttrEntry[];
  startMs: number;
  startRem: number;
  timeMs: number;
  timeRem: number;
  value: number;
  flags: number;
}

function isHttpError(attrs: readonly AttrEntry[]): boolean {
  let status = scalarNumber(attrValue(attrs, 'http.response.status_code'));
  if (Number.isNaN(status)) status = scalarNumber(attrValue(attrs, 'http.status_code'));
  if (status >= 500) return true;
  const errorType = scalarString(attrValue(attrs, 'error.type'));
  return errorType !== undefined && errorType !== '';
}

function isRpcError(attrs: readonly AttrEntry[]): boolean {
  const grpc = attrValue(attrs, 'rpc.grpc.status_code');
  const rpc = attrValue(attrs, 'rpc.response.status_code');
  if (grpc === undefined && rpc === undefined) {
    const errorType = scalarString(attrValue(attrs, 'error.type'));
    return errorType !== undefined && errorType !== '';
  }
  if (GRPC_SERVER_ERRORS.has(scalarNumber(grpc))) return true;
  if (rpc === undefined) return false;
  return (
    GRPC_SERVER_ERRORS.has(scalarNumber(rpc)) ||
    (typeof rpc === 'string' && GRPC_SERVER_ERROR_NAMES.has(rpc.trim().toUpperCase()))
  );
}

function hasErrorType(attrs: readonly AttrEntry[]): boolean {
  const errorType = scalarString(attrValue(attrs, 'error.type'));
  return errorType !== undefined && errorType !== '';
}

function sumOf(counts: readonly number[]): number {
  let s = 0;
  for (const c of counts) s += c;
  return s;
}

/** Why a histogram point's buckets are inconsistent, or undefined. O(buckets). */
function bucketProblem(p: RawHistogramPoint): string | undefined {
  const e = p.explicit;
  if (e !== undefined) {
    if (e.counts.length === 0 && e.bounds.length === 0) return undefined;
    if (e.counts.length !== e.bounds.length + 1)
      return `${e.counts.length} bucket counts for ${e.bounds.length} explicit bounds`;
    for (let i = 0; i < e.bounds.length; i++) {
      const b = e.bounds[i]!;
      if (!Number.isFinite(b) || (i > 0 && !(b > e.bounds[i - 1]!)))
        return 'explicit bounds are not finite and strictly increasing';
    }
    if (sumOf(e.counts) !== p.count) return 'bucket counts do not add up to count';
    return undefined;
  }
  const x = p.exponential;
  if (x !== undefined) {
    if (!Number.isInteger(x.scale) || x.scale < -10 || x.scale > 20)
      return `exponential scale ${x.scale} outside [-10, 20]`;
    if (!(x.zeroThreshold >= 0) || !Number.isFinite(x.zeroThreshold)) return 'zero threshold is not finite and >= 0';
    if (x.zeroCount + sumOf(x.positive) + sumOf(x.negative) !== p.count) return 'bucket counts do not add up to count';
  }
  return undefined;
}

export class MetricsAccumulator {
  readonly points: HistogramPoint[] = [];
  readonly numberPoints: NumberPoint[] = [];
  dataPoints = 0;
  ignoredDataPoints = 0;
  /** The points that follow a metric() call belong to that metric: true while it is an ignored delta UpDownCounter. */
  private deltaUpDownMetric = false;
  private deltaUpDown = 0;
  /** The attributes and instance key of each resource (only with indicators: `where` and gauge cells need them). */
  private readonly resourceAttrs = new WeakMap<ResourceInfo, readonly AttrEntry[]>();
  private readonly instances = new WeakMap<ResourceInfo, string>();
  private zeroTime = 0;
  private noTemporality = 0;
  private inconsistent = 0;
  private firstInconsistency = '';
  private serviceTooLong = 0;
  private versionsCut = 0;

  constructor(
    private readonly rules: CohortRules,
    private readonly indicators?: MetricIndicators,
  ) {}

  /** Identity, version and cohort of a resource from all its attributes. O(k log k). */
  resource(entries: readonly AttrEntry[]): ResourceInfo {
    const get = (key: string): string | undefined => scalarString(attrValue(entries, key));
    const { service, version, cohort, serviceTooLong, versionCut } = resolveResource(this.rules, get);
    const info: ResourceInfo = {
      service,
      version,
      cohort,
      key: serviceTooLong ? '' : boundedIdentity(canonicalSet(entries)),
    };
    if (serviceTooLong) info.serviceTooLong = true;
    if (versionCut) info.versionCut = true;
    if (this.indicators !== undefined) this.resourceAttrs.set(info, entries);
    return info;
  }

  /** Identity of an instrumentation scope. */
  scope(name: string, version: string, entries: readonly AttrEntry[]): string {
    return `${JSON.stringify(name)}@${JSON.stringify(version)}{${canonicalSet(entries)}}`;
  }

  /**
   * The context of a metric Vigil reads (a request histogram, or one an indicator names), or undefined when its
   * points are only counted. `monotonic`: Sum.is_monotonic (false for other kinds).
   */
  metric(
    resource: ResourceInfo,
    scope: string,
    name: string,
    unit: string,
    kind: MetricDataKind,
    temporality: number,
    monotonic = false,
  ): MetricContext | undefined {
    this.deltaUpDownMetric = false;
    const spec = VIGIL_METRICS.get(name);
    const histogram = kind === 'histogram' || kind === 'exponential_histogram';
    const indicators = this.indicators;
    if (indicators === undefined) {
      if (spec === undefined || !histogram) return undefined;
      const factor = msPerUnit(unit === '' ? spec.defaultUnit : unit);
      if (factor === undefined) return undefined;
      return { resource, scope, name, unit, kind, temporality, spec, msPerUnit: factor, request: true };
    }
    return this.indicatorMetric(resource, scope, name, unit, kind, temporality, monotonic, spec);
  }

  /** metric() with indicators configured: the request path as without, plus the indicators naming the metric. */
  private indicatorMetric(
    resource: ResourceInfo,
    scope: string,
    name: string,
    unit: string,
    kind: MetricDataKind,
    temporality: number,
    monotonic: boolean,
    spec: VigilMetricSpec | undefined,
  ): MetricContext | undefined {
    const base = { resource, scope, name, unit, kind, temporality };
    if (kind === 'histogram' || kind === 'exponential_histogram') {
      const requestFactor = spec === undefined ? undefined : msPerUnit(unit === '' ? spec.defaultUnit : unit);
      const indicators = this.indicators!.of(name, 'histogram');
      if (requestFactor === undefined && indicators === undefined) return undefined;
      const ctx: MetricContext = {
        ...base,
        msPerUnit: requestFactor ?? msPerUnit(unit) ?? 1,
        request: requestFactor !== undefined,
      };
      if (spec !== undefined) ctx.spec = spec;
      if (indicators !== undefined) ctx.indicators = indicators;
      return ctx;
    }
    const role = kind === 'gauge' || (kind === 'sum' && !monotonic) ? 'gauge' : kind === 'sum' ? 'counter' : undefined;
    if (role === undefined) return undefined;
    const indicators = this.indicators!.of(name, role);
    if (indicators === undefined) return undefined;
    if (kind === 'sum' && role === 'gauge' && temporality === TEMPORALITY_DELTA) {
      this.deltaUpDownMetric = true;
      return undefined;
    }
    return { ...base, msPerUnit: 1, request: false, indicators, role };
  }

  /** A data point of a metric Vigil does not read: counted, and rejected when its time is 0 (or its resource is). */
  otherPoint(timeIsZero: boolean, resource: ResourceInfo): void {
    this.dataPoints++;
    if (resource.serviceTooLong === true) this.serviceTooLong++;
    else if (timeIsZero) this.zeroTime++;
    else {
      this.ignoredDataPoints++;
      if (this.deltaUpDownMetric) this.deltaUpDown++;
    }
  }

  /** Counts a data point of a metric Vigil reads; true when it is rejected whatever its kind (its resource's
   *  service.name is too long, or its time is 0: counted). */
  private refusedPoint(p: { timeMs: number; timeRem: number }, m: MetricContext): boolean {
    this.dataPoints++;
    if (m.resource.serviceTooLong === true) {
      this.serviceTooLong++;
      return true;
    }
    if (p.timeMs === 0 && p.timeRem === 0) {
      this.zeroTime++;
      return true;
    }
    return false;
  }

  /** A histogram point of a Vigil metric: validated, given its meaning and identity, kept. O(attributes + buckets). */
  histogramPoint(p: RawHistogramPoint, m: MetricContext): void {
    if (this.refusedPoint(p, m)) return;
    if (m.temporality !== TEMPORALITY_DELTA && m.temporality !== TEMPORALITY_CUMULATIVE) {
      this.noTemporality++;
      return;
    }
    if ((p.flags & FLAG_NO_RECORDED_VALUE) === 0) {
      const problem = bucketProblem(p);
      if (problem !== undefined) {
        if (this.inconsistent++ === 0) this.firstInconsistency = `${m.name}: ${problem}`;
        return;
      }
    }
    let keys: string[] | undefined;
    if (m.indicators !== undefined)
      keys = matchingKeys(m.indicators, p.attributes, this.resourceAttrs.get(m.resource)!);
    if (!m.request && keys === undefined) {
      this.ignoredDataPoints++;
      return;
    }
    const attributes = canonicalSet(p.attributes);
    const cohort: CohortOrUnknown = resolveSpanCohort(
      scalarString(attrValue(p.attributes, this.rules.attribute)),
      m.resource.cohort,
    );
    const error =
      m.spec === undefined
        ? hasErrorType(p.attributes)
        : m.spec.protocol === 'http'
          ? isHttpError(p.attributes)
          : isRpcError(p.attributes);
    const point: HistogramPoint = {
      resource: m.resource,
      scope: m.scope,
      metric: m.name,
      unit: m.unit,
      msPerUnit: m.msPerUnit,
      temporality: m.temporality,
      attributes,
      streamKey: boundedIdentity(
        `${m.resource.key}\n${m.scope}\n${m.name}\n${m.kind}\n${m.unit}\n${m.temporality}\n${attributes}`,
      ),
      cohort,
      error,
      startMs: p.startMs,
      startRem: p.startRem,
      timeMs: p.timeMs,
      timeRem: p.timeRem,
      count: p.count,
      flags: p.flags,
    };
    if (p.sum !== undefined) point.sum = p.sum;
    if (p.min !== undefined) point.min = p.min;
    if (p.max !== undefined) point.max = p.max;
    if (p.explicit !== undefined) point.explicit = p.explicit;
    if (p.exponential !== undefined) point.exponential = p.exponential;
    if (keys !== undefined) point.indicators = keys;
    if (!m.request) point.indicatorOnly = true;
    if (m.resource.versionCut === true) this.versionsCut++;
    this.points.push(point);
  }

  /** A number point (Sum, Gauge) of a metric an indicator reads (`m.role` set): validated, matched, kept. */
  numberPoint(p: RawNumberPoint, m: MetricContext): void {
    if (this.refusedPoint(p, m)) return;
    if (m.kind === 'sum' && m.temporality !== TEMPORALITY_DELTA && m.temporality !== TEMPORALITY_CUMULATIVE) {
      this.noTemporality++;
      return;
    }
    if ((p.flags & FLAG_NO_RECORDED_VALUE) === 0) {
      const problem = !Number.isFinite(p.value)
        ? `value ${p.value} is not finite`
        : m.role === 'counter' && p.value < 0
          ? `monotonic sum value ${p.value} is negative`
          : undefined;
      if (problem !== undefined) {
        if (this.inconsistent++ === 0) this.firstInconsistency = `${m.name}: ${problem}`;
        return;
      }
    }
    const resourceAttrs = this.resourceAttrs.get(m.resource)!;
    const keys = matchingKeys(m.indicators!, p.attributes, resourceAttrs);
    if (keys === undefined) {
      this.ignoredDataPoints++;
      return;
    }
    const attributes = canonicalSet(p.attributes);
    const point: NumberPoint = {
      role: m.role!,
      resource: m.resource,
      scope: m.scope,
      metric: m.name,
      unit: m.unit,
      temporality: m.temporality,
      attributes,
      streamKey: boundedIdentity(
        `${m.resource.key}\n${m.scope}\n${m.name}\n${m.kind}\n${m.unit}\n${m.temporality}\n${attributes}`,
      ),
      cohort: resolveSpanCohort(scalarString(attrValue(p.attributes, this.rules.attribute)), m.resource.cohort),
      indicators: keys,
      startMs: p.startMs,
      startRem: p.startRem,
      timeMs: p.timeMs,
      timeRem: p.timeRem,
      count: p.value,
      flags: p.flags,
    };
    if (m.role === 'gauge')
      point.cell = `${this.instanceOf(m.resource, resourceAttrs)}${INSTANCE_SERIES_SEPARATOR}${boundedIdentity(attributes)}`;
    if (m.resource.versionCut === true) this.versionsCut++;
    this.numberPoints.push(point);
  }

  private instanceOf(resource: ResourceInfo, attrs: readonly AttrEntry[]): string {
    let key = this.instances.get(resource);
    if (key === undefined) this.instances.set(resource, (key = instanceKey(attrs, resource.key)));
    return key;
  }

  result(): DecodedMetrics {
    const rejected = this.zeroTime + this.noTemporality + this.inconsistent + this.serviceTooLong;
    const out: DecodedMetrics = {
      points: this.points,
      dataPoints: this.dataPoints,
      ignoredDataPoints: this.ignoredDataPoints,
      rejectedDataPoints: rejected,
    };
    if (rejected > 0) {
      const parts: string[] = [];
      if (this.zeroTime > 0) parts.push(`${this.zeroTime} with time_unix_nano 0`);
      if (this.noTemporality > 0)
        parts.push(`${this.noTemporality} with an unspecified or unknown aggregation_temporality`);
      if (this.inconsistent > 0)
        parts.push(`${this.inconsistent} with inconsistent buckets (first: ${this.firstInconsistency})`);
      if (this.serviceTooLong > 0) {
        const max = this.rules.maxNameBytes ?? DEFAULT_MAX_NAME_BYTES;
        parts.push(`${this.serviceTooLong} whose service.name is longer than ${max} bytes (limits.maxNameLength)`);
        out.serviceTooLongDataPoints = this.serviceTooLong;
      }
      out.rejectionMessage = `rejected ${rejected} data point(s): ${parts.join(', ')}`;
    }
    if (this.versionsCut > 0) out.cutVersions = this.versionsCut;
    if (this.numberPoints.length > 0) out.numberPoints = this.numberPoints;
    if (this.deltaUpDown > 0) out.deltaUpDownPoints = this.deltaUpDown;
    return out;
  }
}
