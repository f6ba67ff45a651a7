/**
 * The session cookie on the wire, and what a request authenticated by it must also carry (issue 15).
 *
 * The cookie `vigil_session` is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it),
 * Path=/, Secure when the request came over https (the socket, or `X-Forwarded-Proto: https` from a TLS-terminating
 * proxy), and lasts SESSION_TTL_MS. It holds a random session id, never the token.
 *
 * A cookie is an ambient credential: the browser attaches it by itself. So a request it authenticates that changes
 * state (any method but GET, HEAD, OPTIONS) must prove it comes from the dashboard's own page:
 * - the page's per-session CSRF token in `x-vigil-csrf` (compared in constant time), which another origin cannot
 *   read, and which a plain HTML form cannot send as a header;
 * - no `Sec-Fetch-Site: cross-site` / `same-site` and, from browsers that send no Sec-Fetch-Site, no `Origin` of
 *   another host (nor `null`).
 * A bearer token is not ambient (a script of another origin cannot attach it), so bearer requests need neither.
 */
import type { FastifyRequest } from 'fastify';
import { csrfMatches, SESSION_TTL_MS, type Session, type SessionStore } from './sessions.js';

export const SESSION_COOKIE = 'vigil_session';
export const CSRF_HEADER = 'x-vigil-csrf';

/** The cookies of a `Cookie` header (the first of a repeated name wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!name || out.has(name)) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    out.set(name, value);
  }
  return out;
}

/** The first value of a header that proxies may repeat or join with commas. */
function firstOf(h: string | string[] | undefined): string | undefined {
  const v = Array.isArray(h) ? h[0] : h;
  return v?.split(',')[0]?.trim().toLowerCase() || undefined;
}

/** Whether the browser reached us over https: a TLS socket, or a TLS-terminating proxy that says so. */
export function overHttps(req: FastifyRequest): boolean {
  const forwarded = firstOf(req.headers['x-forwarded-proto']);
  if (forwarded !== undefined) return forwarded === 'https';
  return (req.raw.socket as { encrypted?: boolean }).encrypted === true;
}

/** The Set-Cookie value that opens a session (`id`) or, without one, clears it. */
export function sessionCookie(req: FastifyRequest, id: string | undefined): string {
  const attributes = ['Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${id ? SESSION_TTL_MS / 1000 : 0}`];
  if (overHttps(req)) attributes.push('Secure');
  return [`${SESSION_COOKIE}=${id ?? ''}`, ...attributes].join('; ');
}

/** The session id the request's cookie carries, if any. */
export const sessionIdOf = (req: FastifyRequest): string | undefined =>
  parseCookies(req.headers.cookie).get(SESSION_COOKIE) || undefined;

/** The live session of the request's cookie, if any. */
export const sessionOf = (req: FastifyRequest, sessions: SessionStore): Session | undefined =>
  sessions.get(sessionIdOf(req));

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Why the request, if it is not a read, does not come from this dashboard's own pages (another site, another
 * origin); undefined when nothing says so. Used for every cookie-authenticated request and for the login form.
 * `Sec-Fetch-Site` (set by the browser, never by a script) is believed when present: `same-origin` passes (the
 * `Origin` of a form post is then `null`, because of `Referrer-Policy: no-referrer`), anything else but `none` (typed
 * by the person) is refused. Without it (older browsers, other clients) an `Origin` must name this host.
 */
export function crossSiteRefusal(req: FastifyRequest): string | undefined {
  if (SAFE_METHODS.has(req.method)) return undefined;
  const site = firstOf(req.headers['sec-fetch-site']);
  if (site !== undefined) return site === 'same-origin' || site === 'none' ? undefined : `a ${site} request`;
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  const host = firstOf(req.headers['x-forwarded-host']) ?? req.headers.host?.toLowerCase();
  let from: string;
  try {
    from = new URL(origin).host.toLowerCase();
  } catch {
    return 'a request of an opaque origin';
  }
  return from === host ? undefined : 'a request of another origin';
}

/** Why a request the session's cookie authenticates is refused (403), or undefined. */
export function csrfRefusal(req: FastifyRequest, session: Session, presented?: string): string | undefined {
  if (SAFE_METHODS.has(req.method)) return undefined;
  const crossSite = crossSiteRefusal(req);
  if (crossSite) return `${crossSite} with the session cookie is refused`;
  const header = req.headers[CSRF_HEADER];
  const token = presented ?? (typeof header === 'string' ? header : undefined);
  if (!csrfMatches(session, token))
    return `a request authenticated by the session cookie must carry the page's CSRF token in ${CSRF_HEADER} (or send Authorization: Bearer)`;
  return undefined;
}
