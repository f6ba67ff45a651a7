import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cutBytes, cutString, DEFAULT_MAX_NAME_BYTES, fitsBytes } from '../../../src/ingest/bounded-text.js';
import { cohortRulesOf, type CohortRules } from '../../../src/ingest/cohort.js';
import { decodeMetricsJson } from '../../../src/ingest/otlp/decode-metrics-json.js';
import { decodeMetricsProtobuf } from '../../../src/ingest/otlp/decode-metrics-protobuf.js';
import { decodeTracesJson } from '../../../src/ingest/otlp/decode-traces-json.js';
import { decodeTracesProtobuf } from '../../../src/ingest/otlp/decode-traces-protobuf.js';
import { MAX_IDENTITY_CHARS } from '../../../src/ingest/metrics/attributes.js';
import { SEC, T0, histPoint, kvStr, metric, metricsRequest } from '../../helpers/otlp/pb-metrics.js';
import { request, span, strAttr } from '../../helpers/otlp/pb-writer.js';

const RULES: CohortRules = { attribute: 'vigil.cohort', podLabels: ['track'], canaryVersion: null };
const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

describe('fitsBytes, cutString, cutBytes', () => {
  it('counts UTF-8 bytes, not characters', () => {
    expect(fitsBytes('a'.repeat(256), 256)).toBe(true);
    expect(fitsBytes('a'.repeat(257), 256)).toBe(false);
    expect(fitsBytes('é'.repeat(128), 256)).toBe(true);
    expect(fitsBytes('é'.repeat(129), 256)).toBe(false);
    expect(fitsBytes('😀'.repeat(64), 256)).toBe(true);
    expect(fitsBytes('😀'.repeat(65), 256)).toBe(false);
  });

  it('keeps a value that fits as it is; cuts a longer one to at most the limit, on a character boundary', () => {
    expect(cutString('v1.2.3', 256)).toBe('v1.2.3');
    const long = `${'é'.repeat(300)}tail`;
    const cut = cutString(long, 256);
    expect(bytes(cut)).toBeLessThanOrEqual(256);
    expect(cut).toMatch(/^é+~[0-9a-f]{16}$/);
    expect(cut.startsWith('é'.repeat(119))).toBe(true);
    // the same value from its bytes (the protobuf decoder) gives the same text
    const b = Buffer.from(`xx${long}yy`, 'utf8');
    expect(cutBytes(b, 2, b.length - 2, 256)).toBe(cut);
  });

  it('two long values that share their first bytes stay distinct (the hash of the whole value)', () => {
    const a = cutString(`${'x'.repeat(1000)}a`, 256);
    const b = cutString(`${'x'.repeat(1000)}b`, 256);
    expect(a).not.toBe(b);
    expect(a.slice(0, 239)).toBe(b.slice(0, 239));
  });

  it('property: the cut form is at most the limit, and the same from the string and from its bytes', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', minLength: 0, maxLength: 400 }),
        fc.integer({ min: 64, max: 300 }),
        (s, max) => {
          const cut = cutString(s, max);
          expect(bytes(cut)).toBeLessThanOrEqual(max);
          if (fitsBytes(s, max)) expect(cut).toBe(s);
          else {
            const b = Buffer.from(s, 'utf8');
            expect(cutBytes(b, 0, b.length, max)).toBe(cut);
          }
        },
      ),
    );
  });
});

const NS = (ms: number): bigint => T0 + BigInt(ms) * 1_000_000n;

/** The same request as protobuf and as OTLP/JSON: one resource, one SERVER span. */
function traces(resource: Record<string, string>, spanAttrs: Record<string, string> = {}, name = 'GET /x') {
  const pb = request(
    Object.entries(resource).map(([k, v]) => strAttr(1, k, v)),
    [
      span({
        kind: 2,
        start: NS(0),
        end: NS(5),
        name,
        attrs: Object.entries(spanAttrs).map(([k, v]) => strAttr(9, k, v)),
      }),
    ],
  );
  const attrs = (o: Record<string, string>) =>
    Object.entries(o).map(([key, v]) => ({ key, value: { stringValue: v } }));
  const json = JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: attrs(resource) },
        scopeSpans: [
          {
            scope: { name: 'scope' },
            spans: [
              {
                traceId: '01'.repeat(16),
                spanId: '02'.repeat(8),
                name,
                kind: 2,
                startTimeUnixNano: String(NS(0)),
                endTimeUnixNano: String(NS(5)),
                attributes: attrs(spanAttrs),
              },
            ],
          },
        ],
      },
    ],
  });
  return { pb, json };
}

/** Decodes both encodings, checks they agree, returns the result. */
function decodeBoth(t: { pb: Buffer; json: string }, rules: CohortRules = RULES) {
  const fromPb = decodeTracesProtobuf(t.pb, rules);
  expect(decodeTracesJson(t.json, rules)).toEqual(fromPb);
  return fromPb;
}

describe('trace decoders: limits.maxNameLength', () => {
  const LONG = 'x'.repeat(5000);

  it('a service.name over the limit: its spans are rejected (partial success), never kept', () => {
    const d = decodeBoth(traces({ 'service.name': `svc-${LONG}`, 'service.version': '1' }));
    expect(d.samples).toEqual([]);
    expect(d).toMatchObject({ spans: 1, rejectedSpans: 1, serviceTooLongSpans: 1 });
    expect(d.rejectionMessage).toBe(
      'rejected 1 span(s): 1 whose service.name is longer than 256 bytes (limits.maxNameLength)',
    );
    // exactly the limit is kept
    const ok = decodeBoth(traces({ 'service.name': 's'.repeat(DEFAULT_MAX_NAME_BYTES) }));
    expect(ok.samples[0]!.service).toHaveLength(256);
    expect(ok.rejectedSpans).toBe(0);
  });

  it('a version or a route over the limit is kept cut (prefix + hash), the same in both encodings, and counted', () => {
    const version = `2.0.0+${LONG}`;
    const d = decodeBoth(
      traces({ 'service.name': 'cart', 'service.version': version }, { 'http.route': `/a/${LONG}` }),
    );
    const s = d.samples[0]!;
    expect(s.version).toBe(cutString(version, 256));
    expect(s.route).toBe(cutString(`/a/${LONG}`, 256));
    expect(bytes(s.version)).toBeLessThanOrEqual(256);
    expect(d).toMatchObject({ rejectedSpans: 0, cutVersions: 1, cutRoutes: 1 });
    // the span name, when it is the route
    const n = decodeBoth(traces({ 'service.name': 'cart' }, {}, `consume ${LONG}`));
    expect(n.samples[0]!.route).toBe(cutString(`consume ${LONG}`, 256));
    expect(n.cutRoutes).toBe(1);
  });

  it('a cohort attribute or pod label value over the limit means nothing (as if absent)', () => {
    const d = decodeBoth(
      traces({ 'service.name': 'cart', 'vigil.cohort': `canary${LONG}`, 'k8s.pod.label.track': 'stable' }),
    );
    expect(d.samples[0]!.cohort).toBe('baseline');
  });

  it('a config canaryVersion over the limit is cut the same way, so it still names the canary', () => {
    const version = `9.9.9-${LONG}`;
    const rules = cohortRulesOf({
      cohorts: { attribute: 'vigil.cohort', podLabels: [], canaryVersion: version },
      rollouts: [],
      limits: { maxNameLength: 128 },
    });
    expect(rules.maxNameBytes).toBe(128);
    const d = decodeBoth(traces({ 'service.name': 'cart', 'service.version': version }), rules);
    expect(d.samples[0]).toMatchObject({ cohort: 'canary', version: cutString(version, 128) });
  });

  it('the limit is configurable', () => {
    const rules = { ...RULES, maxNameBytes: 64 };
    const d = decodeBoth(traces({ 'service.name': 'n'.repeat(65) }), rules);
    expect(d.rejectionMessage).toMatch(/longer than 64 bytes/);
  });
});

describe('metrics decoders: limits.maxNameLength and bounded stream identities', () => {
  const point = histPoint({ start: T0, time: T0 + 10n * SEC, count: 1n, counts: [1n, 0n], bounds: [5] });
  const body = (resource: [string, string][]) =>
    metricsRequest(
      resource.map(([k, v]) => kvStr(1, k, v)),
      [metric('http.server.duration', 'ms', 9, [point], 2), metric('other.metric', 'ms', 9, [point], 2)],
    );

  it('data points of a service.name over the limit are rejected with a partial success message', () => {
    const d = decodeMetricsProtobuf(body([['service.name', 'x'.repeat(300)]]), RULES);
    expect(d.points).toEqual([]);
    expect(d).toMatchObject({ dataPoints: 2, rejectedDataPoints: 2, serviceTooLongDataPoints: 2 });
    expect(d.rejectionMessage).toMatch(/2 whose service.name is longer than 256 bytes \(limits.maxNameLength\)/);
  });

  it('a long version is cut; a long identity is kept as its hash, distinct per stream, the same from JSON', () => {
    const long = 'a'.repeat(5000);
    const pb = decodeMetricsProtobuf(
      body([
        ['service.name', 'cart'],
        ['service.version', `1.0-${long}`],
        ['process.command_line', long],
      ]),
      RULES,
    );
    const p = pb.points[0]!;
    expect(p.resource.version).toBe(cutString(`1.0-${long}`, 256));
    expect(pb.cutVersions).toBe(1);
    expect(p.resource.key.startsWith('#')).toBe(true); // the resource's 5 KB of attributes, hashed
    expect(p.resource.key).toHaveLength(45);
    expect(p.streamKey.startsWith(`${p.resource.key}\n`)).toBe(true);
    expect(p.streamKey.length).toBeLessThanOrEqual(MAX_IDENTITY_CHARS);
    const other = decodeMetricsProtobuf(
      body([
        ['service.name', 'cart'],
        ['service.version', `1.0-${long}`],
        ['process.command_line', `${long}b`],
      ]),
      RULES,
    );
    expect(other.points[0]!.streamKey).not.toBe(p.streamKey);
    const json = decodeMetricsJson(
      JSON.stringify({
        resourceMetrics: [
          {
            resource: {
              attributes: [
                { key: 'service.name', value: { stringValue: 'cart' } },
                { key: 'service.version', value: { stringValue: `1.0-${long}` } },
                { key: 'process.command_line', value: { stringValue: long } },
              ],
            },
            scopeMetrics: [
              {
                scope: { name: 'scope', version: '1.0' },
                metrics: [
                  {
                    name: 'http.server.duration',
                    unit: 'ms',
                    histogram: {
                      aggregationTemporality: 2,
                      dataPoints: [
                        {
                          startTimeUnixNano: String(T0),
                          timeUnixNano: String(T0 + 10n * SEC),
                          count: '1',
                          bucketCounts: ['1', '0'],
                          explicitBounds: [5],
                        },
                      ],
                    },
                  },
                ],
              },
            ],
          },
        ],
      }),
      RULES,
    );
    expect(json.points[0]!.streamKey).toBe(p.streamKey);
    expect(json.points[0]!.resource).toEqual(p.resource);
  });

  it('a stream key longer than MAX_IDENTITY_CHARS (long point attributes) is kept as its hash', () => {
    const long = histPoint({
      attrs: [kvStr(9, 'http.route', `/${'r'.repeat(3000)}`)],
      start: T0,
      time: T0 + 10n * SEC,
      count: 1n,
      counts: [1n, 0n],
      bounds: [5],
    });
    const d = decodeMetricsProtobuf(
      metricsRequest([kvStr(1, 'service.name', 'cart')], [metric('http.server.duration', 'ms', 9, [long], 2)]),
      RULES,
    );
    expect(d.points[0]!.streamKey).toHaveLength(45);
    expect(d.points[0]!.streamKey.startsWith('#')).toBe(true);
  });
});
