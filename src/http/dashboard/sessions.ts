/**
 * Browser sessions of the dashboard (issue 15). A person logs in once with an API token (`POST /login`); the browser
 * then holds a random session id in an HttpOnly cookie, never the token. The id maps, in THIS replica's memory only,
 * to the caller (the token's name and scopes), a per-session CSRF token and an expiry:
 * - the map is keyed by the SHA-256 of the id, so it holds no cookie value a memory dump could replay;
 * - sessions end at `ttlMs` (absolute, not sliding), at logout, or when the store is full (the oldest gives way);
 * - cluster mode: each replica has its own sessions. A browser stays on the replica it logged in on (sticky
 *   sessions at the load balancer) or logs in again; a restart logs everybody out.
 * Failed logins are counted per client address (`LoginLimiter`): past `max` in a minute, logins from there are
 * refused until the minute has passed, whatever token they carry.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Caller } from '../auth.js';

/** How long a session lasts (absolute): a working day. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** Sessions held per replica; past it the oldest gives way. */
export const MAX_SESSIONS = 10_000;

export interface Session {
  caller: Caller;
  /** The token the session was opened with, kept in this replica's memory only (never sent to the browser): cluster
   *  mode asks the other replicas with it on the caller's behalf, as it does with a bearer token. */
  token: string;
  /** Sent by the page in `x-vigil-csrf` with every state-changing request. */
  csrf: string;
  expiresAtMs: number;
}

export interface SessionStore {
  /** A new session for `caller`; `id` goes into the cookie. */
  open(caller: Caller, token: string): { id: string; session: Session };
  /** The live session of a cookie value, or undefined (unknown, expired: an expired one is dropped). */
  get(id: string | undefined): Session | undefined;
  close(id: string | undefined): void;
  readonly size: number;
}

const key = (id: string): string => createHash('sha256').update(id).digest('base64url');

export function createSessionStore(opts: { ttlMs?: number; max?: number; now?: () => number } = {}): SessionStore {
  const ttl = opts.ttlMs ?? SESSION_TTL_MS;
  const max = opts.max ?? MAX_SESSIONS;
  const now = opts.now ?? Date.now;
  // insertion order is expiry order (the TTL is the same for all): the first entries are the oldest
  const sessions = new Map<string, Session>();

  const sweep = (t: number): void => {
    for (const [k, s] of sessions) {
      if (s.expiresAtMs > t && sessions.size < max) return;
      sessions.delete(k);
    }
  };

  return {
    open(caller, token) {
      const t = now();
      sweep(t);
      const id = randomBytes(32).toString('base64url');
      const session: Session = {
        caller: { name: caller.name, scopes: [...caller.scopes] },
        token,
        csrf: randomBytes(32).toString('base64url'),
        expiresAtMs: t + ttl,
      };
      sessions.set(key(id), session);
      return { id, session };
    },
    get(id) {
      if (!id) return undefined;
      const k = key(id);
      const s = sessions.get(k);
      if (s === undefined) return undefined;
      if (s.expiresAtMs <= now()) {
        sessions.delete(k);
        return undefined;
      }
      return s;
    },
    close(id) {
      if (id) sessions.delete(key(id));
    },
    get size() {
      return sessions.size;
    },
  };
}

/** Whether `presented` is the session's CSRF token (constant time in its content). */
export function csrfMatches(session: Session, presented: string | undefined): boolean {
  if (!presented) return false;
  const want = Buffer.from(session.csrf);
  const given = Buffer.from(presented);
  return want.length === given.length && timingSafeEqual(want, given);
}

/** Failed logins allowed per client address and minute. */
export const MAX_FAILED_LOGINS = 10;
const LIMITER_WINDOW_MS = 60_000;
/** Addresses tracked at most (past it the oldest is forgotten). */
const LIMITER_ADDRESSES = 10_000;

export interface LoginLimiter {
  /** Seconds until `ip` may try again, or 0. */
  retryAfterS(ip: string): number;
  failed(ip: string): void;
  succeeded(ip: string): void;
}

export function createLoginLimiter(opts: { max?: number; windowMs?: number; now?: () => number } = {}): LoginLimiter {
  const max = opts.max ?? MAX_FAILED_LOGINS;
  const windowMs = opts.windowMs ?? LIMITER_WINDOW_MS;
  const now = opts.now ?? Date.now;
  /** Per address: failures in the window that began at `sinceMs`. */
  const failures = new Map<string, { sinceMs: number; count: number }>();
  const current = (ip: string, t: number) => {
    const f = failures.get(ip);
    if (f && t - f.sinceMs < windowMs) return f;
    failures.delete(ip);
    return undefined;
  };
  return {
    retryAfterS(ip) {
      const t = now();
      const f = current(ip, t);
      return f && f.count >= max ? Math.max(1, Math.ceil((f.sinceMs + windowMs - t) / 1000)) : 0;
    },
    failed(ip) {
      const t = now();
      const f = current(ip, t);
      if (f) f.count++;
      else {
        if (failures.size >= LIMITER_ADDRESSES) failures.delete(failures.keys().next().value as string);
        failures.set(ip, { sinceMs: t, count: 1 });
      }
    },
    succeeded(ip) {
      failures.delete(ip);
    },
  };
}
