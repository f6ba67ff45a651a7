import { CLOUDEVENT_CONTENT_TYPE } from './cloudevent.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signPayload } from './signing.js';

/** One delivery, serialised once: the signature covers exactly these body bytes. */
export interface SignedDelivery {
  body: string;
  headers: Record<string, string>;
}

/**
 * Headers and body of one delivery of a CloudEvent: the event as structured-mode JSON, `X-Vigil-Timestamp`
 * (unix seconds of `nowMs`) and, with a secret, `X-Vigil-Signature: sha256=<hex>` over `<timestamp>.<body>`
 * (DESIGN.md, signed webhooks). `Idempotency-Key` repeats the event id for receivers that dedupe on a
 * header. Configured extra headers come first, so they can never replace these (options reject that too).
 */
export function signedDelivery(
  event: { id: string },
  opts: { secret?: string; headers: Record<string, string>; nowMs: number },
): SignedDelivery {
  const body = JSON.stringify(event);
  const timestampSec = Math.floor(opts.nowMs / 1000);
  const headers: Record<string, string> = {
    ...opts.headers,
    'content-type': CLOUDEVENT_CONTENT_TYPE,
    'user-agent': 'vigil',
    'idempotency-key': event.id,
    [TIMESTAMP_HEADER]: String(timestampSec),
  };
  if (opts.secret !== undefined) headers[SIGNATURE_HEADER] = signPayload(opts.secret, timestampSec, body);
  return { body, headers };
}
