/**
 * Small, fast, deterministic 32-bit hashing for the backtest: trace ids are hashed once when the recording
 * is decoded; each trial then mixes those hashes with its salt to split traffic into pseudo-cohorts and to
 * draw injected failures. Not cryptographic: only well mixed (murmur3's finaliser, full avalanche).
 */

/** murmur3 fmix32: every input bit flips each output bit with probability ~1/2. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a over the UTF-16 code units of `s`, seeded, then fmix32. O(length). */
export function hashString(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ fmix32(seed)) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** Mixes three 32-bit words into one; changing any of them gives an unrelated result. */
export function mix3(a: number, b: number, c: number): number {
  let h = fmix32((a ^ Math.imul(c, 0x9e3779b1)) >>> 0);
  h = fmix32((h ^ b ^ Math.imul(c, 0x27d4eb2f)) >>> 0);
  return h;
}

/** A uniform draw in [0, 1) from three words (see mix3). */
export function uniform3(a: number, b: number, c: number): number {
  return mix3(a, b, c) / 4294967296;
}
