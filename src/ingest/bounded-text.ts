import { createHash } from 'node:crypto';

/**
 * The length limit on the text Vigil keeps from its input (`limits.maxNameLength`, in UTF-8 bytes, as
 * Prometheus counts `label_value_length_limit`), so that memory follows the config, never the sender: a
 * 10 MB `service.name` must not become a 10 MB key of a map that lives for an hour. The decoders check the
 * length on the wire (protobuf: the field's byte length, before any string is built) and decide per field:
 *
 * - `service.name` longer than the limit: the span or metric data point is REFUSED (rejected through OTLP
 *   partialSuccess). A cut name could merge two services, and the name is what every decision, plan and
 *   rollout entry refers to.
 * - a version (`service.version` or the pod label versions) or a route (`http.route`, or the span name used
 *   as the route) longer than the limit is CUT: its first bytes (whole characters) + `~` + 16 hex digits of
 *   the SHA-256 of the whole value, at most `limit` bytes in all. Two long values stay distinct (the hash),
 *   the telemetry is still analysed, and a config `canaryVersion` is cut the same way so it still matches.
 * - any other recognised value (the cohort attribute, pod labels, status codes) longer than the limit is
 *   ignored, as if absent: none of them can mean anything at that length (cohort words are short).
 *
 * The default, 256 bytes, is above the names real systems give: Kubernetes object names are at most 253
 * characters and label values 63, OCI image tags 128.
 */
export const DEFAULT_MAX_NAME_BYTES = 256;
/** The smallest limit the config accepts (the cut form needs room for a prefix besides its 17-byte suffix). */
export const MIN_MAX_NAME_BYTES = 64;
/** `~` and 16 hex digits. */
const SUFFIX_BYTES = 17;

/** Whether `s` is at most `max` bytes of UTF-8. O(1) unless its length is between max/3 and max. */
export function fitsBytes(s: string, max: number): boolean {
  if (s.length > max) return false; // every UTF-16 unit is at least one byte
  if (s.length * 3 <= max) return true; // and at most three
  return Buffer.byteLength(s, 'utf8') <= max;
}

function suffix(hash: ReturnType<typeof createHash>): string {
  return `~${hash.digest('hex').slice(0, 16)}`;
}

/** Moves a cut back to the start of the UTF-8 character it would split. */
function charStart(buf: Uint8Array, at: number, start: number): number {
  let cut = at;
  while (cut > start && (buf[cut]! & 0xc0) === 0x80) cut--;
  return cut;
}

/**
 * The kept form of the value in buf[start, end), which is longer than `max` bytes: its first whole characters
 * + `~` + 16 hex digits of the SHA-256 of all its bytes; at most `max` bytes (for valid UTF-8). O(end - start).
 */
export function cutBytes(buf: Buffer, start: number, end: number, max: number): string {
  const cut = charStart(buf, start + max - SUFFIX_BYTES, start);
  return buf.toString('utf8', start, cut) + suffix(createHash('sha256').update(buf.subarray(start, end)));
}

/** `s` when it fits in `max` bytes, else its kept form (as `cutBytes` gives for its UTF-8 bytes). */
export function cutString(s: string, max: number): string {
  if (fitsBytes(s, max)) return s;
  // the first `max` UTF-16 units hold at least `max` bytes: enough for the prefix, without encoding all of s
  const head = Buffer.from(s.slice(0, max), 'utf8');
  const cut = charStart(head, max - SUFFIX_BYTES, 0);
  return head.toString('utf8', 0, cut) + suffix(createHash('sha256').update(s, 'utf8'));
}
