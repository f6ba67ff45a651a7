/**
 * Admission control for OTLP ingestion: the bounded queue between receiving and aggregating.
 *
 * A request is admitted when its headers arrive and released when its answer has been sent or its connection
 * has gone away. While admitted, it holds a request slot and a charge: an estimate of the memory it holds (its
 * body, raw and inflated, and the samples decoded from it). The charge follows the bytes that have ARRIVED
 * (`grow`, as the body is read; `resize`, once a gRPC message is in memory), never the length a client
 * announces: a client that announces 16 MiB and sends nothing holds a slot and no bytes, and the receivers'
 * timeouts take the slot back. What a request is expected to need (its announced length) is only tested
 * against the room left when it arrives, so that a request that cannot fit is still refused at once, unread.
 *
 * When admitting one more request would exceed `maxRequests`, or its expected charge would not fit in
 * `maxBytes` next to the bytes held, it is refused and the receiver answers 503 + `Retry-After` (HTTP) or
 * UNAVAILABLE + RetryInfo (gRPC), which Collectors and SDKs retry with backoff instead of dropping. A body
 * whose bytes would pass `maxBytes` while it is read is refused the same way (`grow` says no) and the rest of
 * it is discarded unread. Nothing acknowledged is ever dropped: admitted requests are decoded and aggregated
 * before they are acknowledged.
 *
 * A request larger than `maxBytes` on its own is admitted, and may grow, while no other request holds bytes
 * (otherwise it could never pass); the body limit of the receiver bounds it.
 *
 * Memory held by ingestion is therefore at most about `maxBytes` (plus one oversized request), whatever the
 * offered load. O(1) per call.
 */
export interface IngestGateOptions {
  /** Estimated bytes held by admitted requests, at most. */
  maxBytes: number;
  /** Admitted requests (any transport), at most. */
  maxRequests: number;
  /** The `Retry-After` / RetryInfo delay suggested to refused clients, in seconds (>= 1). */
  retryAfterSeconds: number;
}

export type Admission =
  | {
      ok: true;
      /** The current charge. */
      readonly bytes: number;
      /** Replaces the charge by the known size once the body is in memory (never refuses: it is read). */
      resize(bytes: number): void;
      /**
       * Raises the charge to `bytes` as the body arrives (a smaller value changes nothing). Refuses (false, the
       * charge unchanged, counted as refused) when that would pass `maxBytes` while other requests hold bytes.
       */
      grow(bytes: number): boolean;
      release(): void;
    }
  | { ok: false; reason: 'bytes' | 'requests'; retryAfterSeconds: number };

export interface GateStats {
  inFlightBytes: number;
  inFlightRequests: number;
  admitted: number;
  refused: number;
  /** Highest in-flight byte estimate seen. */
  peakBytes: number;
}

export const DEFAULT_INGEST_GATE: IngestGateOptions = {
  maxBytes: 256 * 1024 * 1024,
  maxRequests: 256,
  retryAfterSeconds: 1,
};

/** Typical OTLP protobuf gzip ratio is 5-10x; a gzip body is charged this many times its wire size. */
export const GZIP_CHARGE_FACTOR = 6;
/** JSON.parse of OTLP/JSON builds objects several times the size of the text; a JSON body is charged more. */
export const JSON_CHARGE_FACTOR = 4;

/**
 * The memory a request of `announced` wire bytes is charged (or expected to need, while its bytes have not
 * arrived; `unknownBytes` when no Content-Length was sent): its wire size plus its decoded form: the inflated
 * size (wire times GZIP_CHARGE_FACTOR for gzip, at most the body limit), times JSON_CHARGE_FACTOR for JSON
 * (protobuf decodes straight into samples, about as large as the bytes they come from).
 */
export function chargeFor(
  announced: number | undefined,
  body: { gzip: boolean; json: boolean },
  limit: number,
  unknownBytes = Math.min(limit, 1024 * 1024),
): number {
  const wire = announced === undefined || !Number.isFinite(announced) || announced < 0 ? unknownBytes : announced;
  const inflated = Math.min(limit, body.gzip ? wire * GZIP_CHARGE_FACTOR : wire);
  return wire + inflated * (body.json ? JSON_CHARGE_FACTOR : 1);
}

export class IngestGate {
  private inFlightBytes = 0;
  private inFlightRequests = 0;
  private admitted = 0;
  private refused = 0;
  private peakBytes = 0;

  constructor(private readonly opts: IngestGateOptions = DEFAULT_INGEST_GATE) {}

  /**
   * Admits a request charged `bytes` now, or says why not. `expected` (at least `bytes`) is what the request is
   * expected to grow to: it must fit next to the bytes held, but only `bytes` is held. Requests that hold no
   * bytes (waiting for their body) never make another one wait for room. `release` is idempotent.
   */
  tryAdmit(bytes: number, expected = bytes): Admission {
    const charge = Math.max(0, bytes);
    const needs = Math.max(charge, expected);
    if (this.inFlightRequests >= this.opts.maxRequests) return this.refuse('requests');
    if (this.inFlightBytes > 0 && this.inFlightBytes + needs > this.opts.maxBytes) return this.refuse('bytes');
    this.inFlightRequests++;
    this.inFlightBytes += charge;
    this.admitted++;
    if (this.inFlightBytes > this.peakBytes) this.peakBytes = this.inFlightBytes;
    let released = false;
    let held = charge;
    return {
      ok: true,
      get bytes() {
        return held;
      },
      resize: (bytes: number) => {
        if (released) return;
        const next = Math.max(0, bytes);
        this.inFlightBytes += next - held;
        held = next;
        if (this.inFlightBytes > this.peakBytes) this.peakBytes = this.inFlightBytes;
      },
      grow: (bytes: number) => {
        if (released || bytes <= held) return true;
        const others = this.inFlightBytes - held;
        if (others > 0 && others + bytes > this.opts.maxBytes) {
          this.refused++;
          return false;
        }
        this.inFlightBytes = others + bytes;
        held = bytes;
        if (this.inFlightBytes > this.peakBytes) this.peakBytes = this.inFlightBytes;
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.inFlightRequests--;
        this.inFlightBytes -= held;
      },
    };
  }

  /** The delay refused clients are asked to wait, in whole seconds (>= 1). */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.opts.retryAfterSeconds));
  }

  stats(): GateStats {
    return {
      inFlightBytes: this.inFlightBytes,
      inFlightRequests: this.inFlightRequests,
      admitted: this.admitted,
      refused: this.refused,
      peakBytes: this.peakBytes,
    };
  }

  private refuse(reason: 'bytes' | 'requests'): Admission {
    this.refused++;
    return { ok: false, reason, retryAfterSeconds: this.retryAfterSeconds };
  }
}
