import type { OtlpEncoding } from './otlp-responses.js';

/**
 * Header parsing for the OTLP/HTTP receiver. Media types are compared without parameters and
 * case-insensitively (`application/json; charset=utf-8` is JSON).
 */
export interface MediaType {
  encoding: OtlpEncoding;
  /** The media type as received, lower-cased and without parameters; echoed as the answer's Content-Type. */
  mediaType: string;
}

const MEDIA_TYPES: ReadonlyMap<string, OtlpEncoding> = new Map<string, OtlpEncoding>([
  ['application/x-protobuf', 'protobuf'],
  ['application/protobuf', 'protobuf'],
  ['application/json', 'json'],
]);

/** The OTLP encoding of a Content-Type header, or undefined when it is absent or not supported. */
export function parseOtlpMediaType(header: string | undefined): MediaType | undefined {
  if (header === undefined) return undefined;
  const semi = header.indexOf(';');
  const mediaType = (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase();
  const encoding = MEDIA_TYPES.get(mediaType);
  return encoding === undefined ? undefined : { encoding, mediaType };
}

/**
 * 'gzip' or 'identity' for a Content-Encoding header (absent, empty, `identity` and `none` mean no
 * compression), or undefined for anything else (deflate, br, zstd, stacked encodings).
 */
export function parseContentEncoding(header: string | string[] | undefined): 'gzip' | 'identity' | undefined {
  if (header === undefined) return 'identity';
  if (Array.isArray(header)) return undefined;
  const value = header.trim().toLowerCase();
  if (value === '' || value === 'identity' || value === 'none') return 'identity';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  return undefined;
}
