import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  readFlag,
  readSplit,
  setDefaultVariant,
  setFlagMember,
  splitTargeting,
} from '../../../../connectors/flags/flagd-document.js';
import { VigilError } from '../../../../src/errors.js';

const FIXTURE = readFileSync(new URL('../../../../fixtures/flags/flagd-flags.json', import.meta.url), 'utf8');

function failure(fn: () => unknown): VigilError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VigilError);
    return err as VigilError;
  }
  throw new Error('expected a failure');
}

/** The region where two texts differ: [start, endA) in a, [start, endB) in b. */
function diffRegion(a: string, b: string): { start: number; a: string; b: string } {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let ea = a.length;
  let eb = b.length;
  while (ea > start && eb > start && a[ea - 1] === b[eb - 1]) {
    ea--;
    eb--;
  }
  return { start, a: a.slice(start, ea), b: b.slice(start, eb) };
}

describe('readFlag', () => {
  it('reports the current default, the variants, the state and whether targeting exists', () => {
    expect(readFlag(FIXTURE, 'f.json', 'checkout-v2')).toEqual({
      defaultVariant: 'canary',
      variants: ['canary', 'baseline'],
      state: 'ENABLED',
      hasTargeting: false,
      targeting: undefined,
    });
    expect(readFlag(FIXTURE, 'f.json', 'search-ranking')).toEqual({
      defaultVariant: '10',
      variants: ['2', '10'],
      state: 'ENABLED',
      hasTargeting: true,
      targeting: { if: [{ ends_with: [{ var: 'email' }, '@beta.example.com'] }, '10', null] },
    });
    expect(readFlag(FIXTURE, 'f.json', 'pricing-experiment').defaultVariant).toBeUndefined();
    expect(readFlag(FIXTURE, 'f.json', 'new-banner').state).toBe('DISABLED');
  });

  it('names what is wrong with the file, permanently', () => {
    const notJson = failure(() => readFlag('{"flags": ', 'f.json', 'x'));
    expect(notJson.message).toMatch(/^connector failed: flagd: f\.json is not valid JSON: /);
    expect(notJson.retryable).toBe(false);
    expect(failure(() => readFlag('{"flag": {}}', 'f.json', 'x')).message).toContain('has no "flags" object');
    expect(failure(() => readFlag(FIXTURE, 'f.json', 'checkout')).message).toContain(
      'defines no flag "checkout" (it defines: checkout-v2, search-ranking, new-banner, pricing-experiment): fix options.flag',
    );
    expect(failure(() => readFlag('{"flags": {"a": {"state": "ENABLED"}}}', 'f.json', 'a')).message).toContain(
      'flag "a" has no "variants" object',
    );
    expect(
      failure(() => readFlag('{"flags": {"a": {"variants": {}, "defaultVariant": 3}}}', 'f.json', 'a')).message,
    ).toContain('non-string defaultVariant');
    expect(failure(() => readFlag('{"flags": {"toString": 1}}', 'f.json', 'constructor')).message).toContain(
      'defines no flag "constructor"',
    );
  });
});

describe('setDefaultVariant', () => {
  it('changes exactly the one value: formatting, key order and look-alike text elsewhere stay byte for byte', () => {
    const next = setDefaultVariant(FIXTURE, 'f.json', 'checkout-v2', 'baseline');
    const d = diffRegion(FIXTURE, next);
    expect(d).toEqual({ start: FIXTURE.indexOf('"canary",\n      "metadata"') + 1, a: 'canary', b: 'baseline' });
    // the look-alike inside a metadata string is untouched
    expect(next).toContain('"note": "the \\"defaultVariant\\": \\"canary\\" {is} set by CD"');
  });

  it('keeps integer-like keys where they were (a re-serialisation would move "2" before "10") and tabs', () => {
    const next = setDefaultVariant(FIXTURE, 'f.json', 'search-ranking', '2');
    expect(diffRegion(FIXTURE, next)).toMatchObject({ a: '10', b: '2' });
    expect(next).toContain('\t\t"variants": { "10": "neural", "2": "bm25" },\n\t\t"defaultVariant": "2",');
    expect(JSON.stringify(JSON.parse(next))).not.toContain('"10":"neural","2"');
  });

  it('inserts defaultVariant as the first key, with the indentation of the next one, when the flag has none', () => {
    const next = setDefaultVariant(FIXTURE, 'f.json', 'pricing-experiment', 'control');
    expect(diffRegion(FIXTURE, next).b).toBe('defaultVariant": "control",\n      "');
    expect(next).toContain('"pricing-experiment": {\n      "defaultVariant": "control",\n      "state": "ENABLED",');
    const compact = setDefaultVariant('{"flags":{"a":{"variants":{"x":1}}}}', 'f.json', 'a', 'x');
    expect(compact).toBe('{"flags":{"a":{"defaultVariant": "x","variants":{"x":1}}}}');
  });

  it('replaces a null default, and the last of duplicate keys (the one JSON.parse reads)', () => {
    expect(setDefaultVariant('{"flags": {"a": {"variants": {"x": 1}, "defaultVariant": null}}}', 'f', 'a', 'x')).toBe(
      '{"flags": {"a": {"variants": {"x": 1}, "defaultVariant": "x"}}}',
    );
    expect(
      setDefaultVariant(
        '{"flags": {"a": {"defaultVariant": "y", "variants": {"x": 1, "y": 2}, "defaultVariant": "y"}}}',
        'f',
        'a',
        'x',
      ),
    ).toBe('{"flags": {"a": {"defaultVariant": "y", "variants": {"x": 1, "y": 2}, "defaultVariant": "x"}}}');
  });

  it('writes the variant as a JSON string literal, escapes included', () => {
    const text = '{"flags": {"a": {"variants": {"say \\"hi\\"\\n": 1}, "defaultVariant": "z"}}}';
    const next = setDefaultVariant(text, 'f', 'a', 'say "hi"\n');
    expect((JSON.parse(next) as { flags: { a: { defaultVariant: string } } }).flags.a.defaultVariant).toBe(
      'say "hi"\n',
    );
  });

  it('property: any flag document, any formatting: the result parses to the expected document and differs in one region', () => {
    const key = fc.string({ minLength: 1, maxLength: 8 });
    const flagArb = fc.record(
      {
        state: fc.constantFrom('ENABLED', 'DISABLED'),
        variants: fc.dictionary(key, fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 4 }),
        targeting: fc.option(fc.jsonValue({ maxDepth: 3 }), { nil: undefined }),
        metadata: fc.option(fc.dictionary(key, fc.string()), { nil: undefined }),
      },
      { requiredKeys: ['state', 'variants'] },
    );
    const docArb = fc.record(
      {
        flags: fc.dictionary(key, flagArb, { minKeys: 1, maxKeys: 4 }),
        $evaluators: fc.option(fc.dictionary(key, fc.jsonValue({ maxDepth: 2 })), { nil: undefined }),
      },
      { requiredKeys: ['flags'] },
    );
    fc.assert(
      fc.property(
        docArb,
        fc.constantFrom(0, 2, '\t'),
        fc.boolean(),
        fc.nat(),
        fc.nat(),
        (doc, indent, withDefault, fi, vi) => {
          const flagKeys = Object.keys(doc.flags);
          const flag = flagKeys[fi % flagKeys.length]!;
          const f = doc.flags[flag] as Record<string, unknown>;
          const variants = Object.keys(f.variants as object);
          if (withDefault) f.defaultVariant = variants[0];
          const variant = variants[vi % variants.length]!;
          const text = JSON.stringify(doc, null, indent);
          const next = setDefaultVariant(text, 'f', flag, variant);
          const expected = JSON.parse(text) as { flags: Record<string, Record<string, unknown>> };
          expected.flags[flag]!.defaultVariant = variant;
          expect(JSON.parse(next)).toStrictEqual(expected);
          // one contiguous region changed: inside the old default's literal, or the inserted member
          const d = diffRegion(text, next);
          if (withDefault) {
            expect(JSON.stringify(variants[0])).toContain(d.a);
            expect(JSON.stringify(variant)).toContain(d.b);
          } else {
            expect(d.a).toBe('');
            expect(d.b).toContain(`defaultVariant": ${JSON.stringify(variant)},`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('canary splits', () => {
  it('reads a two-bucket fractional split of exactly the canary and the baseline, with or without a bucketing key', () => {
    expect(
      readSplit(
        {
          fractional: [
            ['c', 30],
            ['b', 70],
          ],
        },
        'c',
        'b',
      ),
    ).toEqual({ canary: 30, baseline: 70 });
    expect(readSplit({ fractional: [{ var: 'userId' }, ['b', 9], ['c', 1]] }, 'c', 'b')).toEqual({
      bucketBy: { var: 'userId' },
      canary: 1,
      baseline: 9,
    });
    for (const other of [
      undefined,
      {
        fractional: [
          ['c', 30],
          ['x', 70],
        ],
      },
      {
        fractional: [
          ['c', 30],
          ['b', 60],
          ['x', 10],
        ],
      },
      {
        fractional: [
          ['c', 2.5],
          ['b', 97.5],
        ],
      },
      { if: [true, 'c', 'b'] },
    ])
      expect(readSplit(other, 'c', 'b')).toBeUndefined();
    expect(splitTargeting({ bucketBy: 'k', canary: 5, baseline: 95 }, 'c', 'b')).toEqual({
      fractional: ['k', ['c', 5], ['b', 95]],
    });
  });

  it('setFlagMember inserts or replaces one member and keeps every other byte', () => {
    const next = setFlagMember(FIXTURE, 'f.json', 'checkout-v2', 'targeting', { fractional: [['canary', 1]] });
    expect(next.replace('"targeting": {"fractional":[["canary",1]]},\n      ', '')).toBe(FIXTURE);
    const again = setFlagMember(next, 'f.json', 'checkout-v2', 'targeting', { fractional: [['canary', 2]] });
    expect(again).toBe(next.replace('[["canary",1]]', '[["canary",2]]'));
  });
});
