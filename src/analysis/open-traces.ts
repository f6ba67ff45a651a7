/**
 * The open traces of the request grouping (analysis.requestUnit `trace`, issue 13): the unit of analysis is the
 * request a user made, not each attempt at serving it. The attempts of one request are the request spans of the
 * same trace (RequestSample.traceKey), service and cohort that end in the same look; the registry counts them as
 * ONE request: failed when its last attempt (latest end) failed, lasting from the earliest start to the latest end
 * (what the caller waited, retries included), with the route and version of its last attempt, `retries` = the
 * attempts beyond the first (see AnalysisRegistry.routeAttempt) and the span indicators of ANY of its attempts (the
 * union of their RequestSample.indicators: a request that missed the cache on one attempt missed it).
 *
 * This table remembers, per service and open look, the requests counted so far, by (trace, cohort): when another
 * attempt of a trace ends in that look, the registry takes the counted request back and adds the merged one
 * (nothing downstream holds samples back). An attempt in another look is another request.
 *
 * Layout, like the de-duplication's (ingest/dedup.ts): one bucket per (service, look), each a flat append-only
 * array of unboxed doubles (trace key x 2 + cohort, end, duration, flags), one of route and version references and
 * a small linear-probing index, so the attempts of a service, which arrive together, stay in a few hot cache lines.
 * A bucket goes as a whole when its look closes (`closeUpTo`), and with its service (`forget`, `retain`); a
 * service's largest closed bucket is kept as the storage of its next one, so that in the steady state no look
 * allocates (without that reuse the garbage collector took a third of the table's CPU, measured). At most
 * `maxEntries` requests are remembered: past it, the oldest bucket (first created) is evicted whole, its requests
 * counted (`takeEvicted`): their later attempts count as new requests. Memory (measured: `npm run bench:ingest --
 * --open-traces-only`): 66 bytes a request in full buckets; 220-340 bytes a request open (~33 MB) at 12,000 spans/s
 * over 1,000 services (~120 requests a service and look: partly filled buckets and the kept ones weigh). Pure (arrival
 * order only), so a replay groups exactly as the live run.
 */

/** Flags: bit 0 failed, the retries from bit 1. */
const ERROR = 1;
const RETRY_SHIFT = 1;
/** Largest retries count kept (2^30 - 1, a small integer). */
const MAX_RETRIES = 0x3fffffff;
/** Doubles per entry in `data`: key, end, duration, flags. */
const STRIDE = 4;

/** The key of a trace's request in one cohort: an integer below 2^53 (a trace key is below 2^52). */
export function requestKey(traceKey: number, canary: boolean): number {
  return traceKey * 2 + (canary ? 1 : 0);
}

/** One request as the table counted it (the registry takes it back by routing it with weight -1). */
export interface CountedRequest {
  endUnixMs: number;
  durationMs: number;
  error: boolean;
  retries: number;
  route: string | undefined;
  version: string;
  /** The union of its attempts' span indicators (RequestSample.indicators); absent when none has any. */
  indicators?: string[];
}

/** The keys of `a`, then those of `b` not in `a` (both short: an attempt matches a few indicators). */
function union(a: readonly string[], b: readonly string[]): string[] {
  const out = a.slice();
  for (const k of b) if (!out.includes(k)) out.push(k);
  return out;
}

/** `n` zeros in an array of unboxed doubles (PACKED_DOUBLE_ELEMENTS: nothing for the garbage collector to trace). */
function doubles(n: number): number[] {
  const a = new Array<number>(n).fill(0.5);
  a.fill(0);
  return a;
}

/** The requests of one service's look. */
export class TraceBucket {
  size = 0;
  /** Evicted or closed: no longer in the table. */
  gone = false;
  private data: number[] = doubles(STRIDE * 8);
  private refs: (string | undefined)[] = new Array<string | undefined>(2 * 8).fill(undefined);
  /** Entry positions + 1 (0: empty), linear probing on the key's low bits, at most half full. */
  private index: number[] = new Array<number>(16).fill(0);
  private mask = 15;
  /** Span indicators by entry position, only for the requests that have some (none without span indicators). */
  private indicators: Map<number, string[]> | undefined;

  /** A bucket of a service's look; with `spare` (a bucket of the service that has gone), its arrays are reused,
   *  emptied: in the steady state no look allocates (the garbage collector's work, measured, dominated otherwise). */
  constructor(
    readonly uid: number,
    readonly look: number,
    spare?: TraceBucket,
  ) {
    if (spare === undefined) return;
    this.data = spare.data;
    this.refs = spare.refs.fill(undefined);
    this.index = spare.index.fill(0);
    this.mask = spare.mask;
    spare.data = [];
    spare.refs = [];
    spare.index = [];
    spare.indicators = undefined;
  }

  /** The position of the request of `key` (requestKey), or -1. */
  find(key: number): number {
    const { index, data, mask } = this;
    for (let s = (key >>> 0) & mask; ; s = (s + 1) & mask) {
      const v = index[s]!;
      if (v === 0) return -1;
      if (data[(v - 1) * STRIDE] === key) return v - 1;
    }
  }

  add(
    key: number,
    endUnixMs: number,
    durationMs: number,
    error: boolean,
    retries: number,
    route: string | undefined,
    version: string,
    indicators?: readonly string[],
  ): void {
    const p = this.size++;
    if (indicators !== undefined) (this.indicators ??= new Map<number, string[]>()).set(p, indicators.slice());
    if (p * STRIDE === this.data.length) this.grow();
    const d = this.data;
    const at = p * STRIDE;
    d[at] = key;
    d[at + 1] = endUnixMs;
    d[at + 2] = durationMs;
    d[at + 3] = (error ? ERROR : 0) + Math.min(MAX_RETRIES, retries) * (1 << RETRY_SHIFT);
    this.refs[2 * p] = route;
    this.refs[2 * p + 1] = version;
    if (this.size * 2 > this.index.length) this.reindex(this.index.length * 2);
    else this.indexAdd(p);
  }

  /** The request counted at `p`. */
  counted(p: number): CountedRequest {
    const d = this.data;
    const at = p * STRIDE;
    const f = d[at + 3]!;
    const counted: CountedRequest = {
      endUnixMs: d[at + 1]!,
      durationMs: d[at + 2]!,
      error: (f & ERROR) !== 0,
      retries: f >>> RETRY_SHIFT,
      route: this.refs[2 * p],
      version: this.refs[2 * p + 1]!,
    };
    const indicators = this.indicators?.get(p);
    if (indicators !== undefined) counted.indicators = indicators.slice();
    return counted;
  }

  /**
   * Folds one more attempt (`attempts` > 1 when it already stands for several) into the request at `p`: the
   * latest end gives the outcome, route and version (a tie goes to the attempt that arrived last), the duration
   * spans the earliest start to the latest end, the indicators are the union of both. Returns the merged request,
   * as now counted.
   */
  merge(
    p: number,
    endUnixMs: number,
    durationMs: number,
    error: boolean,
    route: string | undefined,
    version: string,
    attempts: number,
    indicators?: readonly string[],
  ): CountedRequest {
    if (indicators !== undefined) {
      const all = (this.indicators ??= new Map<number, string[]>());
      const had = all.get(p);
      all.set(p, had === undefined ? indicators.slice() : union(had, indicators));
    }
    const d = this.data;
    const at = p * STRIDE;
    const end0 = d[at + 1]!;
    const start = Math.min(end0 - d[at + 2]!, endUnixMs - durationMs);
    const f = d[at + 3]!;
    const retries = Math.min(MAX_RETRIES, (f >>> RETRY_SHIFT) + attempts);
    let failed = (f & ERROR) !== 0;
    const end = endUnixMs >= end0 ? endUnixMs : end0;
    if (endUnixMs >= end0) {
      failed = error;
      d[at + 1] = end;
      this.refs[2 * p] = route;
      this.refs[2 * p + 1] = version;
    }
    d[at + 2] = Math.max(0, end - start);
    d[at + 3] = (failed ? ERROR : 0) + retries * (1 << RETRY_SHIFT);
    return this.counted(p);
  }

  /** Requests it holds without growing. */
  get capacity(): number {
    return this.data.length / STRIDE;
  }

  /** Bytes held (8 a double or reference, as on a 64-bit Node without pointer compression; ~64 per request with
   *  indicators, a rough figure for the map entry and its array). */
  get bytes(): number {
    return (this.data.length + this.refs.length + this.index.length) * 8 + (this.indicators?.size ?? 0) * 64;
  }

  private grow(): void {
    const n = this.data.length / STRIDE;
    const data = doubles(n * 2 * STRIDE);
    for (let i = 0; i < this.data.length; i++) data[i] = this.data[i]!;
    this.data = data;
    const refs = new Array<string | undefined>(n * 4).fill(undefined);
    for (let i = 0; i < this.refs.length; i++) refs[i] = this.refs[i];
    this.refs = refs;
  }

  private reindex(slots: number): void {
    this.index = new Array<number>(slots).fill(0);
    this.mask = slots - 1;
    for (let p = 0; p < this.size; p++) this.indexAdd(p);
  }

  private indexAdd(p: number): void {
    const { index, mask } = this;
    let s = (this.data[p * STRIDE]! >>> 0) & mask;
    while (index[s] !== 0) s = (s + 1) & mask;
    index[s] = p + 1;
  }
}

export class OpenTraces {
  /** Buckets by service uid, then by look index. */
  private readonly services = new Map<number, Map<number, TraceBucket>>();
  /** Buckets in creation order (the eviction order), gone ones included until compacted. */
  private queue: TraceBucket[] = [];
  private head = 0;
  private goneInQueue = 0;
  /** Requests remembered now. */
  size = 0;
  private evicted = 0;
  /** The last bucket looked up (a service's attempts arrive together). */
  private last: TraceBucket | undefined;
  /** Per service, the largest bucket of its last closed looks: the arrays of its next one. */
  private readonly spares = new Map<number, TraceBucket>();

  constructor(readonly maxEntries: number) {}

  /** The bucket of a service's look, if it has one. O(1). */
  bucket(uid: number, look: number): TraceBucket | undefined {
    const last = this.last;
    if (last !== undefined && last.uid === uid && last.look === look && !last.gone) return last;
    const b = this.services.get(uid)?.get(look);
    if (b !== undefined) this.last = b;
    return b;
  }

  /** Remembers a request (the first attempt of its trace and cohort in the look); at `maxEntries`, evicts first. */
  add(
    uid: number,
    look: number,
    key: number,
    endUnixMs: number,
    durationMs: number,
    error: boolean,
    retries: number,
    route: string | undefined,
    version: string,
    indicators?: readonly string[],
  ): void {
    while (this.size >= this.maxEntries && this.evictOldest());
    let b = this.bucket(uid, look);
    if (b === undefined) {
      let looks = this.services.get(uid);
      if (looks === undefined) this.services.set(uid, (looks = new Map<number, TraceBucket>()));
      const spare = this.spares.get(uid);
      if (spare !== undefined) this.spares.delete(uid);
      b = new TraceBucket(uid, look, spare);
      looks.set(look, b);
      this.queue.push(b);
      this.last = b;
    }
    b.add(key, endUnixMs, durationMs, error, retries, route, version, indicators);
    this.size++;
  }

  /** Forgets a service's looks up to `look` (closed: what they compared can no longer change). */
  closeUpTo(uid: number, look: number): void {
    const looks = this.services.get(uid);
    if (looks === undefined) return;
    for (const [i, b] of looks) {
      if (i > look) continue;
      this.drop(b);
      const spare = this.spares.get(uid);
      if (spare === undefined || spare.capacity < b.capacity) this.spares.set(uid, b);
    }
  }

  /** Forgets a service (gone from the registry). O(its buckets). */
  forget(uid: number): void {
    this.spares.delete(uid);
    const looks = this.services.get(uid);
    if (looks !== undefined) for (const b of [...looks.values()]) this.drop(b);
  }

  /** Forgets the services `keep` says no to (gone from the registry). O(services). */
  retain(keep: (uid: number) => boolean): void {
    for (const [uid, looks] of this.services) {
      if (keep(uid)) continue;
      for (const b of [...looks.values()]) this.drop(b);
    }
    for (const uid of this.spares.keys()) if (!keep(uid)) this.spares.delete(uid);
  }

  /** Requests evicted at `maxEntries` since the last call. */
  takeEvicted(): number {
    const n = this.evicted;
    this.evicted = 0;
    return n;
  }

  /** Bytes held by the buckets and the spares (O(buckets)). */
  get bytes(): number {
    let n = 0;
    for (const looks of this.services.values()) for (const b of looks.values()) n += b.bytes;
    for (const b of this.spares.values()) n += b.bytes;
    return n;
  }

  clear(): void {
    for (const b of this.queue) b.gone = true;
    this.services.clear();
    this.queue = [];
    this.head = 0;
    this.goneInQueue = 0;
    this.size = 0;
    this.last = undefined;
    this.spares.clear();
  }

  /** Removes a bucket from the services (not from the queue). */
  private remove(b: TraceBucket): void {
    const looks = this.services.get(b.uid);
    if (looks !== undefined) {
      looks.delete(b.look);
      if (looks.size === 0) this.services.delete(b.uid);
    }
    b.gone = true;
    this.size -= b.size;
    if (this.last === b) this.last = undefined;
  }

  /** A bucket leaves (closed, or its service gone); the queue keeps it until it reaches the head, or until gone
   *  buckets are most of the queue (then it is compacted: amortised O(1)). */
  private drop(b: TraceBucket): void {
    this.remove(b);
    if (++this.goneInQueue * 2 > this.queue.length - this.head && this.queue.length - this.head > 64) {
      this.queue = this.queue.slice(this.head).filter((q) => !q.gone);
      this.head = 0;
      this.goneInQueue = 0;
    }
  }

  /** Evicts the oldest bucket still here, its requests counted; false when there is none. */
  private evictOldest(): boolean {
    while (this.head < this.queue.length) {
      const b = this.queue[this.head++]!;
      if (b.gone) {
        this.goneInQueue--;
        continue;
      }
      this.evicted += b.size;
      this.remove(b);
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      return true;
    }
    return false;
  }
}
