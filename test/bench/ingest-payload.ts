/**
 * Synthetic OTLP trace requests for the ingest benchmark: one in-memory model, serialised to protobuf
 * (ExportTraceServiceRequest, field numbers of opentelemetry-proto v1) and to OTLP/JSON (hex ids, 64-bit
 * integers as decimal strings, as the Collector writes them), so every decoder sees the SAME request.
 *
 * A span looks like what an HTTP server instrumentation emits: trace/span/parent ids, a name, kind SERVER,
 * start and end times, 10 attributes (semantic-convention keys), a status. A resource carries
 * service.name, service.version, vigil.cohort and the usual SDK/host/k8s attributes.
 */
import { seededRandom } from '../../src/demo/traffic-generator.js';

export type AttrValue = string | number | boolean;

export interface GenSpan {
  traceId: Buffer;
  spanId: Buffer;
  parentSpanId: Buffer;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attrs: [string, AttrValue][];
  statusCode: number;
}

export interface GenResource {
  attrs: [string, AttrValue][];
  scope: string;
  spans: GenSpan[];
}

export interface GenService {
  name: string;
  version: string;
  cohort: 'canary' | 'baseline';
  /** Error probability and median latency (ms) of this cohort. */
  errorRate: number;
  latencyMs: number;
}

const ROUTES = [
  '/api/cart/:id',
  '/api/checkout',
  '/api/products',
  '/api/products/:id',
  '/healthz',
  '/api/user/:id/orders',
];

/** Requests spread over `services` (round robin from `offset`), `spansPerResource` spans per resource. */
export function makeResources(opts: {
  services: readonly GenService[];
  spans: number;
  spansPerResource: number;
  endMs: number;
  seed: number;
  offset?: number;
}): GenResource[] {
  const rnd = seededRandom(opts.seed);
  const bytes = (n: number): Buffer => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
    return b;
  };
  const out: GenResource[] = [];
  let left = opts.spans;
  let k = opts.offset ?? 0;
  while (left > 0) {
    const svc = opts.services[k++ % opts.services.length]!;
    const n = Math.min(left, opts.spansPerResource);
    left -= n;
    const spans: GenSpan[] = [];
    for (let i = 0; i < n; i++) {
      const { latencyMs, error } = drawRequest(svc, rnd);
      const endNs = BigInt(opts.endMs - Math.floor(rnd() * 1000)) * 1_000_000n + BigInt(Math.floor(rnd() * 1e6));
      const startNs = endNs - BigInt(Math.round(latencyMs * 1e6));
      const route = ROUTES[Math.floor(rnd() * ROUTES.length)]!;
      spans.push({
        traceId: bytes(16),
        spanId: bytes(8),
        parentSpanId: bytes(8),
        name: `GET ${route}`,
        kind: 2,
        startNs,
        endNs,
        attrs: [
          ['http.request.method', 'GET'],
          ['http.route', route],
          ['http.response.status_code', error ? 503 : 200],
          ['url.path', route.replace(':id', String(Math.floor(rnd() * 100000)))],
          ['url.scheme', 'https'],
          ['server.address', `${svc.name}.prod.svc.cluster.local`],
          ['server.port', 8080],
          ['network.protocol.version', '1.1'],
          ['client.address', `10.0.${Math.floor(rnd() * 255)}.${Math.floor(rnd() * 255)}`],
          [
            'user_agent.original',
            'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
          ],
        ],
        // always written (OK or ERROR) so that the traffic source can redraw it in place (ingest-traffic.ts)
        statusCode: error ? 2 : 1,
      });
    }
    out.push({
      attrs: [
        ['service.name', svc.name],
        ['service.version', svc.version],
        ['vigil.cohort', svc.cohort],
        ['service.instance.id', `${svc.name}-${svc.cohort}-7d9f8c-${k % 7}`],
        ['telemetry.sdk.language', 'nodejs'],
        ['telemetry.sdk.name', 'opentelemetry'],
        ['telemetry.sdk.version', '2.12.1'],
        ['host.name', `node-${k % 13}`],
        ['k8s.namespace.name', 'prod'],
        ['k8s.pod.name', `${svc.name}-${svc.cohort}-7d9f8c-x${k % 7}`],
      ],
      scope: '@opentelemetry/instrumentation-http',
      spans,
    });
  }
  return out;
}

/** One request of a cohort: log-normal latency (median `latencyMs`, sigma 0.5), error with `errorRate`. */
export function drawRequest(svc: GenService, rnd: () => number): { latencyMs: number; error: boolean } {
  const latencyMs = svc.latencyMs * Math.exp(0.5 * normal(rnd));
  return { latencyMs, error: rnd() < svc.errorRate };
}

/** A standard normal draw (Box-Muller). */
function normal(rnd: () => number): number {
  const u = Math.max(rnd(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
}

// ---- protobuf ---------------------------------------------------------------------------------------

/** A growable protobuf writer; a nested message reserves one length byte and shifts its content if longer. */
class PbWriter {
  private buf = Buffer.allocUnsafe(1 << 16);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(value: number): void {
    this.ensure(10);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  bytes(field: number, b: Buffer): void {
    this.tag(field, 2);
    this.varint(b.length);
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  string(field: number, s: string): void {
    const n = Buffer.byteLength(s);
    this.tag(field, 2);
    this.varint(n);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos);
  }

  fixed64(field: number, v: bigint): void {
    this.tag(field, 1);
    this.ensure(8);
    this.buf.writeBigUInt64LE(v, this.pos);
    this.pos += 8;
  }

  double(field: number, v: number): void {
    this.tag(field, 1);
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /** Starts a nested message; returns the offset of its length byte. */
  begin(field: number): number {
    this.tag(field, 2);
    this.ensure(1);
    return this.pos++;
  }

  end(lengthAt: number): void {
    const len = this.pos - lengthAt - 1;
    let extra = 0;
    for (let v = len; v >= 0x80; v = Math.floor(v / 0x80)) extra++;
    if (extra > 0) {
      this.ensure(extra);
      this.buf.copyWithin(lengthAt + 1 + extra, lengthAt + 1, this.pos);
      this.pos += extra;
    }
    let v = len;
    let at = lengthAt;
    while (v >= 0x80) {
      this.buf[at++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[at] = v;
  }

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

function keyValue(w: PbWriter, field: number, [k, v]: [string, AttrValue]): void {
  const kv = w.begin(field);
  w.string(1, k);
  const any = w.begin(2);
  if (typeof v === 'string') w.string(1, v);
  else if (typeof v === 'boolean') {
    w.tag(2, 0);
    w.varint(v ? 1 : 0);
  } else if (Number.isInteger(v)) {
    w.tag(3, 0);
    w.varint(v);
  } else w.double(4, v);
  w.end(any);
  w.end(kv);
}

/** ExportTraceServiceRequest bytes. */
export function encodeProtobuf(resources: readonly GenResource[]): Buffer {
  const w = new PbWriter();
  for (const r of resources) {
    const rs = w.begin(1);
    const res = w.begin(1);
    for (const a of r.attrs) keyValue(w, 1, a);
    w.end(res);
    const ss = w.begin(2);
    const scope = w.begin(1);
    w.string(1, r.scope);
    w.string(2, '0.60.0');
    w.end(scope);
    for (const s of r.spans) {
      const sp = w.begin(2);
      w.bytes(1, s.traceId);
      w.bytes(2, s.spanId);
      w.bytes(4, s.parentSpanId);
      w.string(5, s.name);
      w.tag(6, 0);
      w.varint(s.kind);
      w.fixed64(7, s.startNs);
      w.fixed64(8, s.endNs);
      for (const a of s.attrs) keyValue(w, 9, a);
      const st = w.begin(15);
      if (s.statusCode) {
        w.tag(3, 0);
        w.varint(s.statusCode);
      }
      w.end(st);
      w.end(sp);
    }
    w.end(ss);
    w.end(rs);
  }
  return w.finish();
}

// ---- OTLP/JSON --------------------------------------------------------------------------------------

function anyValueJson(v: AttrValue): Record<string, unknown> {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Number.isInteger(v)) return { intValue: String(v) };
  return { doubleValue: v };
}

const kvJson = ([key, v]: [string, AttrValue]) => ({ key, value: anyValueJson(v) });

/** The same request as OTLP/JSON (a string). */
export function encodeJson(resources: readonly GenResource[]): string {
  return JSON.stringify({
    resourceSpans: resources.map((r) => ({
      resource: { attributes: r.attrs.map(kvJson) },
      scopeSpans: [
        {
          scope: { name: r.scope, version: '0.60.0' },
          spans: r.spans.map((s) => ({
            traceId: s.traceId.toString('hex'),
            spanId: s.spanId.toString('hex'),
            parentSpanId: s.parentSpanId.toString('hex'),
            name: s.name,
            kind: s.kind,
            startTimeUnixNano: String(s.startNs),
            endTimeUnixNano: String(s.endNs),
            attributes: s.attrs.map(kvJson),
            status: s.statusCode ? { code: s.statusCode } : {},
          })),
        },
      ],
    })),
  });
}

/** `count` services named svc-0000.., each with a baseline (1.0.0) and a canary (1.1.0) cohort. */
export function fleet(
  count: number,
  opts: { canaryErrorRate?: number; baselineErrorRate?: number; version?: string } = {},
): GenService[] {
  const out: GenService[] = [];
  for (let i = 0; i < count; i++) {
    const name = `svc-${String(i).padStart(4, '0')}`;
    out.push({ name, version: '1.0.0', cohort: 'baseline', errorRate: opts.baselineErrorRate ?? 0.01, latencyMs: 20 });
    out.push({
      name,
      version: opts.version ?? '1.1.0',
      cohort: 'canary',
      errorRate: opts.canaryErrorRate ?? 0.01,
      latencyMs: 20,
    });
  }
  return out;
}
