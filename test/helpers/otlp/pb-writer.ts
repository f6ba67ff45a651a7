/**
 * A tiny protobuf writer for tests: builds messages field by field so tests can produce wire layouts the
 * SDK never emits (fields out of order, unknown fields of every wire type, zero or reversed timestamps).
 */
export type Part = number[];

export function varint(value: bigint | number): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

export const tag = (field: number, wire: number): number[] => varint((field << 3) | wire);

export function fVarint(field: number, value: bigint | number): Part {
  return [...tag(field, 0), ...varint(value)];
}

export function fFixed64(field: number, value: bigint): Part {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(value);
  return [...tag(field, 1), ...b];
}

export function fDouble(field: number, value: number): Part {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(value);
  return [...tag(field, 1), ...b];
}

export function fFixed32(field: number, value: number): Part {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value);
  return [...tag(field, 5), ...b];
}

export function fBytes(field: number, payload: Uint8Array | number[]): Part {
  return [...tag(field, 2), ...varint(payload.length), ...payload];
}

export function fString(field: number, s: string): Part {
  return fBytes(field, Buffer.from(s, 'utf8'));
}

export function fMsg(field: number, ...parts: Part[]): Part {
  return fBytes(field, parts.flat());
}

export const buf = (...parts: Part[]): Buffer => Buffer.from(parts.flat());

// OTLP shapes
export const strAttr = (field: number, key: string, value: string): Part =>
  fMsg(field, fString(1, key), fMsg(2, fString(1, value)));
export const intAttr = (field: number, key: string, value: number | bigint): Part =>
  fMsg(field, fString(1, key), fMsg(2, fVarint(3, value)));

export interface SpanParts {
  kind?: number;
  start?: bigint;
  end?: bigint;
  name?: string;
  status?: number;
  attrs?: Part[];
  extra?: Part[];
}

/** A Span message (as the payload of ScopeSpans.spans = 2). */
export function span(s: SpanParts): Part {
  return fMsg(
    2,
    fBytes(1, new Array<number>(16).fill(1)),
    fBytes(2, new Array<number>(8).fill(2)),
    ...(s.name !== undefined ? [fString(5, s.name)] : []),
    ...(s.kind !== undefined ? [fVarint(6, s.kind)] : []),
    ...(s.start !== undefined ? [fFixed64(7, s.start)] : []),
    ...(s.end !== undefined ? [fFixed64(8, s.end)] : []),
    ...(s.attrs ?? []).map((a) => a),
    ...(s.status !== undefined ? [fMsg(15, fString(2, 'msg'), fVarint(3, s.status))] : []),
    ...(s.extra ?? []),
  );
}

/** ExportTraceServiceRequest with one ResourceSpans holding one ScopeSpans. */
export function request(resourceAttrs: Part[], spans: Part[]): Buffer {
  return buf(fMsg(1, fMsg(1, ...resourceAttrs), fMsg(2, fMsg(1, fString(1, 'scope')), ...spans)));
}

/** Reads the top-level fields of a protobuf message: varints as bigint, length-delimited as Buffer. */
export function readFields(input: Uint8Array): Map<number, (bigint | Buffer)[]> {
  const b = Buffer.from(input);
  const out = new Map<number, (bigint | Buffer)[]>();
  let pos = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = b[pos++];
      if (byte === undefined) throw new Error('truncated');
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
      shift += 7n;
    }
  };
  while (pos < b.length) {
    const t = Number(readVarint());
    const field = t >>> 3;
    const list = out.get(field) ?? [];
    out.set(field, list);
    if ((t & 7) === 0) list.push(readVarint());
    else if ((t & 7) === 2) {
      const len = Number(readVarint());
      list.push(b.subarray(pos, pos + len));
      pos += len;
    } else throw new Error(`unexpected wire type ${t & 7}`);
  }
  return out;
}
