import type { CohortRules } from '../cohort.js';
import type { AttrEntry } from '../metrics/attributes.js';
import type { DecodedMetrics, ExponentialBuckets, MetricDataKind, ResourceInfo } from '../metrics/metric-model.js';
import type { MetricIndicators } from '../metrics/indicators.js';
import type { MetricContext, RawHistogramPoint, RawNumberPoint } from '../metrics/metrics-accumulator.js';
import { MetricsAccumulator } from '../metrics/metrics-accumulator.js';
import { ProtoValueReader, unsigned64, zigzag32 } from './decode-metrics-protobuf-values.js';
import { ProtoReader, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from './proto-reader.js';
import { splitNanos } from './span-to-sample.js';

/**
 * Decodes an OTLP ExportMetricsServiceRequest (protobuf) into the histogram points Vigil reads, and the Sum, Gauge
 * and histogram points of the metrics `indicators` name (metrics-accumulator.ts).
 *
 * Field numbers (opentelemetry-proto v1.x, metrics/v1/metrics.proto and collector/metrics/v1; checked
 * against the upstream file and the JS SDK's serializer):
 *   ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1 }
 *   ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3 }
 *   ScopeMetrics    { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3 }
 *   InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; ... }
 *   Metric { string name = 1; string description = 2; string unit = 3; oneof data { Gauge gauge = 5;
 *            Sum sum = 7; Histogram histogram = 9; ExponentialHistogram exponential_histogram = 10;
 *            Summary summary = 11 }; repeated KeyValue metadata = 12 }
 *   Gauge { repeated NumberDataPoint data_points = 1 }      Summary { repeated SummaryDataPoint data_points = 1 }
 *   Sum / Histogram / ExponentialHistogram { repeated ... data_points = 1; AggregationTemporality
 *            aggregation_temporality = 2; (Sum: bool is_monotonic = 3) }
 *   every data point type: fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3
 *   HistogramDataPoint { repeated KeyValue attributes = 9; fixed64 count = 4; optional double sum = 5;
 *            repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7; repeated Exemplar
 *            exemplars = 8; uint32 flags = 10; optional double min = 11; optional double max = 12 }
 *   ExponentialHistogramDataPoint { repeated KeyValue attributes = 1; fixed64 count = 4; optional double sum = 5;
 *            sint32 scale = 6; fixed64 zero_count = 7; Buckets positive = 8; Buckets negative = 9;
 *            uint32 flags = 10; repeated Exemplar exemplars = 11; optional double min = 12;
 *            optional double max = 13; double zero_threshold = 14 }
 *   Buckets { sint32 offset = 1; repeated uint64 bucket_counts = 2 }
 *   NumberDataPoint { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
 *            oneof value { double as_double = 4; sfixed64 as_int = 6 }; repeated Exemplar exemplars = 5;
 *            uint32 flags = 8 }
 *   KeyValue { string key = 1; AnyValue value = 2 }   ArrayValue / KeyValueList { repeated ... values = 1 }
 *   AnyValue { oneof: string 1, bool 2, int64 3, double 4, ArrayValue 5, KeyValueList 6, bytes 7 }
 *
 * Repeated scalars are accepted packed (length-delimited) and unpacked (one field per value). Messages
 * whose identity part may follow their content on the wire (resource, scope, a metric's name and
 * temporality) are scanned twice; all other fields are read in one pass and unknown fields skipped. Every
 * data point of every metric is counted (and rejected when its time is 0); only Vigil's histograms, and the
 * metrics `indicators` name (Sums and Gauges too), are decoded in full. O(bytes).
 *
 * @throws VigilError VIGIL_ERR_INGEST_DECODE naming the offset and the field, on malformed input.
 */
export function decodeMetricsProtobuf(
  buf: Uint8Array,
  rules: CohortRules,
  indicators?: MetricIndicators,
): DecodedMetrics {
  const bytes = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const d = new Decoder(new ProtoReader(bytes), new MetricsAccumulator(rules, indicators));
  d.request(bytes.length);
  return d.acc.result();
}

const DATA_KINDS: Readonly<Record<number, MetricDataKind>> = {
  5: 'gauge',
  7: 'sum',
  9: 'histogram',
  10: 'exponential_histogram',
  11: 'summary',
};

const TWO_32 = 4294967296;

/** Field numbers that differ between HistogramDataPoint and ExponentialHistogramDataPoint (opentelemetry-proto v1). */
interface PointFields {
  attributes: number;
  min: number;
  max: number;
}
const HISTOGRAM_FIELDS: PointFields = { attributes: 9, min: 11, max: 12 };
const EXPONENTIAL_FIELDS: PointFields = { attributes: 1, min: 12, max: 13 };

class Decoder extends ProtoValueReader {
  private readonly split: [number, number] = [0, 0];

  constructor(
    r: ProtoReader,
    readonly acc: MetricsAccumulator,
  ) {
    super(r);
  }

  request(end: number): void {
    const r = this.r;
    while (r.pos < end) {
      const tag = r.tag(end, 'ExportMetricsServiceRequest');
      if (tag >>> 3 === 1) {
        r.expect(tag, WIRE_LEN, 'ExportMetricsServiceRequest.resource_metrics');
        const e = r.lengthDelimited(end, 'ExportMetricsServiceRequest.resource_metrics');
        this.resourceMetrics(e);
        r.pos = e;
      } else r.skip(tag, end, 'ExportMetricsServiceRequest');
    }
  }

  private resourceMetrics(end: number): void {
    const r = this.r;
    const start = r.pos;
    const attrs: AttrEntry[] = [];
    while (r.pos < end) {
      const tag = r.tag(end, 'ResourceMetrics');
      if (tag >>> 3 === 1) {
        r.expect(tag, WIRE_LEN, 'ResourceMetrics.resource');
        const e = r.lengthDelimited(end, 'ResourceMetrics.resource');
        this.attributesOf(e, 'Resource', 1, attrs);
        r.pos = e;
      } else if (tag >>> 3 === 2) {
        r.expect(tag, WIRE_LEN, 'ResourceMetrics.scope_metrics');
        r.pos = r.lengthDelimited(end, 'ResourceMetrics.scope_metrics');
      } else r.skip(tag, end, 'ResourceMetrics');
    }
    const resource = this.acc.resource(attrs);
    r.pos = start;
    while (r.pos < end) {
      const tag = r.tag(end, 'ResourceMetrics');
      if (tag >>> 3 === 2) {
        const e = r.lengthDelimited(end, 'ResourceMetrics.scope_metrics');
        this.scopeMetrics(e, resource);
        r.pos = e;
      } else r.skip(tag, end, 'ResourceMetrics');
    }
  }

  /** Reads the KeyValue field `field` of a message (Resource.attributes, InstrumentationScope.attributes). */
  private attributesOf(end: number, message: string, field: number, out: AttrEntry[]): void {
    const r = this.r;
    while (r.pos < end) {
      const tag = r.tag(end, message);
      if (tag >>> 3 === field) {
        r.expect(tag, WIRE_LEN, `${message}.attributes`);
        const e = r.lengthDelimited(end, `${message}.attributes`);
        out.push(this.keyValue(e, 0));
        r.pos = e;
      } else r.skip(tag, end, message);
    }
  }

  private scopeMetrics(end: number, resource: ResourceInfo): void {
    const r = this.r;
    const start = r.pos;
    let name = '';
    let version = '';
    const attrs: AttrEntry[] = [];
    while (r.pos < end) {
      const tag = r.tag(end, 'ScopeMetrics');
      if (tag >>> 3 === 1) {
        r.expect(tag, WIRE_LEN, 'ScopeMetrics.scope');
        const e = r.lengthDelimited(end, 'ScopeMetrics.scope');
        while (r.pos < e) {
          const t = r.tag(e, 'InstrumentationScope');
          const f = t >>> 3;
          if (f === 1 || f === 2) {
            r.expect(t, WIRE_LEN, f === 1 ? 'InstrumentationScope.name' : 'InstrumentationScope.version');
            const se = r.lengthDelimited(e, 'InstrumentationScope');
            const text = r.text(r.pos, se);
            if (f === 1) name = text;
            else version = text;
            r.pos = se;
          } else if (f === 3) {
            r.expect(t, WIRE_LEN, 'InstrumentationScope.attributes');
            const ae = r.lengthDelimited(e, 'InstrumentationScope.attributes');
            attrs.push(this.keyValue(ae, 0));
            r.pos = ae;
          } else r.skip(t, e, 'InstrumentationScope');
        }
      } else if (tag >>> 3 === 2) {
        r.expect(tag, WIRE_LEN, 'ScopeMetrics.metrics');
        r.pos = r.lengthDelimited(end, 'ScopeMetrics.metrics');
      } else r.skip(tag, end, 'ScopeMetrics');
    }
    const scope = this.acc.scope(name, version, attrs);
    r.pos = start;
    while (r.pos < end) {
      const tag = r.tag(end, 'ScopeMetrics');
      if (tag >>> 3 === 2) {
        const e = r.lengthDelimited(end, 'ScopeMetrics.metrics');
        this.metric(e, resource, scope);
        r.pos = e;
      } else r.skip(tag, end, 'ScopeMetrics');
    }
  }

  private metric(end: number, resource: ResourceInfo, scope: string): void {
    const r = this.r;
    let name = '';
    let unit = '';
    let kind: MetricDataKind | undefined;
    let dataStart = 0;
    let dataEnd = 0;
    while (r.pos < end) {
      const tag = r.tag(end, 'Metric');
      const f = tag >>> 3;
      if (f === 1 || f === 3) {
        r.expect(tag, WIRE_LEN, f === 1 ? 'Metric.name' : 'Metric.unit');
        const e = r.lengthDelimited(end, f === 1 ? 'Metric.name' : 'Metric.unit');
        if (f === 1) name = r.text(r.pos, e);
        else unit = r.text(r.pos, e);
        r.pos = e;
      } else if (DATA_KINDS[f] !== undefined) {
        kind = DATA_KINDS[f];
        r.expect(tag, WIRE_LEN, `Metric.${kind}`);
        dataEnd = r.lengthDelimited(end, `Metric.${kind}`);
        dataStart = r.pos;
        r.pos = dataEnd;
      } else r.skip(tag, end, 'Metric');
    }
    if (kind === undefined) return;
    const where = `Metric.${kind}`;
    let temporality = 0;
    let monotonic = false;
    if (kind !== 'gauge' && kind !== 'summary') {
      r.pos = dataStart;
      while (r.pos < dataEnd) {
        const tag = r.tag(dataEnd, where);
        if (tag >>> 3 === 2) {
          r.expect(tag, WIRE_VARINT, `${where}.aggregation_temporality`);
          temporality = r.varint32(dataEnd, `${where}.aggregation_temporality`) | 0;
        } else if (tag >>> 3 === 3 && kind === 'sum') {
          r.expect(tag, WIRE_VARINT, `${where}.is_monotonic`);
          monotonic = r.varint32(dataEnd, `${where}.is_monotonic`) !== 0;
        } else r.skip(tag, dataEnd, where);
      }
    }
    const ctx = this.acc.metric(resource, scope, name, unit, kind, temporality, monotonic);
    r.pos = dataStart;
    while (r.pos < dataEnd) {
      const tag = r.tag(dataEnd, where);
      if (tag >>> 3 === 1) {
        r.expect(tag, WIRE_LEN, `${where}.data_points`);
        const e = r.lengthDelimited(dataEnd, `${where}.data_points`);
        if (ctx === undefined) this.otherPoint(e, kind, resource);
        else if (kind === 'histogram') this.histogramPoint(e, ctx);
        else if (kind === 'exponential_histogram') this.exponentialPoint(e, ctx);
        else this.numberPoint(e, ctx);
        r.pos = e;
      } else r.skip(tag, dataEnd, where);
    }
  }

  /** A data point of a metric Vigil does not read: only its time_unix_nano (field 3 in every type). */
  private otherPoint(end: number, kind: MetricDataKind, resource: ResourceInfo): void {
    const r = this.r;
    let zero = true;
    while (r.pos < end) {
      const tag = r.tag(end, 'DataPoint');
      if (tag >>> 3 === 3) {
        r.expect(tag, WIRE_FIXED64, `${kind} DataPoint.time_unix_nano`);
        r.fixed64(end, `${kind} DataPoint.time_unix_nano`);
        zero = r.hi === 0 && r.lo === 0;
      } else r.skip(tag, end, 'DataPoint');
    }
    this.acc.otherPoint(zero, resource);
  }

  /** A NumberDataPoint of a Sum or Gauge an indicator reads. */
  private numberPoint(end: number, ctx: MetricContext): void {
    const r = this.r;
    const M = 'NumberDataPoint';
    const p: RawNumberPoint = { attributes: [], startMs: 0, startRem: 0, timeMs: 0, timeRem: 0, value: 0, flags: 0 };
    while (r.pos < end) {
      const tag = r.tag(end, M);
      if (this.pointIdentityField(tag, end, M, p, 7)) continue;
      switch (tag >>> 3) {
        case 4:
          r.expect(tag, WIRE_FIXED64, `${M}.as_double`);
          p.value = r.double(end, `${M}.as_double`);
          break;
        case 6:
          r.expect(tag, WIRE_FIXED64, `${M}.as_int`);
          r.fixed64(end, `${M}.as_int`);
          p.value = (r.hi | 0) * TWO_32 + r.lo;
          break;
        case 8:
          r.expect(tag, WIRE_VARINT, `${M}.flags`);
          p.flags = r.varint32(end, `${M}.flags`);
          break;
        default:
          r.skip(tag, end, M);
      }
    }
    this.acc.numberPoint(p, ctx);
  }

  /**
   * The fields every data point has, whatever its kind: attributes (field `attributes`: 7 on number points, 9 on
   * histograms, 1 on exponential histograms), start_time_unix_nano (2) and time_unix_nano (3). Reads it and returns
   * true, or returns false for any other field.
   */
  private pointIdentityField(
    tag: number,
    end: number,
    M: string,
    p: RawHistogramPoint | RawNumberPoint,
    attributes: number,
  ): boolean {
    const r = this.r;
    switch (tag >>> 3) {
      case attributes: {
        r.expect(tag, WIRE_LEN, `${M}.attributes`);
        const e = r.lengthDelimited(end, `${M}.attributes`);
        p.attributes.push(this.keyValue(e, 0));
        r.pos = e;
        return true;
      }
      case 2:
        r.expect(tag, WIRE_FIXED64, `${M}.start_time_unix_nano`);
        this.time(end, `${M}.start_time_unix_nano`, p, true);
        return true;
      case 3:
        r.expect(tag, WIRE_FIXED64, `${M}.time_unix_nano`);
        this.time(end, `${M}.time_unix_nano`, p, false);
        return true;
      default:
        return false;
    }
  }

  private time(end: number, where: string, p: RawHistogramPoint | RawNumberPoint, start: boolean): void {
    const r = this.r;
    r.fixed64(end, where);
    splitNanos(r.hi, r.lo, this.split);
    if (start) {
      p.startMs = this.split[0];
      p.startRem = this.split[1];
    } else {
      p.timeMs = this.split[0];
      p.timeRem = this.split[1];
    }
  }

  private u64(end: number, where: string): number {
    this.r.fixed64(end, where);
    return this.r.hi * TWO_32 + this.r.lo;
  }

  private histogramPoint(end: number, ctx: MetricContext): void {
    const r = this.r;
    const M = 'HistogramDataPoint';
    const bounds: number[] = [];
    const counts: number[] = [];
    const p: RawHistogramPoint = {
      attributes: [],
      startMs: 0,
      startRem: 0,
      timeMs: 0,
      timeRem: 0,
      count: 0,
      flags: 0,
      explicit: { bounds, counts },
    };
    while (r.pos < end) {
      const tag = r.tag(end, M);
      switch (tag >>> 3) {
        case 6:
          this.repeatedFixed(tag, end, `${M}.bucket_counts`, counts, false);
          break;
        case 7:
          this.repeatedFixed(tag, end, `${M}.explicit_bounds`, bounds, true);
          break;
        default:
          this.commonPointField(tag, end, M, p, HISTOGRAM_FIELDS);
      }
    }
    this.acc.histogramPoint(p, ctx);
  }

  /**
   * The fields both histogram data points have (their numbers differ: `fields`): attributes, start and time,
   * count, sum, flags, min, max; any other field is skipped.
   */
  private commonPointField(tag: number, end: number, M: string, p: RawHistogramPoint, fields: PointFields): void {
    const r = this.r;
    if (this.pointIdentityField(tag, end, M, p, fields.attributes)) return;
    switch (tag >>> 3) {
      case 4:
        r.expect(tag, WIRE_FIXED64, `${M}.count`);
        p.count = this.u64(end, `${M}.count`);
        break;
      case 5:
        r.expect(tag, WIRE_FIXED64, `${M}.sum`);
        p.sum = r.double(end, `${M}.sum`);
        break;
      case 10:
        r.expect(tag, WIRE_VARINT, `${M}.flags`);
        p.flags = r.varint32(end, `${M}.flags`);
        break;
      case fields.min:
        r.expect(tag, WIRE_FIXED64, `${M}.min`);
        p.min = r.double(end, `${M}.min`);
        break;
      case fields.max:
        r.expect(tag, WIRE_FIXED64, `${M}.max`);
        p.max = r.double(end, `${M}.max`);
        break;
      default:
        r.skip(tag, end, M);
    }
  }

  /** A repeated fixed64 / double field, packed (one length-delimited run) or unpacked (one value per field). */
  private repeatedFixed(tag: number, end: number, where: string, out: number[], isDouble: boolean): void {
    const r = this.r;
    if ((tag & 7) === WIRE_FIXED64) {
      out.push(isDouble ? r.double(end, where) : this.u64(end, where));
      return;
    }
    r.expect(tag, WIRE_LEN, where);
    const start = r.pos;
    const e = r.lengthDelimited(end, where);
    if ((e - r.pos) % 8 !== 0) throw r.fail(`packed length ${e - r.pos} is not a multiple of 8`, start, where);
    while (r.pos < e) out.push(isDouble ? r.double(e, where) : this.u64(e, where));
  }

  private exponentialPoint(end: number, ctx: MetricContext): void {
    const r = this.r;
    const M = 'ExponentialHistogramDataPoint';
    const x: ExponentialBuckets = {
      scale: 0,
      zeroCount: 0,
      zeroThreshold: 0,
      positiveOffset: 0,
      positive: [],
      negativeOffset: 0,
      negative: [],
    };
    const p: RawHistogramPoint = {
      attributes: [],
      startMs: 0,
      startRem: 0,
      timeMs: 0,
      timeRem: 0,
      count: 0,
      flags: 0,
      exponential: x,
    };
    while (r.pos < end) {
      const tag = r.tag(end, M);
      switch (tag >>> 3) {
        case 6:
          r.expect(tag, WIRE_VARINT, `${M}.scale`);
          x.scale = zigzag32(r.varint32(end, `${M}.scale`));
          break;
        case 7:
          r.expect(tag, WIRE_FIXED64, `${M}.zero_count`);
          x.zeroCount = this.u64(end, `${M}.zero_count`);
          break;
        case 8:
        case 9: {
          const positive = tag >>> 3 === 8;
          const where = `${M}.${positive ? 'positive' : 'negative'}`;
          r.expect(tag, WIRE_LEN, where);
          const e = r.lengthDelimited(end, where);
          const offset = this.buckets(e, where, positive ? x.positive : x.negative);
          if (positive) x.positiveOffset = offset;
          else x.negativeOffset = offset;
          r.pos = e;
          break;
        }
        case 14:
          r.expect(tag, WIRE_FIXED64, `${M}.zero_threshold`);
          x.zeroThreshold = r.double(end, `${M}.zero_threshold`);
          break;
        default:
          this.commonPointField(tag, end, M, p, EXPONENTIAL_FIELDS);
      }
    }
    this.acc.histogramPoint(p, ctx);
  }

  /** A Buckets message: returns the offset, appends the counts (packed or unpacked uint64 varints). */
  private buckets(end: number, where: string, out: number[]): number {
    const r = this.r;
    let offset = 0;
    while (r.pos < end) {
      const tag = r.tag(end, 'Buckets');
      if (tag >>> 3 === 1) {
        r.expect(tag, WIRE_VARINT, `${where}.offset`);
        offset = zigzag32(r.varint32(end, `${where}.offset`));
      } else if (tag >>> 3 === 2) {
        const w = `${where}.bucket_counts`;
        if ((tag & 7) === WIRE_VARINT) out.push(unsigned64(r.varint64(end, w)));
        else {
          r.expect(tag, WIRE_LEN, w);
          const e = r.lengthDelimited(end, w);
          while (r.pos < e) out.push(unsigned64(r.varint64(e, w)));
        }
      } else r.skip(tag, end, 'Buckets');
    }
    return offset;
  }
}
