import { Client, Metadata, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { DecodedTraces } from '../../../../src/contracts/telemetry.js';
import { IngestGate } from '../../../../src/ingest/admission/gate.js';
import { grpcAdmissionInterceptor } from '../../../../src/ingest/admission/grpc-interceptor.js';
import {
  LOGS_EXPORT_PATH,
  METRICS_EXPORT_PATH,
  TRACE_EXPORT_PATH,
  createOtlpGrpcReceiver,
  retryInfoStatusDetails,
  type OtlpGrpcOptions,
  type OtlpGrpcReceiver,
} from '../../../../src/ingest/otlp/grpc-receiver.js';
import type { IngestOutcome } from '../../../../src/ingest/otlp/http-receiver.js';
import { otlpFixture } from '../../../helpers/otlp/fixtures.js';
import { readFields, request as pbRequest, span } from '../../../helpers/otlp/pb-writer.js';

/**
 * The OTLP/gRPC receiver against a real grpc-js client over loopback, calling the Export methods by path
 * with raw protobuf bodies (identity serializers), as an OTLP exporter does.
 */

interface Harness {
  receiver: OtlpGrpcReceiver;
  address: string;
  traces: DecodedTraces[];
  rejected: [string, number][];
  dropped: [string, number][];
  metrics: Buffer[];
}

const open: { receiver: OtlpGrpcReceiver; client?: Client }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    o.client?.close();
    await o.receiver.close(1000);
  }
});

async function start(
  over: Partial<OtlpGrpcOptions> = {},
  outcome: () => IngestOutcome = () => ({ kind: 'accepted' }),
): Promise<Harness> {
  const h = { traces: [], rejected: [], dropped: [], metrics: [] } as unknown as Harness;
  h.receiver = createOtlpGrpcReceiver({
    host: '127.0.0.1',
    port: 0,
    maxMessageBytes: 64 * 1024,
    onTraces: (d) => {
      h.traces.push(d);
      return outcome();
    },
    onRejected: (reason, code) => h.rejected.push([reason, code]),
    onDropped: (signal, bytes) => h.dropped.push([signal, bytes]),
    ...over,
  });
  open.push({ receiver: h.receiver });
  h.address = (await h.receiver.listen()).address;
  return h;
}

function client(h: Harness, gzip = false): Client {
  const c = new Client(
    h.address,
    credentials.createInsecure(),
    gzip ? { 'grpc.default_compression_algorithm': 2 } : {},
  );
  open.find((o) => o.receiver === h.receiver)!.client = c;
  return c;
}

const identity = (b: Buffer): Buffer => b;

function call(c: Client, path: string, body: Buffer): Promise<{ response?: Buffer; error?: ServiceError }> {
  return new Promise((resolve) => {
    c.makeUnaryRequest(path, identity, identity, body, new Metadata(), {}, (error, response) => {
      resolve(error ? { error } : { response: response! });
    });
  });
}

/** google.rpc.Status with its details (type_url, value) from grpc-status-details-bin. */
function statusDetails(err: ServiceError): {
  code: number;
  message: string;
  details: { typeUrl: string; value: Buffer }[];
} {
  const raw = err.metadata.get('grpc-status-details-bin')[0] as Buffer;
  const f = readFields(raw);
  return {
    code: Number(f.get(1)?.[0] ?? 0n),
    message: (f.get(2)?.[0] as Buffer | undefined)?.toString() ?? '',
    details: (f.get(3) ?? []).map((d) => {
      const any = readFields(d as Buffer);
      return { typeUrl: (any.get(1)![0] as Buffer).toString(), value: any.get(2)![0] as Buffer };
    }),
  };
}

/** RetryInfo.retry_delay.seconds */
function retryDelaySeconds(retryInfo: Buffer): number {
  const duration = readFields(readFields(retryInfo).get(1)![0] as Buffer);
  return Number(duration.get(1)![0]);
}

const pb = otlpFixture('sdk-trace-20.pb');

describe('OTLP/gRPC receiver', () => {
  it('decodes TraceService/Export and answers an empty ExportTraceServiceResponse', async () => {
    const h = await start();
    const res = await call(client(h), TRACE_EXPORT_PATH, pb);
    expect(res.error).toBeUndefined();
    expect(res.response!.length).toBe(0);
    expect(h.traces).toHaveLength(1);
    expect(h.traces[0]!.spans).toBe(20);
    expect(h.traces[0]!.samples.length).toBeGreaterThan(0);
  });

  it('accepts gzip (grpc-encoding) and decodes the same samples', async () => {
    const h = await start();
    await call(client(h), TRACE_EXPORT_PATH, pb);
    const h2 = await start();
    const res = await call(client(h2, true), TRACE_EXPORT_PATH, pb);
    expect(res.error).toBeUndefined();
    expect(h2.traces[0]).toEqual(h.traces[0]);
  });

  it('answers partial_success for rejected spans', async () => {
    const h = await start();
    const body = pbRequest([], [span({ kind: 2, start: 0n, end: 5n }), span({ kind: 2, start: 5n, end: 9n })]);
    const res = await call(client(h), TRACE_EXPORT_PATH, body);
    const partial = readFields(readFields(res.response!).get(1)![0] as Buffer);
    expect(partial.get(1)).toEqual([1n]);
    expect((partial.get(2)![0] as Buffer).toString()).toMatch(/rejected 1 span/);
  });

  it('answers INVALID_ARGUMENT naming the offset for undecodable data', async () => {
    const h = await start();
    const res = await call(client(h), TRACE_EXPORT_PATH, Buffer.from([0x0a, 0xff, 0xff, 0x01]));
    expect(res.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(res.error?.details).toMatch(/offset \d+/);
    expect(h.rejected).toEqual([['decode', status.INVALID_ARGUMENT]]);
    expect(h.traces).toHaveLength(0);
  });

  it('answers RESOURCE_EXHAUSTED past the message limit, also after decompression', async () => {
    const h = await start({ maxMessageBytes: 1024 });
    const big = pbRequest(
      [],
      Array.from({ length: 40 }, () => span({ kind: 2, start: 5n, end: 9n, name: 'x'.repeat(20) })),
    );
    expect(big.length).toBeGreaterThan(1024);
    expect((await call(client(h), TRACE_EXPORT_PATH, big)).error?.code).toBe(status.RESOURCE_EXHAUSTED);
    const h2 = await start({ maxMessageBytes: 1024 });
    expect((await call(client(h2, true), TRACE_EXPORT_PATH, big)).error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(h.traces).toHaveLength(0);
    expect(h2.traces).toHaveLength(0);
  });

  it('answers UNAVAILABLE with RetryInfo when the ingest queue is full, without reading the message', async () => {
    const gate = new IngestGate({ maxBytes: 1 << 30, maxRequests: 1, retryAfterSeconds: 7 });
    const throttled: string[] = [];
    const refused: [string, number][] = [];
    const admission = grpcAdmissionInterceptor({
      gate,
      maxMessageBytes: 64 * 1024,
      onThrottled: (r) => throttled.push(r),
      onRejected: (r, code) => refused.push([r, code]),
    });
    const h = await start({ admission });
    const c = client(h);
    const held = gate.tryAdmit(1);
    const res = await call(c, TRACE_EXPORT_PATH, pb);
    expect(res.error?.code).toBe(status.UNAVAILABLE);
    const st = statusDetails(res.error!);
    expect(st.code).toBe(status.UNAVAILABLE);
    expect(st.details.map((d) => d.typeUrl)).toEqual(['type.googleapis.com/google.rpc.RetryInfo']);
    expect(retryDelaySeconds(st.details[0]!.value)).toBe(7);
    expect(h.traces).toHaveLength(0);
    expect(throttled).toEqual(['requests']);
    expect(refused).toEqual([['throttled', status.UNAVAILABLE]]);
    expect(h.rejected).toEqual([]);
    if (held.ok) held.release();
    expect((await call(c, TRACE_EXPORT_PATH, pb)).error).toBeUndefined();
    expect(h.traces).toHaveLength(1);
    // every admitted call was released, the failed ones too
    await call(c, TRACE_EXPORT_PATH, Buffer.from([0xff]));
    await new Promise((r) => setImmediate(r));
    expect(gate.stats()).toMatchObject({ inFlightRequests: 0, inFlightBytes: 0, admitted: 3, refused: 1 });
  });

  it('answers UNAVAILABLE with RetryInfo when the consumer throttles', async () => {
    const h = await start({}, () => ({ kind: 'throttled', retryAfterSeconds: 2.5 }));
    const res = await call(client(h), TRACE_EXPORT_PATH, pb);
    expect(res.error?.code).toBe(status.UNAVAILABLE);
    expect(retryDelaySeconds(statusDetails(res.error!).details[0]!.value)).toBe(3);
  });

  it('answers INTERNAL when the consumer throws', async () => {
    const errors: unknown[] = [];
    const h = await start({ onInternalError: (e) => errors.push(e) }, () => {
      throw new Error('boom');
    });
    const res = await call(client(h), TRACE_EXPORT_PATH, pb);
    expect(res.error?.code).toBe(status.INTERNAL);
    expect(errors).toHaveLength(1);
  });

  it('hands MetricsService/Export bodies to onMetrics and answers rejected_data_points', async () => {
    const bodies: Buffer[] = [];
    const h = await start({
      onMetrics: (body) => {
        bodies.push(body);
        return { kind: 'accepted', rejected: 2, message: 'two points with time 0' };
      },
    });
    const body = Buffer.from([0x0a, 0x00]);
    const res = await call(client(h, true), METRICS_EXPORT_PATH, body);
    expect(bodies).toEqual([body]);
    const partial = readFields(readFields(res.response!).get(1)![0] as Buffer);
    expect(partial.get(1)).toEqual([2n]);
    expect((partial.get(2)![0] as Buffer).toString()).toBe('two points with time 0');
  });

  it('accepts and drops metrics without onMetrics, and logs', async () => {
    const h = await start();
    const c = client(h);
    expect((await call(c, METRICS_EXPORT_PATH, Buffer.from([0x0a, 0x00]))).response!.length).toBe(0);
    expect((await call(c, LOGS_EXPORT_PATH, Buffer.from([0x0a, 0x00, 0x0a, 0x00]))).response!.length).toBe(0);
    expect(h.dropped).toEqual([
      ['metrics', 2],
      ['logs', 4],
    ]);
  });

  it('stops accepting calls after close', async () => {
    const h = await start();
    const c = client(h);
    expect((await call(c, TRACE_EXPORT_PATH, pb)).error).toBeUndefined();
    await h.receiver.close(1000);
    const after = await call(c, TRACE_EXPORT_PATH, pb);
    expect(after.error?.code).toBe(status.UNAVAILABLE);
    expect(h.traces).toHaveLength(1);
  });
});

describe('retryInfoStatusDetails', () => {
  it('encodes google.rpc.Status { code, message, details: [Any(RetryInfo { retry_delay { seconds } })] }', () => {
    const f = readFields(retryInfoStatusDetails(14, 'slow down', 300));
    expect(f.get(1)).toEqual([14n]);
    expect((f.get(2)![0] as Buffer).toString()).toBe('slow down');
    const any = readFields(f.get(3)![0] as Buffer);
    expect((any.get(1)![0] as Buffer).toString()).toBe('type.googleapis.com/google.rpc.RetryInfo');
    expect(retryDelaySeconds(any.get(2)![0] as Buffer)).toBe(300);
  });
});
