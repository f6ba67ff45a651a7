/**
 * Live traffic for the end-to-end ingest benchmark: a ring of pre-encoded OTLP requests whose span times are
 * moved forward (patched in place of a copy, byte-exact) so that event time advances with the wall clock and
 * the agent's looks close as they would in production. Canary versions can be rotated (same-length
 * strings, e.g. 1.1.0 → 1.2.0) so that analyses finish and new ones start during a soak.
 *
 * In the protobuf modes every rebuilt request also draws each span's latency and error afresh from its
 * cohort's model (end time, Status.code and http.response.status_code patched in place, same lengths), so
 * the agent sees independent requests, as from a real fleet: replaying the same few spans of a service over
 * and over would make tiny chance differences between its two cohorts look significant, and most analyses
 * would end within a few looks instead of running. JSON bodies keep their fixed spans (short phases only),
 * and so do sources made with `redraw: false` (the large bodies of the event-loop-stall phase: redrawing
 * 30,000 spans would block the load generator, which also times the victim client).
 */
import { gzipSync } from 'node:zlib';
import { seededRandom } from '../../src/demo/traffic-generator.js';
import { drawRequest, encodeJson, encodeProtobuf, makeResources, type GenService } from './ingest-payload.js';

export type Mode = 'protobuf' | 'protobuf+gzip' | 'json';

export interface Body {
  body: Buffer;
  headers: Record<string, string>;
  spans: number;
}

interface SpanLayout {
  /** Offsets of the 8 bytes of Span.start_time_unix_nano and end_time_unix_nano. */
  start: number;
  end: number;
  /** Offset of the Status.code varint (1 byte: OK 1 / ERROR 2). */
  status: number;
  /** Offset of the http.response.status_code varint (2 bytes: 200 / 503). */
  http: number;
  /** `service.name|vigil.cohort` of the span's resource. */
  cohort: string;
}

interface Layout {
  /** Offsets of the 8 bytes of every Span.start/end_time_unix_nano. */
  times: number[];
  spans: SpanLayout[];
  /** Offsets of the bytes of the canary resources' service.version string values. */
  canaryVersions: { at: number; length: number }[];
  /** Offsets of the 8 bytes of every Span.span_id (rewritten per body: a re-sent template is not a duplicate). */
  spanIds: number[];
  /** Offsets of the 16 bytes of every Span.trace_id (rewritten per body: a re-sent template is not a retry of the
   *  same requests, which the analysis would fold into them: analysis.requestUnit). */
  traceIds: number[];
}

/** Walks an ExportTraceServiceRequest this benchmark wrote, recording where the times and versions are. */
function layoutOf(buf: Buffer): Layout {
  const out: Layout = { times: [], spans: [], canaryVersions: [], spanIds: [], traceIds: [] };
  let pos = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = buf[pos++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  const fields = (end: number, on: (field: number, wire: number, start: number, stop: number) => void): void => {
    while (pos < end) {
      const tag = varint();
      const wire = tag & 7;
      const field = tag >>> 3;
      if (wire === 2) {
        const len = varint();
        const start = pos;
        on(field, wire, start, start + len);
        pos = start + len;
      } else if (wire === 1) {
        on(field, wire, pos, pos + 8);
        pos += 8;
      } else if (wire === 5) pos += 4;
      else {
        const at = pos;
        varint();
        const stop = pos;
        on(field, wire, at, stop);
        pos = stop;
      }
    }
  };
  const str = (start: number, stop: number): string => buf.toString('utf8', start, stop);
  const anyInt = (start: number, stop: number): number => {
    let at = -1;
    pos = start;
    fields(stop, (f, w, x) => {
      if (f === 3 && w === 0) at = x;
    });
    return at;
  };
  fields(buf.length, (_f, _w, rsStart, rsStop) => {
    pos = rsStart;
    let cohort = '';
    fields(rsStop, (f, _w2, s, e) => {
      if (f === 1) {
        // Resource: find service.name, service.version and vigil.cohort
        let version: { at: number; length: number } | undefined;
        let name = '';
        let cohortName = '';
        pos = s;
        fields(e, (_f3, _w3, kvStart, kvStop) => {
          let key = '';
          let value: { at: number; length: number } | undefined;
          pos = kvStart;
          fields(kvStop, (f4, _w4, a, b) => {
            if (f4 === 1) key = str(a, b);
            if (f4 === 2) {
              pos = a;
              fields(b, (f5, _w5, x, y) => {
                if (f5 === 1) value = { at: x, length: y - x };
              });
            }
          });
          const text = value ? str(value.at, value.at + value.length) : '';
          if (key === 'service.version') version = value;
          if (key === 'service.name') name = text;
          if (key === 'vigil.cohort') cohortName = text;
        });
        cohort = `${name}|${cohortName}`;
        if (cohortName === 'canary' && version) out.canaryVersions.push(version);
      } else if (f === 2) {
        pos = s;
        fields(e, (f3, _w3, spStart, spStop) => {
          if (f3 !== 2) return;
          const span: SpanLayout = { start: -1, end: -1, status: -1, http: -1, cohort };
          pos = spStart;
          fields(spStop, (f4, w4, a, b) => {
            if (w4 === 1 && f4 === 7) span.start = a;
            if (w4 === 1 && f4 === 8) span.end = a;
            if (w4 === 1 && (f4 === 7 || f4 === 8)) out.times.push(a);
            if (w4 === 2 && f4 === 2 && b - a === 8) out.spanIds.push(a);
            if (w4 === 2 && f4 === 1 && b - a === 16) out.traceIds.push(a);
            if (f4 === 15 && w4 === 2) {
              pos = a;
              fields(b, (f5, w5, x) => {
                if (f5 === 3 && w5 === 0) span.status = x;
              });
            }
            if (f4 === 9 && w4 === 2) {
              let key = '';
              let value = -1;
              pos = a;
              fields(b, (f5, _w5, x, y) => {
                if (f5 === 1) key = str(x, y);
                if (f5 === 2) value = anyInt(x, y);
              });
              if (key === 'http.response.status_code') span.http = value;
            }
          });
          out.spans.push(span);
        });
      }
    });
  });
  return out;
}

const TIME_RE = /"(?:start|end)TimeUnixNano":"(\d{19})"/g;
const SPAN_ID_RE = /"spanId":"[0-9a-f]{16}"/g;
const TRACE_ID_RE = /"traceId":"[0-9a-f]{32}"/g;

interface Template {
  pb: Buffer;
  layout: Layout;
  json: Buffer;
  jsonTimes: number[];
  /** Offsets of the first hex digit of every span's spanId and traceId in `json`. */
  jsonIds: number[];
  spans: number;
}

export class TrafficSource {
  private readonly templates: Template[] = [];
  private readonly bodies: { body: Body; deltaMs: number; minor: number }[] = [];
  private next = 0;
  private readonly baseMs: number;
  /** Each `service.name|vigil.cohort`'s model, for the fresh draws. */
  private readonly cohorts = new Map<string, GenService>();
  private readonly rnd: () => number;
  /** Fresh latencies and errors in every plain-protobuf request (`redraw: false`: fixed spans, less client CPU). */
  private readonly redrawEach: boolean;
  private deltaMs = 0;
  private minor = 1;
  /** Bodies built so far: written into the span ids, so every body sent is new traffic (no duplicates). */
  private builds = 0;
  /** Every `retryEvery`-th span of a protobuf body carries the trace id of the span before it (0: none). */
  private readonly retryEvery: number;

  /**
   * `requests` distinct requests of `spansPerRequest` spans, spread round robin over `services` in resources
   * of `spansPerResource` spans.
   */
  constructor(
    readonly mode: Mode,
    opts: {
      services: readonly GenService[];
      requests: number;
      spansPerRequest: number;
      spansPerResource: number;
      seed?: number;
      redraw?: boolean;
      /** Every k-th span of a (plain or gzip protobuf) body is a retried attempt: the trace id of the span before it
       *  (the same resource, so the same service and cohort, unless it starts a resource). */
      retryEvery?: number;
    },
  ) {
    this.retryEvery = opts.retryEvery ?? 0;
    this.redrawEach = opts.redraw !== false && mode === 'protobuf';
    this.baseMs = Date.now();
    for (const svc of opts.services) this.cohorts.set(`${svc.name}|${svc.cohort}`, svc);
    this.rnd = seededRandom((opts.seed ?? 1) * 7919 + 17);
    const perRequest = Math.ceil(opts.spansPerRequest / opts.spansPerResource);
    for (let i = 0; i < opts.requests; i++) {
      const resources = makeResources({
        services: opts.services,
        spans: opts.spansPerRequest,
        spansPerResource: opts.spansPerResource,
        endMs: this.baseMs,
        seed: (opts.seed ?? 1) * 1000 + i,
        offset: i * perRequest,
      });
      const pb = encodeProtobuf(resources);
      const jsonText = mode === 'json' ? encodeJson(resources) : '';
      const jsonTimes: number[] = [];
      for (const m of jsonText.matchAll(TIME_RE)) jsonTimes.push(m.index + m[0].length - 20);
      const jsonIds: number[] = [];
      for (const m of jsonText.matchAll(SPAN_ID_RE)) jsonIds.push(m.index + m[0].length - 17);
      for (const m of jsonText.matchAll(TRACE_ID_RE)) jsonIds.push(m.index + m[0].length - 33);
      this.templates.push({
        pb,
        layout: layoutOf(pb),
        json: Buffer.from(jsonText),
        jsonTimes,
        jsonIds,
        spans: opts.spansPerRequest,
      });
    }
    for (const t of this.templates) this.bodies.push({ body: this.build(t), deltaMs: 0, minor: 1 });
  }

  /**
   * From now on, span times are moved by (now - start of the benchmark) and canaries carry minor version
   * `canaryMinor`. Bodies are rebuilt lazily, one per `take()`, so the client never stalls on a refresh.
   */
  refresh(nowMs: number, canaryMinor: number): void {
    this.deltaMs = Math.round(nowMs - this.baseMs);
    this.minor = canaryMinor;
  }

  take(): Body {
    const i = this.next;
    this.next = (this.next + 1) % this.bodies.length;
    const slot = this.bodies[i]!;
    // plain protobuf: a fresh draw for every request; gzip and JSON: rebuilt when time or version moved
    // (compressing every request would cost the load generator more than the agent spends on it)
    if (this.redrawEach || slot.deltaMs !== this.deltaMs || slot.minor !== this.minor) {
      slot.body = this.build(this.templates[i]!);
      slot.deltaMs = this.deltaMs;
      slot.minor = this.minor;
    }
    return slot.body;
  }

  /** Bytes of one request in this mode (as sent). */
  get bodyBytes(): number {
    return this.bodies[0]!.body.body.length;
  }

  /** New latency and error for every span, from its cohort's model (same byte lengths: patched in place). */
  private redraw(t: Template, body: Buffer): void {
    for (const sp of t.layout.spans) {
      const svc = this.cohorts.get(sp.cohort);
      if (svc === undefined || sp.start < 0 || sp.end < 0 || sp.status < 0 || sp.http < 0) continue;
      const { latencyMs, error } = drawRequest(svc, this.rnd);
      body.writeBigUInt64LE(body.readBigUInt64LE(sp.start) + BigInt(Math.round(latencyMs * 1e6)), sp.end);
      body[sp.status] = error ? 2 : 1;
      // 503 = 0xf7 0x03, 200 = 0xc8 0x01 (two-byte varints)
      body[sp.http] = error ? 0xf7 : 0xc8;
      body[sp.http + 1] = error ? 0x03 : 0x01;
    }
  }

  private build(t: Template): Body {
    const delta = BigInt(this.deltaMs) * 1_000_000n;
    if (this.mode === 'json') {
      const body = Buffer.from(t.json);
      for (const at of t.jsonTimes)
        body.write(String(BigInt(t.json.toString('latin1', at, at + 19)) + delta), at, 'latin1');
      const seq = (this.builds++ >>> 0).toString(16).padStart(8, '0');
      for (const at of t.jsonIds) body.write(seq, at, 'latin1');
      return { body, headers: { 'content-type': 'application/json' }, spans: t.spans };
    }
    const body = Buffer.from(t.pb);
    const digit = 0x30 + (this.minor % 10);
    for (const at of t.layout.times) body.writeBigUInt64LE(t.pb.readBigUInt64LE(at) + delta, at);
    for (const v of t.layout.canaryVersions) if (v.length === 5) body[v.at + 2] = digit; // "1.x.0"
    if (this.redrawEach) this.redraw(t, body);
    const seq = this.builds++ >>> 0;
    for (const at of t.layout.spanIds) body.writeUInt32LE(seq, at);
    for (const at of t.layout.traceIds) body.writeUInt32LE(seq, at);
    const k = this.retryEvery;
    for (let i = k - 1; k > 0 && i < t.layout.traceIds.length; i += k) {
      const to = t.layout.traceIds[i]!;
      const from = t.layout.traceIds[i - 1];
      if (from !== undefined) body.copy(body, to, from, from + 16);
    }
    return this.mode === 'protobuf+gzip'
      ? {
          body: gzipSync(body),
          headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
          spans: t.spans,
        }
      : { body, headers: { 'content-type': 'application/x-protobuf' }, spans: t.spans };
  }
}
