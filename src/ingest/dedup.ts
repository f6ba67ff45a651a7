import type { RequestSample } from '../contracts/telemetry.js';

/**
 * De-duplication of request samples by span (issue 11): a batch delivered twice (a Collector retry after a
 * lost response or after Vigil's 503, a gRPC retry) counts once.
 *
 * Keys (RequestSample.spanKey, a 52-bit hash of trace id + span id) are kept per service in event-time
 * buckets of `bucketMs` (the look interval; a sample's bucket is that of its end). A bucket is dropped once
 * it can no longer change: when the service's latest span end is `horizonMs` past the bucket's end (the
 * horizon is at least the analysis's allowed lateness, so anything older is late for the analysis anyway).
 * Memory is thus bounded by the traffic within the horizon, and in all by `maxSpans` keys: past it, new
 * spans pass unchecked (counted). Unchecked too: spans without ids and spans of a bucket already dropped.
 *
 * Cost: one Map lookup per service change and per bucket change within a batch, one probe of a flat hash
 * table per sample. Memory: 10.7 to 21 bytes a key in the tables (KeyTable), plus ~600 bytes a bucket; the
 * ingest bench (`--dedup`) measures it. Deterministic: event time only, so a replay gives the same result.
 */
export interface DedupSettings {
  /** Event-time bucket width (ms): the look interval. */
  bucketMs: number;
  /** How far behind a service's latest span end a bucket is kept (ms). */
  horizonMs: number;
  /** Keys tracked at most, all services together. */
  maxSpans: number;
}

/** What one `filter` call did (counters since the last call). */
export interface DedupCounts {
  duplicates: number;
  /** Past `maxSpans`: not checked, counted as new. */
  uncheckedLimit: number;
  /** No span id (e.g. OTLP/JSON with empty ids). */
  uncheckedNoId: number;
  /** The span's bucket was already dropped (older than the horizon: late for the analysis too). */
  uncheckedLate: number;
}

interface ServiceKeys {
  latestEndMs: number;
  buckets: Map<number, KeyTable>;
}

/**
 * A set of span keys (integers in [0, 2^52)) in one array of unboxed doubles, open addressing with linear
 * probing, grown ×2 past 3/4 full: 8 bytes a slot, so 10.7 to 21 bytes a key, and a single object for the
 * garbage collector (a Set<number> of such keys costs ~42 bytes a key, each key a heap number the GC must
 * mark). Not a Float64Array: thousands of small off-heap ArrayBuffers made the whole ingest path 23-28%
 * slower through GC (ingest bench `--dedup`); a PACKED_DOUBLE array lives on the V8 heap and costs ~1-3%. The keys are
 * hashes already: their low 32 bits index the table. Slots hold key + 1 (0 = empty).
 */
/** `n` zeros in an array of unboxed doubles (PACKED_DOUBLE_ELEMENTS: 8 bytes each, nothing for the GC to trace). */
function doubles(n: number): number[] {
  const a = new Array<number>(n).fill(0.5);
  a.fill(0);
  return a;
}

export class KeyTable {
  private slots: number[];
  private mask: number;
  size = 0;

  constructor(capacity = 64) {
    this.slots = doubles(capacity);
    this.mask = capacity - 1;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.slots.length * 8;
  }

  /** Adds `key`; false when it was there already. */
  add(key: number): boolean {
    const i = this.slotOf(key);
    if (this.slots[i] !== 0) return false;
    this.slots[i] = key + 1;
    if (++this.size * 4 > this.slots.length * 3) this.grow();
    return true;
  }

  has(key: number): boolean {
    return this.slots[this.slotOf(key)] !== 0;
  }

  /** Linear probing: the slot holding `key` (stored as key + 1; 0 is empty), or the empty slot where it goes. */
  private slotOf(key: number): number {
    const v = key + 1;
    const slots = this.slots;
    const mask = this.mask;
    let i = (key >>> 0) & mask;
    for (;;) {
      const x = slots[i]!;
      if (x === v || x === 0) return i;
      i = (i + 1) & mask;
    }
  }

  private grow(): void {
    const old = this.slots;
    const slots = doubles(old.length * 2);
    const mask = slots.length - 1;
    for (let j = 0; j < old.length; j++) {
      const v = old[j]!;
      if (v === 0) continue;
      let i = ((v - 1) >>> 0) & mask;
      while (slots[i] !== 0) i = (i + 1) & mask;
      slots[i] = v;
    }
    this.slots = slots;
    this.mask = mask;
  }
}

export class SpanDedup {
  private readonly services = new Map<string, ServiceKeys>();
  private readonly settings: DedupSettings;
  private trackedSpans = 0;
  /** The latest span end of all services, and when (in it) idle services are next swept. */
  private latestEndMs = -Infinity;
  private nextSweepMs = -Infinity;
  readonly counts: DedupCounts = { duplicates: 0, uncheckedLimit: 0, uncheckedNoId: 0, uncheckedLate: 0 };

  constructor(settings: DedupSettings) {
    this.settings = settings;
  }

  /** Keys held now. */
  get tracked(): number {
    return this.trackedSpans;
  }

  /** Services with keys held now. */
  get serviceCount(): number {
    return this.services.size;
  }

  /**
   * Forgets the keys of every service `keep` says no: the caller drops the services its analysis does not track
   * (refused or evicted at limits.maxServices), so a flood of one-off service names does not hold a key table
   * each until the horizon passes. O(services + their buckets).
   */
  retain(keep: (service: string) => boolean): void {
    for (const [name, svc] of this.services) {
      if (keep(name)) continue;
      for (const set of svc.buckets.values()) this.trackedSpans -= set.size;
      this.services.delete(name);
    }
  }

  /** Buckets held now (all services). */
  get bucketCount(): number {
    let n = 0;
    for (const svc of this.services.values()) n += svc.buckets.size;
    return n;
  }

  /** Bytes held by the key tables (O(buckets)). */
  get tableBytes(): number {
    let n = 0;
    for (const svc of this.services.values()) for (const t of svc.buckets.values()) n += t.bytes;
    return n;
  }

  /**
   * The samples that are not duplicates, in order: the same array when there is none. Adds to `counts`.
   * Samples ending after `latestMs` (beyond the clock skew of their receipt: the analysis refuses and counts them)
   * are passed on unchecked and move no window. O(samples) plus O(buckets) of each service seen in the batch.
   */
  filter(samples: RequestSample[], latestMs = Infinity): RequestSample[] {
    const { bucketMs, horizonMs, maxSpans } = this.settings;
    const counts = this.counts;
    let out: RequestSample[] | undefined;
    let svcName: string | undefined;
    let svc: ServiceKeys | undefined;
    let bucketId = NaN;
    let set: KeyTable | undefined;
    let touched: ServiceKeys[] | undefined;
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i]!;
      const key = s.spanKey;
      let dup = false;
      if (key === undefined) counts.uncheckedNoId++;
      else if (s.endUnixMs <= latestMs) {
        if (s.service !== svcName || svc === undefined) {
          svcName = s.service;
          svc = this.serviceOf(svcName);
          (touched ??= []).push(svc);
          bucketId = NaN;
        }
        const end = s.endUnixMs;
        if (end > svc.latestEndMs) svc.latestEndMs = end;
        const b = Math.floor(end / bucketMs);
        if (b !== bucketId) {
          bucketId = b;
          set = (b + 1) * bucketMs + horizonMs <= svc.latestEndMs ? undefined : this.bucketOf(svc, b);
        }
        if (set === undefined) counts.uncheckedLate++;
        else if (this.trackedSpans < maxSpans) {
          if (set.add(key)) this.trackedSpans++;
          else dup = true;
        } else if (set.has(key)) dup = true;
        else counts.uncheckedLimit++;
      }
      if (dup) {
        counts.duplicates++;
        out ??= samples.slice(0, i);
      } else if (out !== undefined) out.push(s);
    }
    if (touched !== undefined) {
      for (const t of touched) {
        this.expire(t);
        if (t.latestEndMs > this.latestEndMs) this.latestEndMs = t.latestEndMs;
      }
      if (this.latestEndMs >= this.nextSweepMs) this.sweepIdle();
    }
    return out ?? samples;
  }

  /** Resets the counters, returning their values. */
  takeCounts(): DedupCounts {
    const c = { ...this.counts };
    this.counts.duplicates = 0;
    this.counts.uncheckedLimit = 0;
    this.counts.uncheckedNoId = 0;
    this.counts.uncheckedLate = 0;
    return c;
  }

  private serviceOf(name: string): ServiceKeys {
    let svc = this.services.get(name);
    if (svc === undefined) {
      svc = { latestEndMs: -Infinity, buckets: new Map() };
      this.services.set(name, svc);
    }
    return svc;
  }

  private bucketOf(svc: ServiceKeys, b: number): KeyTable {
    let set = svc.buckets.get(b);
    if (set === undefined) {
      set = new KeyTable();
      svc.buckets.set(b, set);
    }
    return set;
  }

  /**
   * A service that stops sending never expires its own buckets: once per look interval of event time (all
   * services), the buckets of every service are expired against the latest end of all services, and services
   * left without buckets are forgotten. O(services + buckets) per interval.
   */
  private sweepIdle(): void {
    const { bucketMs } = this.settings;
    this.nextSweepMs = this.latestEndMs + bucketMs;
    for (const [name, svc] of this.services) {
      this.expire(svc, this.latestEndMs);
      if (svc.buckets.size === 0) this.services.delete(name);
    }
  }

  /** Drops the buckets of `svc` that can no longer change. */
  private expire(svc: ServiceKeys, nowMs = svc.latestEndMs): void {
    const { bucketMs, horizonMs } = this.settings;
    for (const [b, set] of svc.buckets) {
      if ((b + 1) * bucketMs + horizonMs <= nowMs) {
        this.trackedSpans -= set.size;
        svc.buckets.delete(b);
      }
    }
  }
}
