/**
 * Who calls the control API, and what they may do (issue 15). `server.auth.tokens` lists plain tokens (both scopes,
 * named `token-<n>` by their place in the list) and scoped ones, `{ name, token, scopes }`:
 * - `read`: analyses, decisions, the dashboard, the judge endpoints;
 * - `operate`: the actions (resume, and the manual actions to come), each recorded with the token's name.
 * A presented token is compared with EVERY configured one in constant time (timingSafeEqual on equal lengths, and
 * the loop never stops early), so the answer's timing says nothing about which token, or which prefix, matched.
 * With `server.auth.open: true` every caller is `open` with both scopes.
 */
import { timingSafeEqual } from 'node:crypto';
import type { VigilConfig } from '../config/schema.js';

export type Scope = 'read' | 'operate';

export interface ApiToken {
  name: string;
  token: string;
  scopes: readonly Scope[];
}

/** Who a request is: the token's name and its scopes. */
export interface Caller {
  name: string;
  scopes: readonly Scope[];
}

export const ALL_SCOPES: readonly Scope[] = ['read', 'operate'];

/** The configured tokens as named, scoped ones (a plain string: `token-<n>`, both scopes). */
export function apiTokens(tokens: VigilConfig['server']['auth']['tokens']): ApiToken[] {
  return tokens.map((t, i) => (typeof t === 'string' ? { name: `token-${i + 1}`, token: t, scopes: ALL_SCOPES } : t));
}

/** The caller a presented token identifies, or undefined. Constant time in the token's content. */
export function identify(presented: string | undefined, tokens: readonly ApiToken[]): Caller | undefined {
  if (!presented) return undefined;
  const given = Buffer.from(presented);
  let found: ApiToken | undefined;
  for (const t of tokens) {
    const want = Buffer.from(t.token);
    if (want.length === given.length && timingSafeEqual(want, given) && found === undefined) found = t;
  }
  return found && { name: found.name, scopes: found.scopes };
}

/** The bearer token of an Authorization header, or undefined. */
export function bearerOf(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  return m?.[1];
}
