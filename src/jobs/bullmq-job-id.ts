/**
 * Reversible mapping of Vigil job ids to BullMQ custom job ids.
 *
 * BullMQ 6 (checked in 6.7.0, `Job.validateOptions`) rejects custom ids that contain ':' (unless they have exactly
 * three ':'-separated parts, a legacy repeatable-job format) and ids that are integers (`parseInt(id) + '' === id`).
 * Vigil's ids are `<analysis>:<decision>:<action>` and may hold more ':' (notification ids, route analyses), so the
 * adapter percent-escapes them:
 *   '%' → '%25', ':' → '%3A', and when the escaped id would read as an integer, its first character is escaped too
 *   ('123' → '%3123', '-5' → '%2D5').
 * The mapping is injective and `decodeJobId(encodeJobId(id)) === id` for every string. O(length).
 */

const hex = (ch: string): string => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;

export function encodeJobId(id: string): string {
  const escaped = id.replace(/[%:]/g, hex);
  if (`${parseInt(escaped, 10)}` === escaped) return hex(escaped.charAt(0)) + escaped.slice(1);
  return escaped;
}

export function decodeJobId(encoded: string): string {
  return encoded.replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}
