import type { Scalar } from '../../contracts/telemetry.js';
import type { CohortRules } from '../cohort.js';
import type { AttrEntry } from '../metrics/attributes.js';
import {
  MAX_VALUE_DEPTH,
  canonArray,
  canonBool,
  canonBytes,
  canonDouble,
  canonInt,
  canonKvList,
  canonString,
} from '../metrics/attributes.js';
import type { DecodedMetrics, ExponentialBuckets, MetricDataKind, ResourceInfo } from '../metrics/metric-model.js';
import type { MetricIndicators } from '../metrics/indicators.js';
import type { MetricContext, RawHistogramPoint, RawNumberPoint } from '../metrics/metrics-accumulator.js';
import { MetricsAccumulator } from '../metrics/metrics-accumulator.js';
import type { Obj, Path } from './otlp-json-values.js';
import {
  arr,
  double,
  enumValue,
  field,
  i64,
  int32,
  isObj,
  jsonError,
  nanos,
  obj,
  optDouble,
  shown,
  u64,
} from './otlp-json-values.js';

/**
 * Decodes an OTLP/JSON ExportMetricsServiceRequest into the histogram points Vigil reads (and the Sum, Gauge and
 * histogram points of the metrics `indicators` name: NumberDataPoint `asInt` / `asDouble`, Sum `isMonotonic`), with the same
 * meaning as the protobuf decoder (both feed MetricsAccumulator, so both encodings of a request give
 * deep-equal results). Quirks accepted (OTLP.md): lowerCamelCase and snake_case keys; 64-bit integers
 * (times, count, bucketCounts, zeroCount, intValue) as decimal strings or JSON numbers; enums
 * (aggregationTemporality) as numbers, numeric strings or names (`AGGREGATION_TEMPORALITY_CUMULATIVE`,
 * `CUMULATIVE`); doubles as numbers or "NaN" / "Infinity" / "-Infinity"; `bytesValue` in base64; unknown
 * fields ignored; null as absent. A `Metric` carrying more than one data member (the `data` oneof) is
 * rejected, as protobuf JSON parsers do. Method: JSON.parse, then one walk; O(size of the body).
 *
 * @throws VigilError VIGIL_ERR_INGEST_DECODE on invalid JSON or a field of the wrong type, naming its path.
 */
export function decodeMetricsJson(
  body: Buffer | string,
  rules: CohortRules,
  indicators?: MetricIndicators,
): DecodedMetrics {
  let root: unknown;
  try {
    root = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (err) {
    throw jsonError(`invalid JSON: ${(err as Error).message}`, err);
  }
  const d = new JsonDecoder(new MetricsAccumulator(rules, indicators));
  d.request(root);
  return d.acc.result();
}

const DATA_MEMBERS: readonly (readonly [string, string, MetricDataKind])[] = [
  ['gauge', 'gauge', 'gauge'],
  ['sum', 'sum', 'sum'],
  ['histogram', 'histogram', 'histogram'],
  ['exponentialHistogram', 'exponential_histogram', 'exponential_histogram'],
  ['summary', 'summary', 'summary'],
];

const TEMPORALITIES: Readonly<Record<string, number>> = { UNSPECIFIED: 0, DELTA: 1, CUMULATIVE: 2 };

class JsonDecoder {
  private readonly split: [number, number] = [0, 0];
  private scalar: Scalar = undefined;

  constructor(readonly acc: MetricsAccumulator) {}

  request(root: unknown): void {
    if (!isObj(root)) throw jsonError('the request must be an object');
    const rms = arr(field(root, 'resourceMetrics', 'resource_metrics'), () => 'resourceMetrics');
    for (let i = 0; i < rms.length; i++) this.resourceMetrics(rms[i], `resourceMetrics[${i}]`);
  }

  private resourceMetrics(v: unknown, at: string): void {
    const rm = obj(v, () => at);
    if (rm === undefined) return;
    const res = obj(field(rm, 'resource', 'resource'), () => `${at}.resource`);
    const resource = this.acc.resource(res === undefined ? [] : this.attributes(res, `${at}.resource`));
    const scopes = arr(field(rm, 'scopeMetrics', 'scope_metrics'), () => `${at}.scopeMetrics`);
    for (let si = 0; si < scopes.length; si++) {
      const sat = `${at}.scopeMetrics[${si}]`;
      const sm = obj(scopes[si], () => sat);
      if (sm === undefined) continue;
      const sc = obj(field(sm, 'scope', 'scope'), () => `${sat}.scope`);
      const name = sc === undefined ? undefined : field(sc, 'name', 'name');
      const version = sc === undefined ? undefined : field(sc, 'version', 'version');
      const scope = this.acc.scope(
        typeof name === 'string' ? name : '',
        typeof version === 'string' ? version : '',
        sc === undefined ? [] : this.attributes(sc, `${sat}.scope`),
      );
      const metrics = arr(field(sm, 'metrics', 'metrics'), () => `${sat}.metrics`);
      for (let mi = 0; mi < metrics.length; mi++) this.metric(metrics[mi], resource, scope, `${sat}.metrics[${mi}]`);
    }
  }

  private metric(v: unknown, resource: ResourceInfo, scope: string, at: string): void {
    const m = obj(v, () => at);
    if (m === undefined) return;
    let kind: MetricDataKind | undefined;
    let data: Obj | undefined;
    for (const [camel, snake, k] of DATA_MEMBERS) {
      const d = obj(field(m, camel, snake), () => `${at}.${camel}`);
      if (d === undefined) continue;
      if (kind !== undefined) throw jsonError(`${at} has more than one data member (${kind} and ${k})`);
      kind = k;
      data = d;
    }
    if (kind === undefined || data === undefined) return;
    const dat = `${at}.${kind === 'exponential_histogram' ? 'exponentialHistogram' : kind}`;
    const name = field(m, 'name', 'name');
    const unit = field(m, 'unit', 'unit');
    const temporality =
      kind === 'gauge' || kind === 'summary'
        ? 0
        : enumValue(
            field(data, 'aggregationTemporality', 'aggregation_temporality'),
            TEMPORALITIES,
            'AGGREGATION_TEMPORALITY_',
            () => `${dat}.aggregationTemporality`,
          );
    const monotonic = kind === 'sum' && field(data, 'isMonotonic', 'is_monotonic') === true;
    const ctx = this.acc.metric(
      resource,
      scope,
      typeof name === 'string' ? name : '',
      typeof unit === 'string' ? unit : '',
      kind,
      temporality,
      monotonic,
    );
    const points = arr(field(data, 'dataPoints', 'data_points'), () => `${dat}.dataPoints`);
    for (let pi = 0; pi < points.length; pi++) {
      const pat = `${dat}.dataPoints[${pi}]`;
      const p = obj(points[pi], () => pat);
      if (p === undefined) continue;
      if (ctx === undefined) {
        nanos(field(p, 'timeUnixNano', 'time_unix_nano'), this.split, () => `${pat}.timeUnixNano`);
        this.acc.otherPoint(this.split[0] === 0 && this.split[1] === 0, resource);
      } else if (kind === 'gauge' || kind === 'sum') this.numberPoint(p, ctx, pat);
      else this.histogramPoint(p, ctx, kind === 'exponential_histogram', pat);
    }
  }

  /** A data point's start_time_unix_nano and time_unix_nano, each as [whole ms, ns remainder], into `raw`. */
  private times(p: Obj, raw: RawNumberPoint | RawHistogramPoint, at: string): void {
    const w = this.split;
    nanos(field(p, 'startTimeUnixNano', 'start_time_unix_nano'), w, () => `${at}.startTimeUnixNano`);
    raw.startMs = w[0];
    raw.startRem = w[1];
    nanos(field(p, 'timeUnixNano', 'time_unix_nano'), w, () => `${at}.timeUnixNano`);
    raw.timeMs = w[0];
    raw.timeRem = w[1];
  }

  /** A NumberDataPoint of a Sum or Gauge an indicator reads: asInt (int64, number or string) or asDouble. */
  private numberPoint(p: Obj, ctx: MetricContext, at: string): void {
    const raw: RawNumberPoint = {
      attributes: this.attributes(p, at),
      startMs: 0,
      startRem: 0,
      timeMs: 0,
      timeRem: 0,
      value: 0,
      flags: int32(field(p, 'flags', 'flags'), () => `${at}.flags`) >>> 0,
    };
    this.times(p, raw, at);
    const asDouble = field(p, 'asDouble', 'as_double');
    const asInt = field(p, 'asInt', 'as_int');
    if (asDouble !== undefined) raw.value = double(asDouble, () => `${at}.asDouble`);
    else if (asInt !== undefined) {
      const v = i64(asInt);
      if (v === undefined) throw jsonError(`${at}.asInt must be a 64-bit integer, got ${shown(asInt)}`);
      raw.value = v;
    }
    this.acc.numberPoint(raw, ctx);
  }

  private histogramPoint(p: Obj, ctx: MetricContext, exponential: boolean, at: string): void {
    const raw: RawHistogramPoint = {
      attributes: this.attributes(p, at),
      startMs: 0,
      startRem: 0,
      timeMs: 0,
      timeRem: 0,
      count: 0,
      flags: 0,
    };
    this.times(p, raw, at);
    raw.count = u64(field(p, 'count', 'count'), () => `${at}.count`);
    raw.flags = int32(field(p, 'flags', 'flags'), () => `${at}.flags`) >>> 0;
    const sum = optDouble(field(p, 'sum', 'sum'), () => `${at}.sum`);
    const min = optDouble(field(p, 'min', 'min'), () => `${at}.min`);
    const max = optDouble(field(p, 'max', 'max'), () => `${at}.max`);
    if (sum !== undefined) raw.sum = sum;
    if (min !== undefined) raw.min = min;
    if (max !== undefined) raw.max = max;
    if (!exponential) {
      const counts = arr(field(p, 'bucketCounts', 'bucket_counts'), () => `${at}.bucketCounts`);
      const bounds = arr(field(p, 'explicitBounds', 'explicit_bounds'), () => `${at}.explicitBounds`);
      raw.explicit = {
        bounds: bounds.map((b, i) => double(b, () => `${at}.explicitBounds[${i}]`)),
        counts: counts.map((c, i) => u64(c, () => `${at}.bucketCounts[${i}]`)),
      };
    } else {
      const x: ExponentialBuckets = {
        scale: int32(field(p, 'scale', 'scale'), () => `${at}.scale`),
        zeroCount: u64(field(p, 'zeroCount', 'zero_count'), () => `${at}.zeroCount`),
        zeroThreshold: optDouble(field(p, 'zeroThreshold', 'zero_threshold'), () => `${at}.zeroThreshold`) ?? 0,
        positiveOffset: 0,
        positive: [],
        negativeOffset: 0,
        negative: [],
      };
      x.positiveOffset = this.buckets(field(p, 'positive', 'positive'), x.positive, `${at}.positive`);
      x.negativeOffset = this.buckets(field(p, 'negative', 'negative'), x.negative, `${at}.negative`);
      raw.exponential = x;
    }
    this.acc.histogramPoint(raw, ctx);
  }

  private buckets(v: unknown, out: number[], at: string): number {
    const b = obj(v, () => at);
    if (b === undefined) return 0;
    const counts = arr(field(b, 'bucketCounts', 'bucket_counts'), () => `${at}.bucketCounts`);
    for (let i = 0; i < counts.length; i++) out.push(u64(counts[i], () => `${at}.bucketCounts[${i}]`));
    return int32(field(b, 'offset', 'offset'), () => `${at}.offset`);
  }

  private attributes(holder: Obj, at: string): AttrEntry[] {
    const attrs = arr(field(holder, 'attributes', 'attributes'), () => `${at}.attributes`);
    const out: AttrEntry[] = [];
    for (let i = 0; i < attrs.length; i++) {
      const kv = attrs[i];
      if (!isObj(kv)) throw jsonError(`${at}.attributes[${i}] must be an object`);
      out.push(this.keyValue(kv, 0, () => `${at}.attributes[${i}]`));
    }
    return out;
  }

  private keyValue(kv: Obj, depth: number, at: Path): AttrEntry {
    const key = typeof kv.key === 'string' ? kv.key : '';
    const canon = this.anyValue(kv.value, depth, at);
    return { key, value: this.scalar, canon };
  }

  /**
   * An AnyValue: its canonical form (as the protobuf decoder builds it), its scalar left in `this.scalar`.
   * Members are tried in a fixed order; a value of the wrong JSON type counts as absent (as for spans).
   */
  private anyValue(v: unknown, depth: number, at: Path): string {
    if (depth > MAX_VALUE_DEPTH)
      throw jsonError(`${at()}: attribute value nested deeper than ${MAX_VALUE_DEPTH} levels`);
    this.scalar = undefined;
    if (!isObj(v)) return '';
    const s = field(v, 'stringValue', 'string_value');
    if (typeof s === 'string') {
      this.scalar = s;
      return canonString(s);
    }
    const b = field(v, 'boolValue', 'bool_value');
    if (typeof b === 'boolean') {
      this.scalar = b;
      return canonBool(b);
    }
    const i = i64(field(v, 'intValue', 'int_value'));
    if (i !== undefined) {
      this.scalar = i;
      return canonInt(i);
    }
    const d = field(v, 'doubleValue', 'double_value');
    if (typeof d === 'number' || typeof d === 'string') {
      const n = typeof d === 'number' ? d : parseDoubleString(d);
      if (n !== undefined) {
        this.scalar = n;
        return canonDouble(n);
      }
    }
    const a = field(v, 'arrayValue', 'array_value');
    if (isObj(a)) {
      const values = arr(field(a, 'values', 'values'), () => `${at()}.arrayValue.values`);
      const items = values.map((x, k) => this.anyValue(x, depth + 1, () => `${at()}.arrayValue.values[${k}]`));
      this.scalar = undefined;
      return canonArray(items);
    }
    const l = field(v, 'kvlistValue', 'kvlist_value');
    if (isObj(l)) {
      const values = arr(field(l, 'values', 'values'), () => `${at()}.kvlistValue.values`);
      const pairs = values.map((x, k): [string, string] => {
        const p = () => `${at()}.kvlistValue.values[${k}]`;
        if (!isObj(x)) throw jsonError(`${p()} must be an object`);
        const e = this.keyValue(x, depth + 1, p);
        return [e.key, e.canon];
      });
      this.scalar = undefined;
      return canonKvList(pairs);
    }
    const y = field(v, 'bytesValue', 'bytes_value');
    if (typeof y === 'string') {
      this.scalar = undefined;
      return canonBytes(Buffer.from(y, 'base64'));
    }
    return '';
  }
}

/** A double written as a string: "NaN", "Infinity", "-Infinity" or a decimal; undefined otherwise. */
function parseDoubleString(s: string): number | undefined {
  if (s === 'NaN') return Number.NaN;
  const n = Number(s);
  return s.trim() === '' || Number.isNaN(n) ? undefined : n;
}
