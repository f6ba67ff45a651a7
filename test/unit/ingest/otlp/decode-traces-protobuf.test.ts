import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_COHORT_RULES, type CohortRules } from '../../../../src/ingest/cohort.js';
import { decodeTracesProtobuf } from '../../../../src/ingest/otlp/decode-traces-protobuf.js';
import { VigilError } from '../../../../src/errors.js';
import { otlpFixture } from '../../../helpers/otlp/fixtures.js';
import {
  buf,
  fBytes,
  fDouble,
  fFixed32,
  fFixed64,
  fMsg,
  fString,
  fVarint,
  intAttr,
  request,
  span,
  strAttr,
  tag,
  varint,
} from '../../../helpers/otlp/pb-writer.js';

const rules = DEFAULT_COHORT_RULES;
const T0 = 1_700_000_000_000_000_000n;
const ONE_NS_AFTER = 1_700_000_000_000 + 1e-6;

function decodeError(input: Uint8Array, r: CohortRules = rules): VigilError {
  try {
    decodeTracesProtobuf(input, r);
  } catch (err) {
    if (err instanceof VigilError) return err;
    throw new Error(`threw something else than a VigilError: ${String(err)}`, { cause: err });
  }
  throw new Error('decoded without error');
}

describe('protobuf decoder: span meaning', () => {
  it('reads times, kind, status, route and HTTP status', () => {
    const out = decodeTracesProtobuf(
      request(
        [strAttr(1, 'service.name', 'cart')],
        [
          span({
            kind: 2,
            name: 'GET /a',
            start: T0,
            end: T0 + 2_500_000n,
            attrs: [strAttr(9, 'http.route', '/a'), intAttr(9, 'http.response.status_code', 404)],
          }),
          span({ kind: 2, name: 'GET /b', start: T0, end: T0 + 1n, attrs: [intAttr(9, 'http.status_code', 502)] }),
          span({ kind: 2, name: 'GET /c', start: T0, end: T0 + 1n, status: 2 }),
          span({
            kind: 5,
            name: 'orders process',
            start: T0,
            end: T0 + 1n,
            attrs: [intAttr(9, 'http.response.status_code', 500)],
          }),
          span({ kind: 3, name: 'GET upstream', start: T0, end: T0 + 1n }),
          span({ kind: 1, name: 'internal', start: T0, end: T0 + 1n }),
          span({ kind: 4, name: 'produce', start: T0, end: T0 + 1n }),
          span({ kind: 0, name: 'unspecified', start: T0, end: T0 + 1n }),
        ],
      ),
      rules,
    );
    expect(out).toMatchObject({ spans: 8, nonRequestSpans: 4, rejectedSpans: 0 });
    expect(out.samples).toEqual([
      {
        service: 'cart',
        route: '/a',
        version: '',
        cohort: 'unknown',
        endUnixMs: 1_700_000_000_002.5,
        durationMs: 2.5,
        error: false,
        spanKey: expect.any(Number),
        traceKey: expect.any(Number),
      },
      // an HTTP span without http.route gets no route (its name is high-cardinality)
      {
        service: 'cart',
        route: undefined,
        version: '',
        cohort: 'unknown',
        endUnixMs: ONE_NS_AFTER,
        durationMs: 0.000001,
        error: true,
        spanKey: expect.any(Number),
        traceKey: expect.any(Number),
      },
      {
        service: 'cart',
        route: 'GET /c',
        version: '',
        cohort: 'unknown',
        endUnixMs: ONE_NS_AFTER,
        durationMs: 0.000001,
        error: true,
        spanKey: expect.any(Number),
        traceKey: expect.any(Number),
      },
      // CONSUMER: the name is the route; an HTTP 5xx only counts on SERVER spans
      {
        service: 'cart',
        route: 'orders process',
        version: '',
        cohort: 'unknown',
        endUnixMs: ONE_NS_AFTER,
        durationMs: 0.000001,
        error: false,
        spanKey: expect.any(Number),
        traceKey: expect.any(Number),
      },
    ]);
  });

  it('gRPC server errors: UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS', () => {
    const codes = Array.from({ length: 17 }, (_, i) => i);
    const out = decodeTracesProtobuf(
      request(
        [],
        codes.map((c) =>
          span({ kind: 2, name: 'pkg.Svc/M', start: T0, end: T0 + 1n, attrs: [intAttr(9, 'rpc.grpc.status_code', c)] }),
        ),
      ),
      rules,
    );
    expect(codes.filter((c) => out.samples[c]!.error)).toEqual([2, 4, 12, 13, 14, 15]);
    expect(out.samples[0]!.route).toBe('pkg.Svc/M');
  });

  it('rpc.response.status_code by name', () => {
    const out = decodeTracesProtobuf(
      request(
        [],
        ['OK', 'NOT_FOUND', 'UNAVAILABLE', 'deadline_exceeded'].map((c) =>
          span({ kind: 2, start: T0, end: T0 + 1n, attrs: [strAttr(9, 'rpc.response.status_code', c)] }),
        ),
      ),
      rules,
    );
    expect(out.samples.map((s) => s.error)).toEqual([false, false, true, true]);
  });

  it('rejects zero times and spans ending before they start, counting them', () => {
    const out = decodeTracesProtobuf(
      request(
        [],
        [
          span({ kind: 2, start: 0n, end: T0 }),
          span({ kind: 2, start: T0 }),
          span({ kind: 2, start: T0 + 10n, end: T0 }),
          span({ kind: 2, start: T0, end: T0 }),
        ],
      ),
      rules,
    );
    expect(out).toMatchObject({ spans: 4, rejectedSpans: 3, nonRequestSpans: 0 });
    expect(out.samples).toHaveLength(1);
    expect(out.samples[0]!.durationMs).toBe(0);
    expect(out.rejectionMessage).toContain('rejected 3 span(s)');
  });

  it('keeps times to the microsecond and durations to the nanosecond', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 946_684_800_000_000_000n, max: 4_102_444_800_000_000_000n }), // 2000 .. 2100
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        (start, duration) => {
          const out = decodeTracesProtobuf(request([], [span({ kind: 2, start, end: start + duration })]), rules);
          const s = out.samples[0]!;
          expect(Math.abs(s.endUnixMs - Number(start + duration) / 1e6)).toBeLessThan(0.001);
          expect(s.durationMs).toBe(Number(duration) / 1e6);
          if ((start + duration) % 1_000_000n === 0n) expect(s.endUnixMs).toBe(Number((start + duration) / 1_000_000n));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('protobuf decoder: resources and cohorts', () => {
  it('resolves each resource on its own, even when the resource follows its spans on the wire', () => {
    const rs1 = fMsg(
      1,
      fMsg(2, span({ kind: 2, start: T0, end: T0 + 1n })),
      fMsg(
        1,
        strAttr(1, 'service.name', 'a'),
        strAttr(1, 'service.version', '2'),
        strAttr(1, 'k8s.pod.label.track', 'canary'),
      ),
    );
    const rs2 = fMsg(
      1,
      fMsg(
        1,
        strAttr(1, 'service.name', 'b'),
        strAttr(1, 'k8s.pod.labels.track', 'stable'),
        strAttr(1, 'k8s.pod.label.version', '9'),
      ),
      fMsg(
        2,
        span({ kind: 2, start: T0, end: T0 + 1n }),
        span({ kind: 2, start: T0, end: T0 + 1n, attrs: [strAttr(9, 'vigil.cohort', 'Experiment')] }),
      ),
    );
    const out = decodeTracesProtobuf(buf(rs1, rs2), rules);
    expect(out.samples.map((s) => [s.service, s.version, s.cohort])).toEqual([
      ['a', '2', 'canary'],
      ['b', '9', 'baseline'],
      ['b', '9', 'canary'],
    ]);
  });

  it('reads non-string versions in their string form and ignores array values', () => {
    const out = decodeTracesProtobuf(
      request(
        [
          fMsg(1, fString(1, 'service.version'), fMsg(2, fVarint(3, 7))),
          fMsg(1, fString(1, 'service.name'), fMsg(2, fMsg(5, fMsg(1, fString(1, 'x'))))),
        ],
        [span({ kind: 2, start: T0, end: T0 + 1n })],
      ),
      rules,
    );
    expect(out.samples[0]).toMatchObject({ version: '7', service: 'unknown_service' });
  });

  it('reads int64 values with the sign (negative status codes are not errors)', () => {
    const out = decodeTracesProtobuf(
      request(
        [],
        [
          span({ kind: 2, start: T0, end: T0 + 1n, attrs: [intAttr(9, 'http.response.status_code', -503)] }),
          span({
            kind: 2,
            start: T0,
            end: T0 + 1n,
            attrs: [fMsg(9, fString(1, 'http.response.status_code'), fMsg(2, fDouble(4, 503)))],
          }),
        ],
      ),
      rules,
    );
    expect(out.samples.map((s) => s.error)).toEqual([false, true]);
  });

  it('a negative kind (10-byte varint) is not a request', () => {
    const out = decodeTracesProtobuf(request([], [span({ kind: -1, start: T0, end: T0 + 1n })]), rules);
    expect(out).toMatchObject({ spans: 1, nonRequestSpans: 1 });
  });

  it('skips unknown fields of every wire type at every level', () => {
    const unknown = [fVarint(99, 300), fFixed64(98, 1n), fBytes(97, [1, 2, 3]), fFixed32(96, 7)];
    const input = buf(
      ...unknown,
      fMsg(
        1,
        ...unknown,
        fMsg(1, ...unknown, fMsg(1, fString(1, 'service.name'), ...unknown, fMsg(2, ...unknown, fString(1, 'svc')))),
        fMsg(2, ...unknown, span({ kind: 2, start: T0, end: T0 + 1n, extra: unknown })),
      ),
    );
    expect(decodeTracesProtobuf(input, rules).samples[0]!.service).toBe('svc');
  });
});

describe('protobuf decoder: malformed input', () => {
  const valid = otlpFixture('sdk-trace-20.pb');

  it('throws a VigilError for the input truncated at every byte', () => {
    expect(decodeTracesProtobuf(valid.subarray(0, 0), rules).spans).toBe(0);
    for (let n = 1; n < valid.length; n++) {
      expect(decodeError(valid.subarray(0, n)).code).toBe('VIGIL_ERR_INGEST_DECODE');
    }
  });

  it('names the field and the offset', () => {
    const inner = decodeError(buf(fMsg(1, fMsg(2, fMsg(2, [...tag(7, 1), 1, 2, 3])))));
    expect(inner.message).toBe(
      'OTLP payload could not be decoded: truncated fixed64 at offset 7 in Span.start_time_unix_nano',
    );
  });

  it.each([
    [
      'a group (wire type 3)',
      buf(tag(5, 3)),
      /unsupported wire type start-group for field 5 at offset 0 in ExportTraceServiceRequest/,
    ],
    ['wire type 7', buf(tag(5, 7)), /unsupported wire type 7/],
    ['field number 0', buf([0x02, 0x00]), /invalid field number 0 at offset 0/],
    [
      'a known field with the wrong wire type',
      buf(fVarint(1, 5)),
      /wire type varint where length-delimited was expected.*ExportTraceServiceRequest.resource_spans/,
    ],
    [
      'an overlong varint',
      buf(fMsg(1, fMsg(2, fMsg(2, [...tag(6, 0), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])))),
      /overlong varint .* in Span.kind/,
    ],
    [
      'a length past the end',
      buf([...tag(1, 2), ...varint(1000), 1, 2]),
      /length 1000 runs past the end .* at offset 1 in ExportTraceServiceRequest.resource_spans/,
    ],
    ['a huge length', buf([...tag(1, 2), ...varint(2n ** 62n)]), /runs past the end/],
    ['a nested length past its parent', buf(fMsg(1, [...tag(2, 2), 50])), /ResourceSpans.scope_spans/],
  ])('rejects %s', (_name, input, message) => {
    expect(decodeError(input).message).toMatch(message);
  });

  it('random bytes decode or throw a VigilError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          const out = decodeTracesProtobuf(bytes, rules);
          expect(out.spans).toBe(out.samples.length + out.nonRequestSpans + out.rejectedSpans);
        } catch (err) {
          expect(err).toBeInstanceOf(VigilError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated valid requests decode or throw a VigilError', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        (edits) => {
          const copy = Buffer.from(valid);
          for (const [i, b] of edits) copy[i] = b;
          try {
            decodeTracesProtobuf(copy, rules);
          } catch (err) {
            expect(err).toBeInstanceOf(VigilError);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
