/**
 * Decoding of large OTLP trace bodies in worker threads, so that one large body does not stall the event
 * loop for every other client (measured by `npm run bench:ingest`, "event-loop stalls": on the main thread
 * a 15 MB protobuf body held other clients ~190 ms, a 15 MB JSON body ~500 ms).
 *
 * Bodies below `minBytes` are decoded inline (synchronously: a 500-span request costs ~2 ms, less than a
 * round trip to a worker). Larger ones are transferred (zero-copy when the Buffer owns its memory) to the
 * least-busy worker, decoded there by the same decoders, and come back packed in columns (a string table
 * and typed arrays, transferred), which the main thread turns into the same RequestSample objects in
 * ~50 ns per sample. Decode errors keep their VigilError code and message (400 / INVALID_ARGUMENT).
 * Workers start on the first large body, are unref'd, and are replaced if one dies.
 */
import { Worker } from 'node:worker_threads';
import type { CohortOrUnknown, DecodedTraces, RequestSample } from '../../contracts/telemetry.js';
import { VigilError, type ErrorCode } from '../../errors.js';
import type { CohortRules } from '../cohort.js';
import { decodeTracesJson } from '../otlp/decode-traces-json.js';
import { decodeTracesProtobuf } from '../otlp/decode-traces-protobuf.js';
import type { OtlpEncoding } from '../otlp/otlp-responses.js';

/** DecodedTraces in columns: one entry per sample; strings by index into `strings` (route -1 = none). */
export interface PackedTraces {
  spans: number;
  nonRequestSpans: number;
  rejectedSpans: number;
  rejectionMessage?: string;
  serviceTooLongSpans?: number;
  cutVersions?: number;
  cutRoutes?: number;
  strings: string[];
  service: Int32Array;
  route: Int32Array;
  version: Int32Array;
  /** 0 baseline, 1 canary, 2 unknown */
  cohort: Uint8Array;
  error: Uint8Array;
  end: Float64Array;
  duration: Float64Array;
  /** spanKey; NaN = none */
  key: Float64Array;
  /** traceKey; NaN = none */
  trace: Float64Array;
  /** With span indicators: RequestSample.indicators as an index into `indicatorSets` (-1 = none); absent when no
   *  sample has any. */
  indicators?: Int32Array;
  indicatorSets?: string[][];
}

const COHORTS: readonly CohortOrUnknown[] = ['baseline', 'canary', 'unknown'];

export function packTraces(d: DecodedTraces): PackedTraces {
  const n = d.samples.length;
  const strings: string[] = [];
  const index = new Map<string, number>();
  const intern = (s: string): number => {
    let i = index.get(s);
    if (i === undefined) {
      i = strings.length;
      strings.push(s);
      index.set(s, i);
    }
    return i;
  };
  const p: PackedTraces = {
    spans: d.spans,
    nonRequestSpans: d.nonRequestSpans,
    rejectedSpans: d.rejectedSpans,
    strings,
    service: new Int32Array(n),
    route: new Int32Array(n),
    version: new Int32Array(n),
    cohort: new Uint8Array(n),
    error: new Uint8Array(n),
    end: new Float64Array(n),
    duration: new Float64Array(n),
    key: new Float64Array(n),
    trace: new Float64Array(n),
  };
  copyCounts(d, p);
  let setIndex: Map<string, number> | undefined;
  for (let i = 0; i < n; i++) {
    const s = d.samples[i]!;
    p.service[i] = intern(s.service);
    p.route[i] = s.route === undefined ? -1 : intern(s.route);
    p.version[i] = intern(s.version);
    p.cohort[i] = s.cohort === 'baseline' ? 0 : s.cohort === 'canary' ? 1 : 2;
    p.error[i] = s.error ? 1 : 0;
    p.end[i] = s.endUnixMs;
    p.duration[i] = s.durationMs;
    p.key[i] = s.spanKey ?? NaN;
    p.trace[i] = s.traceKey ?? NaN;
    if (s.indicators !== undefined) packIndicators(p, i, s.indicators, (setIndex ??= new Map<string, number>()));
  }
  return p;
}

/** Packs sample i's indicators (the column and the table of distinct key lists are created on first use). */
function packIndicators(p: PackedTraces, i: number, keys: readonly string[], index: Map<string, number>): void {
  if (p.indicators === undefined) {
    p.indicators = new Int32Array(p.end.length).fill(-1);
    p.indicatorSets = [];
  }
  const joined = keys.join('\u0000');
  let k = index.get(joined);
  if (k === undefined) {
    k = p.indicatorSets!.length;
    p.indicatorSets!.push([...keys]);
    index.set(joined, k);
  }
  p.indicators[i] = k;
}

export function unpackTraces(p: PackedTraces): DecodedTraces {
  const n = p.end.length;
  const samples: RequestSample[] = new Array<RequestSample>(n);
  const str = p.strings;
  for (let i = 0; i < n; i++) {
    const r = p.route[i]!;
    const key = p.key[i]!;
    const trace = p.trace[i]!;
    samples[i] = {
      service: str[p.service[i]!]!,
      route: r < 0 ? undefined : str[r],
      version: str[p.version[i]!]!,
      cohort: COHORTS[p.cohort[i]!]!,
      endUnixMs: p.end[i]!,
      durationMs: p.duration[i]!,
      error: p.error[i] === 1,
      spanKey: Number.isNaN(key) ? undefined : key,
      traceKey: Number.isNaN(trace) ? undefined : trace,
    };
    const k = p.indicators === undefined ? -1 : p.indicators[i]!;
    if (k >= 0) samples[i]!.indicators = p.indicatorSets![k]!.slice();
  }
  const out: DecodedTraces = {
    samples,
    spans: p.spans,
    nonRequestSpans: p.nonRequestSpans,
    rejectedSpans: p.rejectedSpans,
  };
  copyCounts(p, out);
  return out;
}

/** The optional counts of DecodedTraces, from one form to the other. */
function copyCounts(from: DecodedTraces | PackedTraces, to: DecodedTraces | PackedTraces): void {
  if (from.rejectionMessage !== undefined) to.rejectionMessage = from.rejectionMessage;
  if (from.serviceTooLongSpans !== undefined) to.serviceTooLongSpans = from.serviceTooLongSpans;
  if (from.cutVersions !== undefined) to.cutVersions = from.cutVersions;
  if (from.cutRoutes !== undefined) to.cutRoutes = from.cutRoutes;
}

export function packedTransferList(p: PackedTraces): ArrayBuffer[] {
  const columns = [p.service, p.route, p.version, p.cohort, p.error, p.end, p.duration, p.key, p.trace];
  if (p.indicators !== undefined) columns.push(p.indicators);
  return columns.map((a) => a.buffer as ArrayBuffer);
}

export interface DecodeJob {
  id: number;
  encoding: OtlpEncoding;
  body: Uint8Array;
}

export type DecodeReply =
  | { id: number; ok: true; packed: PackedTraces }
  | { id: number; ok: false; code?: string; message: string; details?: Record<string, unknown> };

export function decodeInline(body: Buffer, encoding: OtlpEncoding, rules: CohortRules): DecodedTraces {
  return encoding === 'protobuf' ? decodeTracesProtobuf(body, rules) : decodeTracesJson(body, rules);
}

export interface DecodePoolOptions {
  rules: CohortRules;
  /** Worker threads (>= 1). */
  workers: number;
  /** Bodies of at least this many bytes are decoded in a worker; smaller ones inline. */
  minBytes: number;
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve(d: DecodedTraces): void; reject(e: unknown): void }>;
}

export class DecodePool {
  private readonly slots: (Slot | undefined)[];
  private nextId = 1;
  private closed = false;
  readonly counts = { inline: 0, offloaded: 0 };

  constructor(private readonly opts: DecodePoolOptions) {
    this.slots = new Array<Slot | undefined>(Math.max(1, opts.workers)).fill(undefined);
  }

  /** Decodes a trace request: inline (a value) below minBytes, else in a worker (a promise). */
  decode(body: Buffer, encoding: OtlpEncoding): DecodedTraces | Promise<DecodedTraces> {
    if (body.length < this.opts.minBytes || this.closed) {
      this.counts.inline++;
      return decodeInline(body, encoding, this.opts.rules);
    }
    this.counts.offloaded++;
    const slot = this.pick();
    const id = this.nextId++;
    // transfer the memory when the Buffer owns all of it; otherwise (a pooled or sliced Buffer) copy it
    const owned =
      body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
    const bytes = owned ? body : new Uint8Array(body);
    return new Promise<DecodedTraces>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      const job: DecodeJob = { id, encoding, body: bytes };
      slot.worker.postMessage(job, [bytes.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0).filter((s): s is Slot => s !== undefined);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private pick(): Slot {
    let best: Slot | undefined;
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i] ?? (this.slots[i] = this.spawn(i));
      if (best === undefined || s.pending.size < best.pending.size) best = s;
    }
    return best!;
  }

  private spawn(i: number): Slot {
    const ts = import.meta.url.endsWith('.ts');
    const url = new URL(`./decode-worker.${ts ? 'ts' : 'js'}`, import.meta.url);
    // from sources (tests, tsx) a worker does not inherit tsx's hooks: register them, then load the entry
    const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`;
    const worker = ts
      ? new Worker(boot, { eval: true, workerData: { rules: this.opts.rules } })
      : new Worker(url, { workerData: { rules: this.opts.rules } });
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', (reply: DecodeReply) => {
      const p = slot.pending.get(reply.id);
      if (p === undefined) return;
      slot.pending.delete(reply.id);
      if (reply.ok) p.resolve(unpackTraces(reply.packed));
      else p.reject(rebuildError(reply));
    });
    const fail = (err: unknown): void => {
      if (this.slots[i] === slot) this.slots[i] = undefined;
      for (const p of slot.pending.values())
        p.reject(err instanceof Error ? err : new Error(`decode worker exited (${String(err)})`));
      slot.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(code));
    return slot;
  }
}

/** The worker's error on this side: a VigilError keeps its code, message and details. */
function rebuildError(reply: Extract<DecodeReply, { ok: false }>): Error {
  if (reply.code === undefined) return new Error(reply.message);
  const e = new VigilError(reply.code as ErrorCode, [], { details: reply.details ?? {} });
  e.message = reply.message;
  return e;
}
