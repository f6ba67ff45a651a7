import { describe, expect, it } from 'vitest';
import { apiTokens, bearerOf, identify } from '../../../src/http/auth.js';

describe('API tokens and scopes', () => {
  it('a plain token carries both scopes under a name from its place; a scoped one keeps its own', () => {
    expect(apiTokens(['abc', { name: 'grafana', token: 'def', scopes: ['read'] }])).toEqual([
      { name: 'token-1', token: 'abc', scopes: ['read', 'operate'] },
      { name: 'grafana', token: 'def', scopes: ['read'] },
    ]);
  });

  it('identifies the caller by the whole token, never by a prefix or another length', () => {
    const tokens = apiTokens([{ name: 'a', token: 'secret-1', scopes: ['read'] }, 'secret-22']);
    expect(identify('secret-1', tokens)).toEqual({ name: 'a', scopes: ['read'] });
    expect(identify('secret-22', tokens)).toEqual({ name: 'token-2', scopes: ['read', 'operate'] });
    expect(identify('secret-', tokens)).toBeUndefined();
    expect(identify('secret-10', tokens)).toBeUndefined();
    expect(identify('', tokens)).toBeUndefined();
    expect(identify(undefined, tokens)).toBeUndefined();
  });

  it('reads a bearer token from the Authorization header only', () => {
    expect(bearerOf('Bearer x1')).toBe('x1');
    expect(bearerOf('bearer   x1')).toBe('x1');
    expect(bearerOf('Basic eDE=')).toBeUndefined();
    expect(bearerOf(undefined)).toBeUndefined();
  });
});
