import type { Part } from './pb-writer.js';
import { buf, fDouble, fFixed64, fMsg, fString, fVarint, tag, varint } from './pb-writer.js';

/**
 * Hand-built ExportMetricsServiceRequest messages for decoder tests: layouts the SDK never emits (unpacked
 * repeated fields, fields out of order, unknown fields, zero times, inconsistent buckets).
 */
export const zigzag = (n: number): bigint => BigInt((n << 1) ^ (n >> 31)) & 0xffffffffn;

/** A KeyValue with a string value, as field `field`. */
export const kvStr = (field: number, key: string, value: string): Part =>
  fMsg(field, fString(1, key), fMsg(2, fString(1, value)));
/** A KeyValue with an int value. */
export const kvInt = (field: number, key: string, value: number | bigint): Part =>
  fMsg(field, fString(1, key), fMsg(2, fVarint(3, value)));

/** A packed repeated fixed64 field. */
export function packedFixed64(field: number, values: readonly bigint[]): Part {
  const b = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => b.writeBigUInt64LE(v, 8 * i));
  return [...tag(field, 2), ...varint(b.length), ...b];
}

/** A packed repeated double field. */
export function packedDouble(field: number, values: readonly number[]): Part {
  const b = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => b.writeDoubleLE(v, 8 * i));
  return [...tag(field, 2), ...varint(b.length), ...b];
}

/** A packed repeated uint64 (varint) field. */
export function packedVarint(field: number, values: readonly (number | bigint)[]): Part {
  const bytes = values.flatMap((v) => varint(v));
  return [...tag(field, 2), ...varint(bytes.length), ...bytes];
}

export interface HistPointParts {
  attrs?: Part[];
  start?: bigint;
  time?: bigint;
  count?: bigint;
  sum?: number;
  counts?: bigint[];
  bounds?: number[];
  packed?: boolean;
  flags?: number;
  extra?: Part[];
}

/** A HistogramDataPoint as Histogram.data_points (field 1). */
export function histPoint(p: HistPointParts): Part {
  const packed = p.packed ?? true;
  return fMsg(
    1,
    ...(p.attrs ?? []),
    ...(p.start !== undefined ? [fFixed64(2, p.start)] : []),
    ...(p.time !== undefined ? [fFixed64(3, p.time)] : []),
    ...(p.count !== undefined ? [fFixed64(4, p.count)] : []),
    ...(p.sum !== undefined ? [fDouble(5, p.sum)] : []),
    ...(p.counts ? (packed ? [packedFixed64(6, p.counts)] : p.counts.map((c) => fFixed64(6, c))) : []),
    ...(p.bounds ? (packed ? [packedDouble(7, p.bounds)] : p.bounds.map((b) => fDouble(7, b))) : []),
    ...(p.flags !== undefined ? [fVarint(10, p.flags)] : []),
    ...(p.extra ?? []),
  );
}

export interface ExpPointParts {
  attrs?: Part[];
  start?: bigint;
  time?: bigint;
  count?: bigint;
  scale?: number;
  zeroCount?: bigint;
  offset?: number;
  positive?: number[];
  negOffset?: number;
  negative?: number[];
  packed?: boolean;
  zeroThreshold?: number;
}

/** An ExponentialHistogramDataPoint as ExponentialHistogram.data_points (field 1). */
export function expPoint(p: ExpPointParts): Part {
  const packed = p.packed ?? true;
  const buckets = (offset: number | undefined, counts: number[] | undefined): Part[] => [
    ...(offset !== undefined ? [fVarint(1, zigzag(offset))] : []),
    ...(counts ? (packed ? [packedVarint(2, counts)] : counts.map((c) => fVarint(2, c))) : []),
  ];
  return fMsg(
    1,
    ...(p.attrs ?? []),
    ...(p.start !== undefined ? [fFixed64(2, p.start)] : []),
    ...(p.time !== undefined ? [fFixed64(3, p.time)] : []),
    ...(p.count !== undefined ? [fFixed64(4, p.count)] : []),
    ...(p.scale !== undefined ? [fVarint(6, zigzag(p.scale))] : []),
    ...(p.zeroCount !== undefined ? [fFixed64(7, p.zeroCount)] : []),
    fMsg(8, ...buckets(p.offset, p.positive)),
    fMsg(9, ...buckets(p.negOffset, p.negative)),
    ...(p.zeroThreshold !== undefined ? [fDouble(14, p.zeroThreshold)] : []),
  );
}

/** A Metric: name, unit, and one data member (field 9 histogram, 10 exponential, 5 gauge, 7 sum). */
export function metric(name: string, unit: string, dataField: number, points: Part[], temporality?: number): Part {
  return fMsg(
    2,
    fString(1, name),
    fString(3, unit),
    fMsg(dataField, ...points, ...(temporality !== undefined ? [fVarint(2, temporality)] : [])),
  );
}

/** ExportMetricsServiceRequest with one ResourceMetrics holding one ScopeMetrics. */
export function metricsRequest(resourceAttrs: Part[], metrics: Part[]): Buffer {
  return buf(fMsg(1, fMsg(1, ...resourceAttrs), fMsg(2, fMsg(1, fString(1, 'scope'), fString(2, '1.0')), ...metrics)));
}

export const T0 = 1_767_225_600_000_000_000n; // 2026-01-01T00:00:00Z in ns
export const SEC = 1_000_000_000n;
