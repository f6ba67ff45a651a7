/**
 * Bodies of OTLP/HTTP answers, in the request's encoding (OTLP spec, "OTLP/HTTP Response"):
 * - success: an empty Export*ServiceResponse (zero bytes for protobuf, `{}` for JSON), or one carrying
 *   `partial_success { rejected_spans = 1 (int64); error_message = 2 }` (field 1 of the response);
 * - failure: a google.rpc.Status `{ int32 code = 1; string message = 2 }`.
 * int64 is a decimal string in proto3 JSON, as the Collector writes it.
 */
export type OtlpEncoding = 'protobuf' | 'json';

/** google.rpc.Code values used by the receiver. */
export const RPC_INVALID_ARGUMENT = 3;
export const RPC_DEADLINE_EXCEEDED = 4;
export const RPC_RESOURCE_EXHAUSTED = 8;
export const RPC_UNIMPLEMENTED = 12;
export const RPC_INTERNAL = 13;
export const RPC_UNAVAILABLE = 14;

function varint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

function lengthDelimited(out: number[], fieldNumber: number, payload: readonly number[] | Uint8Array): void {
  varint(out, (fieldNumber << 3) | 2);
  varint(out, payload.length);
  for (const b of payload) out.push(b);
}

/** Success body; `rejected` > 0 adds a partial success with `message`. */
export function exportResponseBody(
  encoding: OtlpEncoding,
  rejected = 0,
  message = '',
  itemsField = 'rejectedSpans',
): Buffer {
  if (rejected <= 0 && message === '') return Buffer.from(encoding === 'json' ? '{}' : '');
  if (encoding === 'json') {
    const partialSuccess: Record<string, string> = { [itemsField]: String(rejected) };
    if (message !== '') partialSuccess.errorMessage = message;
    return Buffer.from(JSON.stringify({ partialSuccess }));
  }
  const inner: number[] = [];
  if (rejected > 0) {
    varint(inner, (1 << 3) | 0);
    varint(inner, rejected);
  }
  if (message !== '') lengthDelimited(inner, 2, Buffer.from(message, 'utf8'));
  const outer: number[] = [];
  lengthDelimited(outer, 1, Uint8Array.from(inner));
  return Buffer.from(outer);
}

/** A google.rpc.Status body. */
export function statusBody(encoding: OtlpEncoding, code: number, message: string): Buffer {
  if (encoding === 'json') return Buffer.from(JSON.stringify({ code, message }));
  const out: number[] = [];
  varint(out, (1 << 3) | 0);
  varint(out, code);
  if (message !== '') lengthDelimited(out, 2, Buffer.from(message, 'utf8'));
  return Buffer.from(out);
}

/**
 * `google.rpc.Status { code = 1; message = 2; repeated Any details = 3 }` with one detail,
 * `google.rpc.RetryInfo { google.protobuf.Duration retry_delay = 1 }` (Duration { int64 seconds = 1 }),
 * as sent in the `grpc-status-details-bin` trailer.
 */
export function retryInfoStatusDetails(code: number, message: string, retryAfterSeconds: number): Buffer {
  const duration: number[] = [];
  varint(duration, 1 << 3);
  varint(duration, Math.max(0, Math.round(retryAfterSeconds)));
  const retryInfo: number[] = [];
  lengthDelimited(retryInfo, 1, duration);
  const any: number[] = [];
  lengthDelimited(any, 1, Buffer.from('type.googleapis.com/google.rpc.RetryInfo', 'utf8'));
  lengthDelimited(any, 2, retryInfo);
  const out: number[] = [];
  varint(out, 1 << 3);
  varint(out, code);
  if (message !== '') lengthDelimited(out, 2, Buffer.from(message, 'utf8'));
  lengthDelimited(out, 3, any);
  return Buffer.from(out);
}
