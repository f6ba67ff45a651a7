import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_COHORT_RULES } from '../../../../src/ingest/cohort.js';
import { DecodePool, decodeInline, packTraces, unpackTraces } from '../../../../src/ingest/admission/decode-pool.js';
import { isVigilError } from '../../../../src/errors.js';
import { encodeJson, encodeProtobuf, fleet, makeResources } from '../../../bench/ingest-payload.js';
import { otlpFixture } from '../../../helpers/otlp/fixtures.js';
import { request as pbRequest, span, strAttr } from '../../../helpers/otlp/pb-writer.js';

const rules = { ...DEFAULT_COHORT_RULES, canaryVersion: '1.1.0' };
const pools: DecodePool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.close();
});

function pool(minBytes: number, workers = 1): DecodePool {
  const p = new DecodePool({ rules, workers, minBytes });
  pools.push(p);
  return p;
}

const generated = makeResources({
  services: fleet(7),
  spans: 300,
  spansPerResource: 20,
  endMs: 1_767_225_600_000,
  seed: 5,
});
const pb = encodeProtobuf(generated);
const json = Buffer.from(encodeJson(generated));
/** Spans the accumulator treats differently: rejected (zero time), non-request (CLIENT), no route, no service. */
const odd = pbRequest(
  [strAttr(1, 'service.version', '1.1.0')],
  [
    span({ kind: 2, start: 0n, end: 5n }),
    span({ kind: 3, start: 5n, end: 9n }),
    span({ kind: 2, start: 5n, end: 9n, name: 'GET /x' }),
  ],
);

describe('packTraces / unpackTraces', () => {
  it('round-trips decoded traces exactly (samples, counters, rejection message, absent routes)', () => {
    for (const [body, encoding] of [
      [pb, 'protobuf'],
      [json, 'json'],
      [odd, 'protobuf'],
      [otlpFixture('sdk-trace-20.pb'), 'protobuf'],
    ] as const) {
      const decoded = decodeInline(body, encoding, rules);
      expect(unpackTraces(packTraces(decoded))).toStrictEqual(decoded);
    }
    expect(decodeInline(odd, 'protobuf', rules).rejectionMessage).toBeDefined();
  });
});

describe('DecodePool', () => {
  it('decodes small bodies inline, synchronously', () => {
    const p = pool(1 << 30);
    const r = p.decode(pb, 'protobuf');
    expect(r).not.toBeInstanceOf(Promise);
    expect(r).toStrictEqual(decodeInline(pb, 'protobuf', rules));
    expect(p.counts).toEqual({ inline: 1, offloaded: 0 });
  });

  it('decodes large bodies in a worker into exactly what the inline decoder gives, protobuf and JSON', async () => {
    const p = pool(1);
    const expectedPb = decodeInline(pb, 'protobuf', rules);
    const expectedJson = decodeInline(json, 'json', rules);
    const [a, b, c] = await Promise.all([
      p.decode(Buffer.from(pb), 'protobuf'),
      p.decode(Buffer.from(json), 'json'),
      p.decode(Buffer.from(odd), 'protobuf'),
    ]);
    expect(a).toStrictEqual(expectedPb);
    expect(b).toStrictEqual(expectedJson);
    expect(c).toStrictEqual(decodeInline(odd, 'protobuf', rules));
    expect(p.counts).toEqual({ inline: 0, offloaded: 3 });
  });

  it('copies a Buffer that does not own its memory and leaves it intact', async () => {
    const p = pool(1);
    const big = Buffer.concat([Buffer.from([1, 2, 3]), pb]);
    const view = big.subarray(3);
    expect(await p.decode(view, 'protobuf')).toStrictEqual(decodeInline(pb, 'protobuf', rules));
    expect(view.equals(pb)).toBe(true);
  });

  it('rejects undecodable bodies with the same VigilError code and message as inline decoding', async () => {
    const p = pool(1);
    const bad = Buffer.from([0x0a, 0xff, 0xff, 0x01]);
    let inline: unknown;
    try {
      decodeInline(bad, 'protobuf', rules);
    } catch (e) {
      inline = e;
    }
    const err = await Promise.resolve(p.decode(Buffer.from(bad), 'protobuf')).catch((e: unknown) => e);
    expect(isVigilError(err) && isVigilError(inline)).toBe(true);
    if (isVigilError(err) && isVigilError(inline)) {
      expect(err.code).toBe('VIGIL_ERR_INGEST_DECODE');
      expect(err.message).toBe(inline.message);
      expect(err.details).toEqual(inline.details);
    }
    const badJson = await Promise.resolve(p.decode(Buffer.from('{"resourceSpans": 5}'), 'json')).catch(
      (e: unknown) => e,
    );
    expect(isVigilError(badJson) && badJson.message).toMatch(/resourceSpans must be an array/);
  });

  it('gives the final cohort in the worker too: rollouts[].canaryVersion reaches it with the rules', async () => {
    const withRollouts = { ...DEFAULT_COHORT_RULES, canaryVersionByService: new Map([['pay', '3.1']]) };
    const p = new DecodePool({ rules: withRollouts, workers: 1, minBytes: 1 });
    pools.push(p);
    const resource = (attrs: Record<string, string>, spanCohort?: string) => ({
      resource: { attributes: Object.entries(attrs).map(([key, v]) => ({ key, value: { stringValue: v } })) },
      scopeSpans: [
        {
          spans: [
            {
              traceId: '01'.repeat(16),
              spanId: '02'.repeat(8),
              name: 'GET /pay',
              kind: 2,
              startTimeUnixNano: '1767225600000000000',
              endTimeUnixNano: '1767225600005000000',
              attributes: spanCohort === undefined ? [] : [{ key: 'vigil.cohort', value: { stringValue: spanCohort } }],
            },
          ],
        },
      ],
    });
    const body = Buffer.from(
      JSON.stringify({
        resourceSpans: [
          resource({ 'service.name': 'pay', 'service.version': '3.1' }),
          resource({ 'service.name': 'pay', 'service.version': '3.0' }),
          resource({ 'service.name': 'pay', 'service.version': '3.1', 'vigil.cohort': 'baseline' }),
          resource({ 'service.name': 'pay', 'service.version': '3.1' }, 'control'),
          resource({ 'service.name': 'cart', 'service.version': '3.1' }),
        ],
      }),
    );
    const inline = decodeInline(body, 'json', withRollouts);
    expect(inline.samples.map((x) => x.cohort)).toEqual(['canary', 'baseline', 'baseline', 'baseline', 'unknown']);
    expect(await p.decode(Buffer.from(body), 'json')).toStrictEqual(inline);
    expect(p.counts.offloaded).toBe(1);
  });

  it('spreads concurrent jobs over its workers and decodes inline once closed', async () => {
    const p = pool(1, 2);
    const results = await Promise.all(
      Array.from({ length: 6 }, () => Promise.resolve(p.decode(Buffer.from(pb), 'protobuf'))),
    );
    for (const r of results) expect(r.samples).toHaveLength(300);
    await p.close();
    const after = p.decode(pb, 'protobuf');
    expect(after).not.toBeInstanceOf(Promise);
  });
});
