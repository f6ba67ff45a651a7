/**
 * The frame around a saved checkpoint, the same on disk and in Redis, so that a load never hands back a torn or
 * altered buffer:
 *
 * | offset | bytes | what                                        |
 * |-------:|------:|---------------------------------------------|
 * |      0 |     8 | magic `VIGILST1` (ASCII)                    |
 * |      8 |     4 | format version, uint32 big-endian (1)       |
 * |     12 |     8 | payload length in bytes, uint64 big-endian  |
 * |     20 |    32 | SHA-256 of the payload                      |
 * |     52 |     n | the payload                                 |
 *
 * SHA-256 rather than CRC32: node:zlib has `crc32` only from Node 22, and OpenSSL hashes ~1.5 GB/s.
 */
import { createHash } from 'node:crypto';
import { VigilError } from '../errors.js';

export const FRAME_MAGIC = Buffer.from('VIGILST1', 'ascii');
export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 52;

const VERSION_AT = 8;
const LENGTH_AT = 12;
const DIGEST_AT = 20;

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** The header to write before `payload` (the payload itself is not copied). */
export function frameHeader(payload: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  FRAME_MAGIC.copy(header, 0);
  header.writeUInt32BE(FRAME_VERSION, VERSION_AT);
  header.writeBigUInt64BE(BigInt(payload.length), LENGTH_AT);
  sha256(payload).copy(header, DIGEST_AT);
  return header;
}

/** What is wrong with a framed buffer, or undefined when it is whole. */
function problemOf(framed: Buffer): string | undefined {
  const seen = framed.subarray(0, FRAME_MAGIC.length);
  if (!seen.equals(FRAME_MAGIC.subarray(0, seen.length))) return 'bad magic (not a Vigil checkpoint)';
  if (framed.length < FRAME_HEADER_BYTES) {
    return `truncated: ${framed.length} bytes, shorter than the ${FRAME_HEADER_BYTES}-byte header`;
  }
  const version = framed.readUInt32BE(VERSION_AT);
  if (version !== FRAME_VERSION) return `unsupported format version ${version} (this Vigil reads ${FRAME_VERSION})`;
  const declared = framed.readBigUInt64BE(LENGTH_AT);
  const held = BigInt(framed.length - FRAME_HEADER_BYTES);
  if (held < declared) return `truncated: ${held} of ${declared} payload bytes`;
  if (held > declared) return `${held - declared} unexpected bytes after the ${declared}-byte payload`;
  const payload = framed.subarray(FRAME_HEADER_BYTES);
  if (!sha256(payload).equals(framed.subarray(DIGEST_AT, FRAME_HEADER_BYTES))) return 'checksum mismatch';
  return undefined;
}

/**
 * The payload of a framed buffer (a view into it, not a copy). Throws VIGIL_ERR_STATE_CORRUPT naming `where`
 * and what is wrong (bad magic, truncated, unsupported version, trailing bytes, checksum mismatch).
 */
export function unframe(framed: Buffer, where: string): Buffer {
  const problem = problemOf(framed);
  if (problem !== undefined) {
    throw new VigilError('VIGIL_ERR_STATE_CORRUPT', [where, problem], { details: { where, bytes: framed.length } });
  }
  return framed.subarray(FRAME_HEADER_BYTES);
}
