/**
 * The decoded recording held in memory as columns (typed arrays): ~30 bytes per request instead of a
 * ~150-byte object, so a recording of millions of requests fits, and every trial re-reads it from memory.
 * Samples keep their order in the file; `lineEnds` marks where each recorded line (one OTLP request, one
 * `ingest` call in replay) ends, so trials feed the pipeline with the same batching as `vigil replay`.
 */
import type { CohortOrUnknown } from '../contracts/index.js';

export const COHORT_UNKNOWN = 0;
export const COHORT_BASELINE = 1;
export const COHORT_CANARY = 2;

export function cohortCode(c: CohortOrUnknown): number {
  return c === 'baseline' ? COHORT_BASELINE : c === 'canary' ? COHORT_CANARY : COHORT_UNKNOWN;
}

export interface SampleStore {
  /** Service names; `service[i]` indexes this. */
  readonly services: readonly string[];
  readonly length: number;
  readonly service: Uint32Array;
  /** COHORT_* as resolved by the config's cohort rules (and `rollouts[].canaryVersion`). */
  readonly cohort: Uint8Array;
  readonly endUnixMs: Float64Array;
  readonly durationMs: Float64Array;
  readonly error: Uint8Array;
  /** Two independent 32-bit hashes of the trace id (or of the sample's position when it has none). */
  readonly traceA: Uint32Array;
  readonly traceB: Uint32Array;
  /** Cumulative sample count at the end of each recorded trace line. */
  readonly lineEnds: Uint32Array;
  /** The span indicators each request matched (RequestSample.indicators): an index into `indicatorSets`, 0 = none. */
  readonly indicatorSet: Uint16Array;
  /** The distinct indicator key lists of the recording (index 0: none); shared by every request that matched them. */
  readonly indicatorSets: readonly (readonly string[] | undefined)[];
}

/** Appends samples column by column; capacity doubles as needed (amortised O(1) per sample). */
export class SampleStoreBuilder {
  private readonly serviceIndex = new Map<string, number>();
  private readonly names: string[] = [];
  private n = 0;
  private cap = 1024;
  private service = new Uint32Array(this.cap);
  private cohort = new Uint8Array(this.cap);
  private end = new Float64Array(this.cap);
  private duration = new Float64Array(this.cap);
  private error = new Uint8Array(this.cap);
  private traceA = new Uint32Array(this.cap);
  private traceB = new Uint32Array(this.cap);
  private indicatorSet = new Uint16Array(this.cap);
  private readonly sets: (string[] | undefined)[] = [undefined];
  private readonly setIndex = new Map<string, number>();
  private readonly lineEnds: number[] = [];

  get length(): number {
    return this.n;
  }

  add(
    service: string,
    cohort: number,
    endUnixMs: number,
    durationMs: number,
    error: boolean,
    traceA: number,
    traceB: number,
    indicators?: readonly string[],
  ): void {
    if (this.n === this.cap) this.grow();
    let s = this.serviceIndex.get(service);
    if (s === undefined) {
      s = this.names.length;
      this.names.push(service);
      this.serviceIndex.set(service, s);
    }
    const i = this.n++;
    this.service[i] = s;
    this.cohort[i] = cohort;
    this.end[i] = endUnixMs;
    this.duration[i] = durationMs;
    this.error[i] = error ? 1 : 0;
    this.traceA[i] = traceA;
    this.traceB[i] = traceB;
    this.indicatorSet[i] = indicators === undefined || indicators.length === 0 ? 0 : this.setOf(indicators);
  }

  /** The index of a key list in `indicatorSets` (interned: one array per distinct list, at most 65,535 lists). */
  private setOf(keys: readonly string[]): number {
    const id = keys.join('\u0000');
    let k = this.setIndex.get(id);
    if (k === undefined) {
      if (this.sets.length > 0xffff) throw new Error('more than 65,535 distinct span indicator combinations');
      k = this.sets.length;
      this.sets.push([...keys]);
      this.setIndex.set(id, k);
    }
    return k;
  }

  /** Drops samples added since `mark` (a line that turned out undecodable). */
  truncate(mark: number): void {
    this.n = Math.min(this.n, mark);
  }

  endLine(): void {
    this.lineEnds.push(this.n);
  }

  build(): SampleStore {
    const n = this.n;
    return {
      services: [...this.names],
      length: n,
      service: this.service.slice(0, n),
      cohort: this.cohort.slice(0, n),
      endUnixMs: this.end.slice(0, n),
      durationMs: this.duration.slice(0, n),
      error: this.error.slice(0, n),
      traceA: this.traceA.slice(0, n),
      traceB: this.traceB.slice(0, n),
      lineEnds: Uint32Array.from(this.lineEnds),
      indicatorSet: this.indicatorSet.slice(0, n),
      indicatorSets: [...this.sets],
    };
  }

  private grow(): void {
    this.cap *= 2;
    const g = <T extends Uint32Array | Uint16Array | Uint8Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(this.cap);
      b.set(a);
      return b;
    };
    this.service = g(this.service, (n) => new Uint32Array(n));
    this.cohort = g(this.cohort, (n) => new Uint8Array(n));
    this.end = g(this.end, (n) => new Float64Array(n));
    this.duration = g(this.duration, (n) => new Float64Array(n));
    this.error = g(this.error, (n) => new Uint8Array(n));
    this.traceA = g(this.traceA, (n) => new Uint32Array(n));
    this.indicatorSet = g(this.indicatorSet, (n) => new Uint16Array(n));
    this.traceB = g(this.traceB, (n) => new Uint32Array(n));
  }
}
