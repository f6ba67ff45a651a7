import { describe, expect, it } from 'vitest';
import { DEFAULT_COHORT_RULES } from '../../../../src/ingest/cohort.js';
import { decodeTracesJson } from '../../../../src/ingest/otlp/decode-traces-json.js';
import { decodeTracesProtobuf } from '../../../../src/ingest/otlp/decode-traces-protobuf.js';
import { VigilError } from '../../../../src/errors.js';
import type { DecodedTraces } from '../../../../src/contracts/telemetry.js';
import { intAttr, request, span, strAttr } from '../../../helpers/otlp/pb-writer.js';

const rules = DEFAULT_COHORT_RULES;

/** The same logical request in protobuf, built with the test writer. */
const reference = decodeTracesProtobuf(
  request(
    [strAttr(1, 'service.name', 'cart'), strAttr(1, 'service.version', '3.1'), strAttr(1, 'vigil.cohort', 'canary')],
    [
      span({
        kind: 2,
        name: 'GET /x',
        start: 1_700_000_000_123_456_789n,
        end: 1_700_000_000_223_456_789n,
        status: 0,
        attrs: [strAttr(9, 'http.route', '/x/:id'), intAttr(9, 'http.response.status_code', 503)],
      }),
    ],
  ),
  rules,
);

/** The reference's ids differ from the documents' (keys are compared in decode-traces-oracle and trace-key tests). */
function withoutSpanKeys(d: DecodedTraces): DecodedTraces {
  return { ...d, samples: d.samples.map((s) => ({ ...s, spanKey: undefined, traceKey: undefined })) };
}

function decodeJson(doc: unknown) {
  return decodeTracesJson(JSON.stringify(doc), rules);
}

describe('OTLP/JSON quirks', () => {
  it('snake_case keys, string ints, enum names and upper-case hex ids', () => {
    const out = decodeJson({
      resource_spans: [
        {
          resource: {
            attributes: [
              { key: 'service.name', value: { string_value: 'cart' } },
              { key: 'service.version', value: { string_value: '3.1' } },
              { key: 'vigil.cohort', value: { string_value: 'canary' } },
            ],
          },
          scope_spans: [
            {
              spans: [
                {
                  trace_id: '5B8EFFF798038103D269B633813FC60C',
                  span_id: 'EEE19B7EC3C1B174',
                  name: 'GET /x',
                  kind: 'SPAN_KIND_SERVER',
                  start_time_unix_nano: '1700000000123456789',
                  end_time_unix_nano: '1700000000223456789',
                  attributes: [
                    { key: 'http.route', value: { string_value: '/x/:id' } },
                    { key: 'http.response.status_code', value: { int_value: '503' } },
                  ],
                  status: { code: 'STATUS_CODE_UNSET' },
                },
              ],
            },
          ],
        },
      ],
    });
    expect(withoutSpanKeys(out)).toEqual(withoutSpanKeys(reference));
    expect(out.samples[0]!.spanKey).toEqual(expect.any(Number));
    expect(out.samples[0]!.traceKey).toEqual(expect.any(Number));
    expect(out.samples[0]).toMatchObject({
      service: 'cart',
      version: '3.1',
      cohort: 'canary',
      route: '/x/:id',
      error: true,
    });
    expect(out.samples[0]!.durationMs).toBe(100);
  });

  it('lowerCamelCase keys, number ints, short enum names, unknown fields ignored', () => {
    const out = decodeJson({
      resourceSpans: [
        {
          resource: {
            attributes: [
              { key: 'service.name', value: { stringValue: 'cart' } },
              { key: 'service.version', value: { stringValue: '3.1' } },
              { key: 'vigil.cohort', value: { stringValue: 'CANARY' } },
            ],
            futureField: { a: 1 },
          },
          schemaUrl: 'https://opentelemetry.io/schemas/1.30.0',
          scopeSpans: [
            {
              scope: { name: 's' },
              spans: [
                {
                  name: 'GET /x',
                  kind: 'SERVER',
                  startTimeUnixNano: '1700000000123456789',
                  endTimeUnixNano: '1700000000223456789',
                  attributes: [
                    { key: 'http.route', value: { stringValue: '/x/:id' } },
                    { key: 'http.response.status_code', value: { intValue: 503 } },
                  ],
                  events: [{ timeUnixNano: '1', name: 'e' }],
                  somethingNew: true,
                },
              ],
            },
          ],
        },
      ],
    });
    expect(withoutSpanKeys(out)).toEqual(withoutSpanKeys(reference));
  });

  it('timestamps as JSON numbers (safe integers are exact)', () => {
    const out = decodeJson({
      resourceSpans: [
        {
          scopeSpans: [
            { spans: [{ kind: 2, name: 'op', startTimeUnixNano: 1_000_000_000, endTimeUnixNano: 3_500_000_000 }] },
          ],
        },
      ],
    });
    expect(out.samples[0]).toMatchObject({
      endUnixMs: 3500,
      durationMs: 2500,
      service: 'unknown_service',
      route: 'op',
    });
  });

  it('status code by number and by name', () => {
    for (const code of [2, '2', 'STATUS_CODE_ERROR', 'error']) {
      const out = decodeJson({
        resourceSpans: [
          {
            scopeSpans: [
              { spans: [{ kind: 5, name: 'consume', startTimeUnixNano: '1', endTimeUnixNano: '2', status: { code } }] },
            ],
          },
        ],
      });
      expect(out.samples[0]!.error).toBe(true);
    }
  });

  it('doubles as "NaN"/"Infinity" strings and nulls as absent', () => {
    const out = decodeJson({
      resourceSpans: [
        {
          resource: null,
          scopeSpans: [
            {
              spans: [
                {
                  kind: 2,
                  name: 'op',
                  startTimeUnixNano: '1',
                  endTimeUnixNano: '2',
                  status: null,
                  attributes: [
                    { key: 'http.response.status_code', value: { doubleValue: 'Infinity' } },
                    { key: 'x.nan', value: { doubleValue: 'NaN' } },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
    expect(out.samples[0]!.error).toBe(true);
  });

  it('counts zero timestamps and reversed spans as rejected, with a message', () => {
    const out = decodeJson({
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                { kind: 2, startTimeUnixNano: '0', endTimeUnixNano: '5' },
                { kind: 2, startTimeUnixNano: '5' },
                { kind: 2, startTimeUnixNano: '9', endTimeUnixNano: '5' },
                { kind: 3, startTimeUnixNano: '1', endTimeUnixNano: '5' },
                { kind: 2, startTimeUnixNano: '1', endTimeUnixNano: '5' },
              ],
            },
          ],
        },
      ],
    });
    expect(out).toMatchObject({ spans: 5, rejectedSpans: 3, nonRequestSpans: 1 });
    expect(out.samples).toHaveLength(1);
    expect(out.rejectionMessage).toMatch(
      /rejected 3 span\(s\): 2 with start_time_unix_nano or end_time_unix_nano 0, 1 ending before/,
    );
  });

  it('an empty object is an empty request', () => {
    expect(decodeJson({})).toEqual({ samples: [], spans: 0, nonRequestSpans: 0, rejectedSpans: 0 });
  });

  it.each([
    ['not JSON', '{"resourceSpans": [', /invalid JSON/],
    ['an array', '[]', /request must be an object/],
    ['resourceSpans not an array', '{"resourceSpans": {}}', /resourceSpans must be an array/],
    [
      'bad timestamp',
      '{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"12x"}]}]}]}',
      /resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.startTimeUnixNano must be an unsigned 64-bit integer/,
    ],
    [
      'timestamp past 2^64',
      '{"resourceSpans":[{"scopeSpans":[{"spans":[{"endTimeUnixNano":"18446744073709551616"}]}]}]}',
      /endTimeUnixNano must be an unsigned 64-bit integer/,
    ],
    [
      'negative timestamp',
      '{"resourceSpans":[{"scopeSpans":[{"spans":[{"endTimeUnixNano":-1}]}]}]}',
      /unsigned 64-bit/,
    ],
    [
      'kind of the wrong type',
      '{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":{}}]}]}]}',
      /kind must be an enum number or name, got an object$/,
    ],
    [
      'kind as a 5,000-deep array (shown by its kind, never stringified whole)',
      `{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":${'['.repeat(5000)}${']'.repeat(5000)}}]}]}]}`,
      /spans\[0\]\.kind must be an enum number or name, got an array of 1$/,
    ],
    [
      'a timestamp as a long string (cut in the message)',
      `{"resourceSpans":[{"scopeSpans":[{"spans":[{"endTimeUnixNano":"${'9'.repeat(100_000)}"}]}]}]}`,
      /endTimeUnixNano must be an unsigned 64-bit integer, got "9{40}"\.\.\. \(100000 characters\)$/,
    ],
    [
      'a scope of the wrong type',
      '{"resourceSpans":[{"scopeSpans":[7]}]}',
      /scopeSpans\[0\] must be an object, got 7$/,
    ],
  ])('rejects %s with VIGIL_ERR_INGEST_DECODE', (_name, body, message) => {
    let caught: unknown;
    try {
      decodeTracesJson(body, rules);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(VigilError);
    expect((caught as VigilError).code).toBe('VIGIL_ERR_INGEST_DECODE');
    expect((caught as VigilError).message).toMatch(message);
  });

  it('decodes a Buffer and a string alike', () => {
    const doc = JSON.stringify({
      resourceSpans: [{ scopeSpans: [{ spans: [{ kind: 2, startTimeUnixNano: '1', endTimeUnixNano: '2' }] }] }],
    });
    expect(decodeTracesJson(Buffer.from(doc), rules)).toEqual(decodeTracesJson(doc, rules));
  });
});
