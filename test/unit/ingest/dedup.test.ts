import { describe, expect, it } from 'vitest';
import type { RequestSample } from '../../../src/contracts/telemetry.js';
import { KeyTable, SpanDedup } from '../../../src/ingest/dedup.js';
import { decodeTracesJson } from '../../../src/ingest/otlp/decode-traces-json.js';
import { decodeTracesProtobuf } from '../../../src/ingest/otlp/decode-traces-protobuf.js';
import { DEFAULT_COHORT_RULES } from '../../../src/ingest/cohort.js';
import { SpanKeyHasher } from '../../../src/ingest/otlp/span-key.js';
import { fBytes, fFixed64, fMsg, fString, fVarint, buf } from '../../helpers/otlp/pb-writer.js';

const T0 = 1_700_000_000_000;

function sample(key: number | undefined, endUnixMs: number, service = 'cart'): RequestSample {
  return { service, version: '1', cohort: 'canary', endUnixMs, durationMs: 1, error: false, spanKey: key };
}

const settings = { bucketMs: 10_000, horizonMs: 5_000, maxSpans: 1_000 };

describe('SpanDedup', () => {
  it('retain forgets the keys of the services the caller no longer tracks (a flood of one-off names)', () => {
    const d = new SpanDedup(settings);
    d.filter([sample(1, T0, 'real'), sample(2, T0, 'real')]);
    d.filter(Array.from({ length: 500 }, (_, i) => sample(100 + i, T0, `junk-${i}`)));
    expect(d.serviceCount).toBe(501);
    expect(d.tracked).toBe(502);
    d.retain((service) => service === 'real');
    expect(d.serviceCount).toBe(1);
    expect(d.tracked).toBe(2);
    expect(d.filter([sample(1, T0, 'real')])).toEqual([]); // what is kept still de-duplicates
  });

  it('passes samples after latestMs on unchecked: a far-future span moves no window', () => {
    const d = new SpanDedup(settings);
    const now = [sample(1, T0), sample(2, T0 + 1)];
    expect(d.filter(now, T0 + 120_000)).toEqual(now);
    const future = [sample(3, Date.UTC(2500, 0, 1)), sample(3, Date.UTC(2500, 0, 1))];
    expect(d.filter(future, T0 + 120_000)).toEqual(future); // not checked: the analysis refuses them
    expect(d.tracked).toBe(2);
    expect(d.filter(now, T0 + 120_000)).toEqual([]); // the present windows are still there
    expect(d.counts.uncheckedLate).toBe(0);
  });

  it('skips a batch delivered twice, and duplicates within a batch', () => {
    const d = new SpanDedup(settings);
    const batch = [sample(1, T0), sample(2, T0 + 1), sample(3, T0 + 2)];
    expect(d.filter(batch)).toBe(batch);
    expect(d.filter(batch)).toEqual([]);
    expect(d.filter([sample(4, T0), sample(4, T0 + 1), sample(2, T0)])).toEqual([sample(4, T0)]);
    expect(d.counts.duplicates).toBe(5);
    expect(d.tracked).toBe(4);
  });

  it('keeps keys per service: the same key in another service is not a duplicate', () => {
    const d = new SpanDedup(settings);
    d.filter([sample(1, T0, 'a')]);
    expect(d.filter([sample(1, T0, 'b')])).toHaveLength(1);
  });

  it('drops a window once the latest end is the horizon past it (memory freed), then counts older spans as late', () => {
    const d = new SpanDedup(settings);
    const start = Math.floor(T0 / 10_000) * 10_000;
    d.filter([sample(1, start), sample(2, start + 9_999)]);
    expect(d.tracked).toBe(2);
    // window [start, start+10s) can still change while latest < start + 10s + 5s
    d.filter([sample(3, start + 14_999)]);
    expect(d.tracked).toBe(3);
    expect(d.filter([sample(1, start + 1)])).toEqual([]);
    d.filter([sample(4, start + 15_000)]);
    expect(d.tracked).toBe(2);
    expect(d.bucketCount).toBe(1);
    // a re-delivery of the dropped window is not checked (the analysis counts it late anyway)
    expect(d.filter([sample(1, start)])).toHaveLength(1);
    expect(d.takeCounts()).toEqual({ duplicates: 1, uncheckedLimit: 0, uncheckedNoId: 0, uncheckedLate: 1 });
    expect(d.tracked).toBe(2);
  });

  it('frees the windows of a service that stopped sending, once the other services are past them', () => {
    const d = new SpanDedup(settings);
    d.filter([sample(1, T0, 'gone'), sample(2, T0, 'gone')]);
    d.filter([sample(3, T0, 'live')]);
    expect(d.tracked).toBe(3);
    for (let t = T0; t <= T0 + 40_000; t += 1_000) d.filter([sample(t, t, 'live')]);
    expect(d.tracked).toBeLessThanOrEqual(16); // live: ~15 s of keys (horizon + one window); gone: freed
    expect(d.filter([sample(1, T0 + 40_000, 'gone')])).toHaveLength(1); // forgotten, and new to its own clock
  });

  it('past maxSpans, new spans pass unchecked and are counted; known ones are still caught', () => {
    const d = new SpanDedup({ ...settings, maxSpans: 2 });
    d.filter([sample(1, T0), sample(2, T0)]);
    expect(d.filter([sample(3, T0), sample(3, T0), sample(1, T0)])).toEqual([sample(3, T0), sample(3, T0)]);
    expect(d.tracked).toBe(2);
    expect(d.takeCounts()).toEqual({ duplicates: 1, uncheckedLimit: 2, uncheckedNoId: 0, uncheckedLate: 0 });
  });

  it('counts spans without ids as unchecked and keeps them', () => {
    const d = new SpanDedup(settings);
    const batch = [sample(undefined, T0), sample(undefined, T0)];
    expect(d.filter(batch)).toBe(batch);
    expect(d.counts.uncheckedNoId).toBe(2);
    expect(d.tracked).toBe(0);
  });
});

describe('KeyTable', () => {
  it('holds every key across growth, including 0 and keys near 2^52, and nothing else', () => {
    const t = new KeyTable(4);
    const keys = [0, 2 ** 52 - 1, 4294967296, 1];
    for (let i = 1; i <= 5000; i++) keys.push(i * 4294967311 + 7);
    for (const k of keys) expect(t.add(k)).toBe(true);
    for (const k of keys) expect(t.add(k)).toBe(false);
    expect(t.size).toBe(keys.length);
    for (const k of keys) expect(t.has(k)).toBe(true);
    expect(t.has(2)).toBe(false);
    expect(t.has(4294967296 * 3)).toBe(false);
    expect(t.bytes).toBeLessThanOrEqual(keys.length * 8 * 2 * (4 / 3) + 64);
  });
});

describe('span keys', () => {
  const traceId = Array.from({ length: 16 }, (_, i) => i * 7 + 1);
  const spanId = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74];
  const hex = (b: number[]) => b.map((x) => x.toString(16).padStart(2, '0')).join('');
  const pbSpan = (sid: number[]) =>
    fMsg(2, fBytes(1, traceId), fBytes(2, sid), fString(5, 'GET /'), fVarint(6, 2), fFixed64(7, 1n), fFixed64(8, 2n));
  const pb = (sid: number[]) => buf(fMsg(1, fMsg(2, pbSpan(sid))));
  const json = (s: Record<string, unknown>) =>
    JSON.stringify({
      resourceSpans: [
        { scopeSpans: [{ spans: [{ name: 'GET /', kind: 2, startTimeUnixNano: '1', endTimeUnixNano: '2', ...s }] }] },
      ],
    });

  it('are the same from protobuf bytes and JSON hex (either case), below 2^52, distinct per span id', () => {
    const a = decodeTracesProtobuf(pb(spanId), DEFAULT_COHORT_RULES).samples[0]!.spanKey!;
    const lower = decodeTracesJson(json({ traceId: hex(traceId), spanId: hex(spanId) }), DEFAULT_COHORT_RULES);
    const upper = decodeTracesJson(
      json({ traceId: hex(traceId).toUpperCase(), spanId: hex(spanId).toUpperCase() }),
      DEFAULT_COHORT_RULES,
    );
    expect(lower.samples[0]!.spanKey).toBe(a);
    expect(upper.samples[0]!.spanKey).toBe(a);
    expect(Number.isSafeInteger(a) && a >= 0 && a < 2 ** 52).toBe(true);
    const other = decodeTracesProtobuf(pb([...spanId.slice(0, 7), 0x75]), DEFAULT_COHORT_RULES).samples[0]!.spanKey;
    expect(other).not.toBe(a);
  });

  it('are absent for empty, zero or malformed span ids', () => {
    for (const s of [{ spanId: '' }, { spanId: '0000000000000000' }, { spanId: 'xyz' }, {}]) {
      expect(decodeTracesJson(json({ traceId: hex(traceId), ...s }), DEFAULT_COHORT_RULES).samples[0]!.spanKey).toBe(
        undefined,
      );
    }
    expect(decodeTracesProtobuf(pb([0, 0, 0, 0, 0, 0, 0, 0]), DEFAULT_COHORT_RULES).samples[0]!.spanKey).toBe(
      undefined,
    );
    const h = new SpanKeyHasher();
    h.reset();
    expect(h.hex('0123456789abcdeg', 2)).toBe(false);
  });
});
