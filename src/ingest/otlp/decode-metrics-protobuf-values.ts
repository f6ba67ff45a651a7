import type { Scalar } from '../../contracts/telemetry.js';
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
import type { ProtoReader } from './proto-reader.js';
import { WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from './proto-reader.js';

/**
 * Attribute values of OTLP metrics in protobuf (KeyValue, AnyValue, ArrayValue, KeyValueList), every value
 * decoded into its scalar and its canonical form (src/ingest/metrics/attributes.ts): stream identity needs
 * all attributes, not only the ones Vigil interprets. Nesting deeper than MAX_VALUE_DEPTH is rejected, so a
 * hostile payload cannot exhaust the stack. O(bytes of the value).
 */
export class ProtoValueReader {
  /** The scalar of the last AnyValue read (its canonical form is returned). */
  private scalar: Scalar = undefined;

  constructor(protected readonly r: ProtoReader) {}

  /** A KeyValue, every value decoded (identity needs all of them). */
  protected keyValue(end: number, depth: number): AttrEntry {
    const r = this.r;
    let key = '';
    let canon = '';
    let value: Scalar = undefined;
    while (r.pos < end) {
      const tag = r.tag(end, 'KeyValue');
      const field = tag >>> 3;
      if (field === 1) {
        r.expect(tag, WIRE_LEN, 'KeyValue.key');
        const e = r.lengthDelimited(end, 'KeyValue.key');
        key = r.text(r.pos, e);
        r.pos = e;
      } else if (field === 2) {
        r.expect(tag, WIRE_LEN, 'KeyValue.value');
        const e = r.lengthDelimited(end, 'KeyValue.value');
        canon = this.anyValue(e, depth);
        value = this.scalar;
        r.pos = e;
      } else r.skip(tag, end, 'KeyValue');
    }
    return { key, value, canon };
  }

  /** An AnyValue: returns its canonical form and leaves its scalar in `this.scalar` (last member wins). */
  protected anyValue(end: number, depth: number): string {
    const r = this.r;
    if (depth > MAX_VALUE_DEPTH)
      throw r.fail(`attribute value nested deeper than ${MAX_VALUE_DEPTH} levels`, r.pos, 'AnyValue');
    let canon = '';
    let scalar: Scalar = undefined;
    while (r.pos < end) {
      const tag = r.tag(end, 'AnyValue');
      switch (tag >>> 3) {
        case 1: {
          r.expect(tag, WIRE_LEN, 'AnyValue.string_value');
          const e = r.lengthDelimited(end, 'AnyValue.string_value');
          const s = r.text(r.pos, e);
          r.pos = e;
          scalar = s;
          canon = canonString(s);
          break;
        }
        case 2: {
          r.expect(tag, WIRE_VARINT, 'AnyValue.bool_value');
          const b = r.varint32(end, 'AnyValue.bool_value') !== 0;
          scalar = b;
          canon = canonBool(b);
          break;
        }
        case 3: {
          r.expect(tag, WIRE_VARINT, 'AnyValue.int_value');
          const n = r.varint64(end, 'AnyValue.int_value');
          scalar = n;
          canon = canonInt(n);
          break;
        }
        case 4: {
          r.expect(tag, WIRE_FIXED64, 'AnyValue.double_value');
          const d = r.double(end, 'AnyValue.double_value');
          scalar = d;
          canon = canonDouble(d);
          break;
        }
        case 5:
        case 6: {
          const array = tag >>> 3 === 5;
          const where = array ? 'AnyValue.array_value' : 'AnyValue.kvlist_value';
          r.expect(tag, WIRE_LEN, where);
          const e = r.lengthDelimited(end, where);
          canon = array ? this.arrayValue(e, depth + 1) : this.kvList(e, depth + 1);
          scalar = undefined;
          r.pos = e;
          break;
        }
        case 7: {
          r.expect(tag, WIRE_LEN, 'AnyValue.bytes_value');
          const e = r.lengthDelimited(end, 'AnyValue.bytes_value');
          canon = canonBytes(r.buf.subarray(r.pos, e));
          scalar = undefined;
          r.pos = e;
          break;
        }
        default:
          r.skip(tag, end, 'AnyValue');
      }
    }
    this.scalar = scalar;
    return canon;
  }

  private arrayValue(end: number, depth: number): string {
    const r = this.r;
    const items: string[] = [];
    while (r.pos < end) {
      const tag = r.tag(end, 'ArrayValue');
      if (tag >>> 3 === 1) {
        r.expect(tag, WIRE_LEN, 'ArrayValue.values');
        const e = r.lengthDelimited(end, 'ArrayValue.values');
        items.push(this.anyValue(e, depth));
        r.pos = e;
      } else r.skip(tag, end, 'ArrayValue');
    }
    return canonArray(items);
  }

  private kvList(end: number, depth: number): string {
    const r = this.r;
    const pairs: [string, string][] = [];
    while (r.pos < end) {
      const tag = r.tag(end, 'KeyValueList');
      if (tag >>> 3 === 1) {
        r.expect(tag, WIRE_LEN, 'KeyValueList.values');
        const e = r.lengthDelimited(end, 'KeyValueList.values');
        const kv = this.keyValue(e, depth);
        pairs.push([kv.key, kv.canon]);
        r.pos = e;
      } else r.skip(tag, end, 'KeyValueList');
    }
    return canonKvList(pairs);
  }
}

/** sint32 from the low 32 bits of its zigzag varint. */
export function zigzag32(n: number): number {
  return (n >>> 1) ^ -(n & 1);
}

/** A uint64 read as a signed 64-bit number, back to unsigned (exact up to 2^53, rounded above). */
export function unsigned64(v: number): number {
  return v < 0 ? v + 18446744073709551616 : v;
}
