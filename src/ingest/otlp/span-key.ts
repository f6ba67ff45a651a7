/**
 * The de-duplication key of a span: a 52-bit hash of its trace id (16 bytes, or none) then its span id
 * (8 bytes), fed as little-endian 32-bit words so that the protobuf decoder (raw bytes) and the JSON decoder
 * (hex) give the same key. The trace key (RequestSample.traceKey, which groups the attempts of one request) is
 * the same hash taken after the trace id's 4 words: `key()` does not change the state, so one pass gives both. Two 32-bit lanes (murmur3-style word mixing, fmix32 at the end) keep 20 + 32 bits:
 * an integer below 2^52, exact as a JS number (no bigint, no string per span). Span ids are random 64-bit
 * values, so among 1M spans tracked in one window the chance of any false duplicate is about n²/2^53 ≈ 1e-4.
 */
export class SpanKeyHasher {
  private a = 0;
  private b = 0;

  reset(): void {
    this.a = 0x811c9dc5;
    this.b = 0x9747b28c;
  }

  word(w: number): void {
    let k = Math.imul(w, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    let a = this.a ^ k;
    a = (a << 13) | (a >>> 19);
    this.a = (Math.imul(a, 5) + 0xe6546b64) | 0;
    this.b = Math.imul(this.b ^ w, 0x5bd1e995) ^ (this.b >>> 15);
  }

  /** Hashes `words` little-endian 32-bit words of `buf` from `at`. */
  words(buf: Uint8Array, at: number, words: number): void {
    for (let i = 0; i < words; i++, at += 4)
      this.word(buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24));
  }

  /** Hashes a hex string (either case) of `words` × 4 bytes; false when it is not that. */
  hex(s: string, words: number): boolean {
    if (s.length !== words * 8) return false;
    for (let i = 0; i < s.length; i += 8) {
      let w = 0;
      for (let j = 0; j < 8; j += 2) {
        const hi = hexDigit(s.charCodeAt(i + j));
        const lo = hexDigit(s.charCodeAt(i + j + 1));
        if (hi < 0 || lo < 0) return false;
        w |= ((hi << 4) | lo) << (j * 4);
      }
      this.word(w);
    }
    return true;
  }

  /** The key of what was hashed. */
  key(): number {
    const a = fmix32(this.a ^ Math.imul(this.b, 0x85ebca6b));
    const b = fmix32(this.b ^ this.a ^ 0x27d4eb2f);
    return (a >>> 12) * 4294967296 + (b >>> 0);
  }
}

/** The trace key of the all-zero trace id (invalid: no trace key), computed once. */
export const ZERO_TRACE_KEY: number = (() => {
  const h = new SpanKeyHasher();
  h.reset();
  for (let i = 0; i < 4; i++) h.word(0);
  return h.key();
})();

/** Whether 8 bytes at `at` are all zero (an invalid span id: no key). */
export function zeroId(buf: Uint8Array, at: number): boolean {
  for (let i = 0; i < 8; i++) if (buf[at + i] !== 0) return false;
  return true;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}
