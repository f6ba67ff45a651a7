import { describe, expect, it } from 'vitest';
import { DEFAULT_COHORT_RULES } from '../../../../src/ingest/cohort.js';
import { decodeTracesJson } from '../../../../src/ingest/otlp/decode-traces-json.js';
import { decodeTracesProtobuf } from '../../../../src/ingest/otlp/decode-traces-protobuf.js';
import { otlpFixture } from '../../../helpers/otlp/fixtures.js';

const pb = otlpFixture('sdk-trace-20.pb');
const json = otlpFixture('sdk-trace-20.json');

interface RawSpan {
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  status: { code: number };
  attributes: { key: string; value: { stringValue?: string; intValue?: number } }[];
}

/** The spans of the JSON fixture, read independently of the decoders (plain JSON.parse + BigInt). */
function rawSpans(): RawSpan[] {
  const doc = JSON.parse(json.toString('utf8')) as { resourceSpans: { scopeSpans: { spans: RawSpan[] }[] }[] };
  return doc.resourceSpans[0]!.scopeSpans.flatMap((s) => s.spans);
}

describe('SDK-generated trace-20 (protobuf and JSON of the same request)', () => {
  const fromPb = decodeTracesProtobuf(pb, DEFAULT_COHORT_RULES);
  const fromJson = decodeTracesJson(json, DEFAULT_COHORT_RULES);

  it('decodes both encodings to identical results', () => {
    expect(fromPb).toEqual(fromJson);
  });

  it('yields 20 request samples of checkout 1.4.2 with nothing rejected', () => {
    expect(fromPb.spans).toBe(20);
    expect(fromPb.samples).toHaveLength(20);
    expect(fromPb.nonRequestSpans).toBe(0);
    expect(fromPb.rejectedSpans).toBe(0);
    expect(fromPb.rejectionMessage).toBeUndefined();
    for (const s of fromPb.samples) {
      expect(s.service).toBe('checkout');
      expect(s.version).toBe('1.4.2');
    }
  });

  it('marks span 0 (status ERROR, 503) as an error and 404s as successes', () => {
    const raw = rawSpans();
    expect(fromPb.samples[0]!.error).toBe(true);
    const status = (s: RawSpan): number | undefined =>
      s.attributes.find((a) => a.key === 'http.response.status_code')?.value.intValue;
    const notFound = raw.map((s, i) => [s, i] as const).filter(([s]) => status(s) === 404);
    expect(notFound.length).toBeGreaterThan(0);
    for (const [, i] of notFound) expect(fromPb.samples[i]!.error).toBe(false);
    raw.forEach((s, i) => {
      expect(fromPb.samples[i]!.error).toBe(s.status.code === 2 || (status(s) ?? 0) >= 500);
    });
  });

  it('takes route from http.route and times from the span, to the microsecond', () => {
    const raw = rawSpans();
    raw.forEach((s, i) => {
      const sample = fromPb.samples[i]!;
      const route = s.attributes.find((a) => a.key === 'http.route')?.value.stringValue;
      expect(sample.route).toBe(route);
      const start = BigInt(s.startTimeUnixNano);
      const end = BigInt(s.endTimeUnixNano);
      expect(Math.abs(sample.endUnixMs - Number(end / 1000n) / 1000)).toBeLessThan(0.001);
      expect(Math.abs(sample.durationMs - Number(end - start) / 1e6)).toBeLessThan(1e-9);
    });
    expect(fromPb.samples[0]!.durationMs).toBeCloseTo(0.72991, 9);
    expect(fromPb.samples[0]!.endUnixMs).toBeCloseTo(1_795_306_545_202.73, 3);
  });

  it('leaves the cohort unknown by default (canarylens.cohort is not our key)', () => {
    expect(new Set(fromPb.samples.map((s) => s.cohort))).toEqual(new Set(['unknown']));
  });

  it('finds the canary cohort when the rules name canarylens.cohort', () => {
    const rules = { ...DEFAULT_COHORT_RULES, attribute: 'canarylens.cohort' };
    const a = decodeTracesProtobuf(pb, rules);
    const b = decodeTracesJson(json, rules);
    expect(a).toEqual(b);
    expect(new Set(a.samples.map((s) => s.cohort))).toEqual(new Set(['canary']));
  });

  it('uses canaryVersion when no attribute or label says anything', () => {
    expect(decodeTracesProtobuf(pb, { ...DEFAULT_COHORT_RULES, canaryVersion: '1.4.2' }).samples[0]!.cohort).toBe(
      'canary',
    );
    expect(decodeTracesProtobuf(pb, { ...DEFAULT_COHORT_RULES, canaryVersion: '1.5.0' }).samples[0]!.cohort).toBe(
      'baseline',
    );
  });

  it('accepts a Uint8Array that is not a Buffer', () => {
    const copy = new Uint8Array(pb.length);
    copy.set(pb);
    expect(decodeTracesProtobuf(copy, DEFAULT_COHORT_RULES)).toEqual(fromPb);
  });
});

describe('opentelemetry-proto example trace.json', () => {
  it('decodes the server span, using its name as the route (no http attributes)', () => {
    const out = decodeTracesJson(otlpFixture('spec-trace.json'), DEFAULT_COHORT_RULES);
    expect(out).toEqual({
      samples: [
        {
          service: 'my.service',
          route: "I'm a server span",
          version: '',
          cohort: 'unknown',
          endUnixMs: 1544712661000,
          durationMs: 1000,
          error: false,
          spanKey: expect.any(Number),
          traceKey: expect.any(Number),
        },
      ],
      spans: 1,
      nonRequestSpans: 0,
      rejectedSpans: 0,
    });
  });
});
