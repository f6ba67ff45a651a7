import { describe, expect, it } from 'vitest';
import type { Where } from '../../../src/contracts/detector.js';
import type { Scalar } from '../../../src/contracts/telemetry.js';
import {
  acceptsValue,
  compileWhere,
  matchesCompiled,
  matchesWhere,
  scalarText,
  spanThenResource,
} from '../../../src/ingest/where.js';

const attrs =
  (o: Record<string, Scalar>) =>
  (key: string): Scalar =>
    o[key];

/** matchesWhere and its compiled form must agree: both are checked on every case. */
function matches(where: Where, span: Record<string, Scalar>, resource: Record<string, Scalar> = {}): boolean {
  const viaGetter = matchesWhere(where, spanThenResource(attrs(span), attrs(resource)));
  const slots = new Map<string, number>();
  const compiled = compileWhere(where, (k) => {
    if (!slots.has(k)) slots.set(k, slots.size);
    return slots.get(k)!;
  });
  const own: Scalar[] = [];
  const res: Scalar[] = [];
  for (const [k, slot] of slots) {
    own[slot] = span[k];
    res[slot] = resource[k];
  }
  expect(matchesCompiled(compiled, own, res)).toBe(viaGetter);
  return viaGetter;
}

describe('where', () => {
  it('compares string forms: booleans, ints and doubles match their string and their own type', () => {
    expect(matches({ 'cache.hit': false }, { 'cache.hit': false })).toBe(true);
    expect(matches({ 'cache.hit': false }, { 'cache.hit': 'false' })).toBe(true);
    expect(matches({ 'cache.hit': 'false' }, { 'cache.hit': false })).toBe(true);
    expect(matches({ 'cache.hit': false }, { 'cache.hit': true })).toBe(false);
    expect(matches({ 'cache.hit': false }, { 'cache.hit': 0 })).toBe(false);
    expect(matches({ 'http.response.status_code': 200 }, { 'http.response.status_code': 200 })).toBe(true);
    expect(matches({ 'http.response.status_code': 200 }, { 'http.response.status_code': '200' })).toBe(true);
    expect(matches({ 'http.response.status_code': '200' }, { 'http.response.status_code': 200 })).toBe(true);
    expect(matches({ 'http.response.status_code': 200 }, { 'http.response.status_code': 201 })).toBe(false);
    expect(matches({ ratio: 0.5 }, { ratio: 0.5 })).toBe(true);
    expect(matches({ ratio: '0.5' }, { ratio: 0.5 })).toBe(true);
    expect(matches({ ratio: 2 }, { ratio: 2.0 })).toBe(true);
    expect(matches({ ratio: '2.0' }, { ratio: 2 })).toBe(false); // String(2) is "2"
    expect(matches({ route: '/checkout' }, { route: '/checkout/' })).toBe(false);
    expect(matches({ route: '' }, { route: '' })).toBe(true);
  });

  it('needs every key; a list accepts any of its members; an empty where matches all', () => {
    const w: Where = { 'http.route': ['/checkout', '/cart'], 'http.request.method': 'POST' };
    expect(matches(w, { 'http.route': '/cart', 'http.request.method': 'POST' })).toBe(true);
    expect(matches(w, { 'http.route': '/checkout', 'http.request.method': 'POST' })).toBe(true);
    expect(matches(w, { 'http.route': '/home', 'http.request.method': 'POST' })).toBe(false);
    expect(matches(w, { 'http.route': '/cart' })).toBe(false);
    expect(matches({ code: [500, 503, 'x'] }, { code: 503 })).toBe(true);
    expect(matches({ code: [] }, { code: 503 })).toBe(false);
    expect(matches({}, {})).toBe(true);
  });

  it('reads the span attribute first, else the resource attribute', () => {
    expect(matches({ 'deployment.environment': 'prod' }, {}, { 'deployment.environment': 'prod' })).toBe(true);
    expect(matches({ region: 'eu' }, { region: 'us' }, { region: 'eu' })).toBe(false);
    expect(matches({ region: 'us', tier: 'gold' }, { region: 'us' }, { tier: 'gold' })).toBe(true);
    expect(matches({ region: 'eu' }, {}, {})).toBe(false);
  });

  it('scalarText and acceptsValue: absent never matches', () => {
    expect(scalarText(undefined)).toBeUndefined();
    expect(scalarText(true)).toBe('true');
    expect(scalarText(-0)).toBe('0');
    expect(scalarText(1e21)).toBe('1e+21');
    expect(acceptsValue(['undefined'], undefined)).toBe(false);
  });
});
