import { VigilError } from '../../errors.js';

/**
 * A minimal protobuf wire-format reader over a Buffer, for the hand-written OTLP decoders.
 *
 * Every read takes the end offset of the enclosing message and the name of what is being read
 * (`Span.start_time_unix_nano`), so a malformed payload fails with a precise message such as
 * "truncated varint at offset 1234 in Span.kind". Nothing is allocated per field; strings are decoded only
 * when asked. Reads never go past `end`, lengths are checked against the bytes that remain before anything
 * is sliced, and varints longer than 10 bytes are rejected, so any input is decoded or rejected in O(n).
 */
export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32', '6', '7'];

export function decodeError(message: string): VigilError {
  return new VigilError('VIGIL_ERR_INGEST_DECODE', [message], { details: { encoding: 'protobuf' } });
}

export class ProtoReader {
  readonly buf: Buffer;
  pos = 0;
  /** High and low 32-bit words of the last fixed64 read. */
  hi = 0;
  lo = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  fail(what: string, offset: number, where: string): VigilError {
    return decodeError(`${what} at offset ${offset} in ${where}`);
  }

  /** An unsigned varint truncated to its low 32 bits (enums, tags, int32). Up to 10 bytes are consumed. */
  varint32(end: number, where: string): number {
    const buf = this.buf;
    let pos = this.pos;
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw this.fail('truncated varint', this.pos, where);
      const b = buf[pos++]!;
      if (shift < 32) result |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return result >>> 0;
      }
      shift += 7;
    }
    throw this.fail('overlong varint (more than 10 bytes)', this.pos, where);
  }

  /** A varint as a signed 64-bit integer (int64), as a number: exact up to 2^53 in magnitude. */
  varint64(end: number, where: string): number {
    const buf = this.buf;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw this.fail('truncated varint', this.pos, where);
      const b = buf[pos++]!;
      const bits = b & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= bits << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if (b < 0x80) {
        this.pos = pos;
        return (hi | 0) * 4294967296 + (lo >>> 0);
      }
    }
    throw this.fail('overlong varint (more than 10 bytes)', this.pos, where);
  }

  /** Reads a fixed64 into `hi`/`lo`. */
  fixed64(end: number, where: string): void {
    const pos = this.pos;
    if (end - pos < 8) throw this.fail('truncated fixed64', pos, where);
    const buf = this.buf;
    this.lo = (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
    this.hi = (buf[pos + 4]! | (buf[pos + 5]! << 8) | (buf[pos + 6]! << 16) | (buf[pos + 7]! << 24)) >>> 0;
    this.pos = pos + 8;
  }

  double(end: number, where: string): number {
    const pos = this.pos;
    if (end - pos < 8) throw this.fail('truncated double', pos, where);
    this.pos = pos + 8;
    return this.buf.readDoubleLE(pos);
  }

  /**
   * Reads the length prefix of a length-delimited field and returns the field's end offset; `pos` is left at
   * the field's first byte. Rejects a length that runs past `end`.
   */
  lengthDelimited(end: number, where: string, unknownTag = -1): number {
    const start = this.pos;
    const len = this.varint64(end, where);
    if (len < 0 || len > end - this.pos) {
      const name = unknownTag < 0 ? where : `${where} field ${unknownTag >>> 3}`;
      throw this.fail(
        `length ${len} runs past the end of the enclosing message (${end - this.pos} bytes left)`,
        start,
        name,
      );
    }
    return this.pos + len;
  }

  /**
   * Reads a tag and returns it (field number << 3 | wire type). Rejects field number 0 and the wire types
   * that are not used by proto3 (groups 3/4, and 6/7).
   */
  tag(end: number, message: string): number {
    const start = this.pos;
    const tag = this.varint32(end, message);
    const wire = tag & 7;
    if (tag >>> 3 === 0) throw this.fail('invalid field number 0', start, message);
    if (wire === 3 || wire === 4 || wire > 5) {
      throw this.fail(`unsupported wire type ${WIRE_NAMES[wire]} for field ${tag >>> 3}`, start, message);
    }
    return tag;
  }

  /** Rejects a known field that arrives with the wrong wire type. */
  expect(tag: number, wire: number, where: string): void {
    if ((tag & 7) !== wire) {
      throw this.fail(`wire type ${WIRE_NAMES[tag & 7]} where ${WIRE_NAMES[wire]} was expected`, this.pos, where);
    }
  }

  /** Skips the value of a field Vigil does not read. O(1) except for varints (at most 10 bytes). */
  skip(tag: number, end: number, message: string): void {
    const wire = tag & 7;
    const start = this.pos;
    switch (wire) {
      case WIRE_VARINT: {
        const buf = this.buf;
        let pos = start;
        for (let i = 0; ; i++) {
          if (i === 10) throw this.fail('overlong varint (more than 10 bytes)', start, `${message} field ${tag >>> 3}`);
          if (pos >= end) throw this.fail('truncated varint', start, `${message} field ${tag >>> 3}`);
          if (buf[pos++]! < 0x80) break;
        }
        this.pos = pos;
        return;
      }
      case WIRE_FIXED64:
        if (end - start < 8) throw this.fail('truncated fixed64', start, `${message} field ${tag >>> 3}`);
        this.pos = start + 8;
        return;
      case WIRE_LEN:
        this.pos = this.lengthDelimited(end, message, tag);
        return;
      case WIRE_FIXED32:
        if (end - start < 4) throw this.fail('truncated fixed32', start, `${message} field ${tag >>> 3}`);
        this.pos = start + 4;
        return;
      default:
        throw this.fail(`unsupported wire type ${WIRE_NAMES[wire]}`, start, `${message} field ${tag >>> 3}`);
    }
  }

  /** UTF-8 text of buf[start, end); invalid sequences become U+FFFD (as protobuf runtimes in JS do). */
  text(start: number, end: number): string {
    return this.buf.toString('utf8', start, end);
  }
}
