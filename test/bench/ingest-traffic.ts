/**
 * Live traffic for the end-to-end ingest benchmark: a ring of pre-encoded OTLP requests whose span times are
 * moved forward (patched in place of a copy, byte-exact) so that event time advances with the wall clock and
 * the agent's looks close as they would in production. Canary versions can be rotated (same-length
 * strings, e.g. 1.1.0 → 1.2.0) so that analyses finish and new ones start during a soak.
 */
import { gzipSync } from 'node:zlib';
import { encodeJson, encodeProtobuf, makeResources, type GenService } from './ingest-payload.js';

export type Mode = 'protobuf' | 'protobuf+gzip' | 'json';

export interface Body {
  body: Buffer;
  headers: Record<string, string>;
  spans: number;
}

interface Layout {
  /** Offsets of the 8 bytes of every Span.start/end_time_unix_nano. */
  times: number[];
  /** Offsets of the bytes of the canary resources' service.version string values. */
  canaryVersions: { at: number; length: number }[];
}

/** Walks an ExportTraceServiceRequest this benchmark wrote, recording where the times and versions are. */
function layoutOf(buf: Buffer): Layout {
  const out: Layout = { times: [], canaryVersions: [] };
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
      else varint();
    }
  };
  const str = (start: number, stop: number): string => buf.toString('utf8', start, stop);
  fields(buf.length, (_f, _w, rsStart, rsStop) => {
    pos = rsStart;
    fields(rsStop, (f, _w2, s, e) => {
      if (f === 1) {
        // Resource: find service.version and vigil.cohort
        let version: { at: number; length: number } | undefined;
        let canary = false;
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
          if (key === 'service.version') version = value;
          if (key === 'vigil.cohort' && value && str(value.at, value.at + value.length) === 'canary') canary = true;
        });
        if (canary && version) out.canaryVersions.push(version);
      } else if (f === 2) {
        pos = s;
        fields(e, (f3, _w3, spStart, spStop) => {
          if (f3 !== 2) return;
          pos = spStart;
          fields(spStop, (f4, w4, a) => {
            if (w4 === 1 && (f4 === 7 || f4 === 8)) out.times.push(a);
          });
        });
      }
    });
  });
  return out;
}

const TIME_RE = /"(?:start|end)TimeUnixNano":"(\d{19})"/g;

interface Template {
  pb: Buffer;
  layout: Layout;
  json: Buffer;
  jsonTimes: number[];
  spans: number;
}

export class TrafficSource {
  private readonly templates: Template[] = [];
  private readonly bodies: { body: Body; deltaMs: number; minor: number }[] = [];
  private next = 0;
  private readonly baseMs: number;
  private deltaMs = 0;
  private minor = 1;

  /**
   * `requests` distinct requests of `spansPerRequest` spans, spread round robin over `services` in resources
   * of `spansPerResource` spans.
   */
  constructor(
    readonly mode: Mode,
    opts: { services: readonly GenService[]; requests: number; spansPerRequest: number; spansPerResource: number; seed?: number },
  ) {
    this.baseMs = Date.now();
    const perRequest = Math.ceil(opts.spansPerRequest / opts.spansPerResource);
    for (let i = 0; i < opts.requests; i++) {
      const resources = makeResources({
        services: opts.services, spans: opts.spansPerRequest, spansPerResource: opts.spansPerResource,
        endMs: this.baseMs, seed: (opts.seed ?? 1) * 1000 + i, offset: i * perRequest,
      });
      const pb = encodeProtobuf(resources);
      const jsonText = mode === 'json' ? encodeJson(resources) : '';
      const jsonTimes: number[] = [];
      for (const m of jsonText.matchAll(TIME_RE)) jsonTimes.push(m.index + m[0].length - 20);
      this.templates.push({ pb, layout: layoutOf(pb), json: Buffer.from(jsonText), jsonTimes, spans: opts.spansPerRequest });
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
    if (slot.deltaMs !== this.deltaMs || slot.minor !== this.minor) {
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

  private build(t: Template): Body {
    const delta = BigInt(this.deltaMs) * 1_000_000n;
    if (this.mode === 'json') {
      const body = Buffer.from(t.json);
      for (const at of t.jsonTimes) body.write(String(BigInt(t.json.toString('latin1', at, at + 19)) + delta), at, 'latin1');
      return { body, headers: { 'content-type': 'application/json' }, spans: t.spans };
    }
    const body = Buffer.from(t.pb);
    const digit = 0x30 + (this.minor % 10);
    for (const at of t.layout.times) body.writeBigUInt64LE(t.pb.readBigUInt64LE(at) + delta, at);
    for (const v of t.layout.canaryVersions) if (v.length === 5) body[v.at + 2] = digit; // "1.x.0"
    return this.mode === 'protobuf+gzip'
      ? { body: gzipSync(body), headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }, spans: t.spans }
      : { body, headers: { 'content-type': 'application/x-protobuf' }, spans: t.spans };
  }
}
