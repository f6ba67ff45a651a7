import { describe, expect, it } from 'vitest';
import { safeNext } from '../../../src/http/dashboard/routes.js';
import { parseCookies } from '../../../src/http/dashboard/session-auth.js';
import {
  createLoginLimiter,
  createSessionStore,
  csrfMatches,
  SESSION_TTL_MS,
} from '../../../src/http/dashboard/sessions.js';

const alice = { name: 'alice', scopes: ['read', 'operate'] as const };

describe('dashboard sessions', () => {
  it('a session is found by its id until it expires (12 h, absolute) or is closed', () => {
    let now = 1_000;
    const store = createSessionStore({ now: () => now });
    const { id, session } = store.open(alice, 't0ken');
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes
    expect(id).not.toContain('t0ken');
    expect(store.get(id)).toBe(session);
    expect(session.caller).toEqual({ name: 'alice', scopes: ['read', 'operate'] });
    expect(session.expiresAtMs).toBe(1_000 + SESSION_TTL_MS);
    expect(store.get(undefined)).toBeUndefined();
    expect(store.get(`${id}x`)).toBeUndefined();
    now += SESSION_TTL_MS - 1;
    expect(store.get(id)).toBe(session);
    now += 1;
    expect(store.get(id)).toBeUndefined();
    expect(store.size).toBe(0); // dropped when found expired

    const other = store.open(alice, 't0ken');
    store.close(other.id);
    expect(store.get(other.id)).toBeUndefined();
  });

  it('each session has its own id and CSRF token; the store keeps at most `max`, the oldest gives way', () => {
    const store = createSessionStore({ max: 3 });
    const opened = [1, 2, 3, 4].map(() => store.open(alice, 't0ken'));
    expect(new Set(opened.map((o) => o.id)).size).toBe(4);
    expect(new Set(opened.map((o) => o.session.csrf)).size).toBe(4);
    expect(store.size).toBe(3);
    expect(store.get(opened[0]!.id)).toBeUndefined();
    for (const o of opened.slice(1)) expect(store.get(o.id)).toBe(o.session);
  });

  it('csrfMatches compares the whole token', () => {
    const { session } = createSessionStore().open(alice, 't0ken');
    expect(csrfMatches(session, session.csrf)).toBe(true);
    expect(csrfMatches(session, undefined)).toBe(false);
    expect(csrfMatches(session, '')).toBe(false);
    expect(csrfMatches(session, session.csrf.slice(0, -1))).toBe(false);
    expect(csrfMatches(session, `${session.csrf.slice(0, -1)}${session.csrf.endsWith('A') ? 'B' : 'A'}`)).toBe(false);
  });
});

describe('failed logins per address', () => {
  it('after `max` failures in a minute the address waits the rest of the minute; a success clears it', () => {
    let now = 0;
    const limiter = createLoginLimiter({ max: 3, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 3; i++) {
      expect(limiter.retryAfterS('10.0.0.1')).toBe(0);
      limiter.failed('10.0.0.1');
    }
    expect(limiter.retryAfterS('10.0.0.1')).toBe(60);
    expect(limiter.retryAfterS('10.0.0.2')).toBe(0);
    now = 45_500;
    expect(limiter.retryAfterS('10.0.0.1')).toBe(15);
    now = 60_000;
    expect(limiter.retryAfterS('10.0.0.1')).toBe(0);
    limiter.failed('10.0.0.2');
    limiter.succeeded('10.0.0.2');
    limiter.failed('10.0.0.2');
    limiter.failed('10.0.0.2');
    expect(limiter.retryAfterS('10.0.0.2')).toBe(0);
  });
});

describe('cookies and redirects', () => {
  it('parseCookies reads name=value pairs, first wins, quotes removed', () => {
    const c = parseCookies('a=1; vigil_session="abc"; b = 2 ;a=3; junk');
    expect([...c]).toEqual([
      ['a', '1'],
      ['vigil_session', 'abc'],
      ['b', '2'],
    ]);
    expect(parseCookies(undefined).size).toBe(0);
  });

  it('safeNext keeps paths of this site and nothing else', () => {
    expect(safeNext('/analyses/a%3A1')).toBe('/analyses/a%3A1');
    expect(safeNext('/')).toBe('/');
    for (const bad of ['//evil.example/', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)', '', 42])
      expect(safeNext(bad)).toBe('/');
    expect(safeNext('/a\nb')).toBe('/');
    expect(safeNext(`/${'a'.repeat(600)}`)).toBe('/');
  });
});
