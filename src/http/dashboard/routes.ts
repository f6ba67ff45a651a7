/**
 * The dashboard's routes (issue 15).
 * Open (no credentials): `GET /login` (the form), `POST /login` (form-encoded or JSON `token`: a session cookie, see
 * session-auth.ts), `POST /logout`, and the static files `/assets/<version>/<file>`.
 * Behind the API's guard (api-app.ts `bearerGuard`, routes marked `page`: without credentials a browser is sent to
 * /login rather than answered 401): `GET /` (the analyses) and `GET /analyses/:id` (one analysis).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { apiTokens, identify, type ApiToken, type Caller } from '../auth.js';
import { analysisPage, listPage, loginPage, type PageContext } from './pages.js';
import { crossSiteRefusal, csrfRefusal, sessionCookie, sessionIdOf, sessionOf } from './session-auth.js';
import type { LoginLimiter, SessionStore } from './sessions.js';
import { registerAssetRoutes } from './static-assets.js';

export interface DashboardDeps {
  /** `server.auth`, as the API's guard reads it. */
  auth: { tokens: Parameters<typeof apiTokens>[0]; open: boolean };
  sessions: SessionStore;
  limiter: LoginLimiter;
  /** The caller the guard identified (api-app.ts `callerOf`). */
  callerOf(req: FastifyRequest): Caller;
}

/** Where to go after logging in: a path of this site, never another site (`//host`, `/\host`). */
export function safeNext(v: unknown): string {
  if (typeof v !== 'string' || v.length > 512 || !v.startsWith('/') || /^\/[/\\]/.test(v)) return '/';
  // eslint-disable-next-line no-control-regex -- control characters are what it refuses
  return /[\u0000-\u001f\u007f]/.test(v) ? '/' : v;
}

const html = (reply: FastifyReply, code: number, body: string) =>
  reply.code(code).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body);

type LoginBody = { token?: unknown; next?: unknown; csrf?: unknown } | undefined;

const isForm = (req: FastifyRequest): boolean =>
  (req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');

/** Form posts are answered with pages and redirects, JSON posts with JSON. */
async function refuse(req: FastifyRequest, reply: FastifyReply, code: number, message: string, next: string) {
  if (isForm(req)) return html(reply, code, loginPage({ next, error: message }));
  const error = code === 429 ? 'too many requests' : code === 403 ? 'forbidden' : 'unauthorized';
  return reply.code(code).send({ error, message });
}

/** The login: the token checked in constant time against every configured one, failures counted per address. */
async function login(deps: DashboardDeps, tokens: ApiToken[], req: FastifyRequest, reply: FastifyReply) {
  const body = req.body as LoginBody;
  const next = safeNext(body?.next ?? (req.query as { next?: unknown }).next);
  if (tokens.length === 0) {
    if (deps.auth.open) return reply.redirect(next, 303);
    return refuse(req, reply, 401, 'This agent has no token configured (server.auth.tokens): nobody can log in.', next);
  }
  const crossSite = crossSiteRefusal(req);
  if (crossSite) return reply.code(403).send({ error: 'forbidden', message: `${crossSite} cannot log in` });
  const wait = deps.limiter.retryAfterS(req.ip);
  if (wait > 0) {
    void reply.header('retry-after', String(wait));
    return refuse(req, reply, 429, `Too many failed logins from this address: try again in ${wait} s.`, next);
  }
  const token = typeof body?.token === 'string' ? body.token.trim() : undefined;
  const caller = identify(token, tokens);
  if (caller === undefined || token === undefined) {
    deps.limiter.failed(req.ip);
    return refuse(req, reply, 401, 'That token was not accepted.', next);
  }
  deps.limiter.succeeded(req.ip);
  if (!caller.scopes.includes('read'))
    return refuse(
      req,
      reply,
      403,
      `The token ${caller.name} cannot read the dashboard: it needs the read scope.`,
      next,
    );
  const { id, session } = deps.sessions.open(caller, token);
  void reply.header('set-cookie', sessionCookie(req, id)).header('cache-control', 'no-store');
  if (isForm(req)) return reply.redirect(next, 303);
  return {
    caller: caller.name,
    scopes: caller.scopes,
    expiresAt: new Date(session.expiresAtMs).toISOString(),
    csrf: session.csrf,
  };
}

/** The logout: the session (if any) ends and the cookie is cleared. A live session's logout needs its CSRF token
 *  (the form sends it as the field `csrf`), so another site cannot log a person out. */
async function logout(deps: DashboardDeps, req: FastifyRequest, reply: FastifyReply) {
  const id = sessionIdOf(req);
  const session = deps.sessions.get(id);
  if (session) {
    const field = (req.body as LoginBody)?.csrf;
    const refused = csrfRefusal(req, session, typeof field === 'string' ? field : undefined);
    if (refused) return reply.code(403).send({ error: 'forbidden', message: refused });
    deps.sessions.close(id);
  }
  void reply.header('set-cookie', sessionCookie(req, undefined)).header('cache-control', 'no-store');
  return isForm(req) ? reply.redirect('/login', 303) : { loggedOut: true };
}

/** The routes that need no credentials: login, logout, the static files. */
export function registerDashboardOpenRoutes(app: FastifyInstance, deps: DashboardDeps): void {
  const tokens = apiTokens(deps.auth.tokens);
  registerAssetRoutes(app);
  app.get('/login', async (req, reply) => {
    const next = safeNext((req.query as { next?: unknown }).next);
    if ((tokens.length === 0 && deps.auth.open) || sessionOf(req, deps.sessions)) return reply.redirect(next, 303);
    return html(reply, 200, loginPage({ next }));
  });
  void app.register(async (scope) => {
    // form posts only here: the API's routes keep taking JSON alone
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 8192 },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    scope.post('/login', { bodyLimit: 8192 }, (req, reply) => login(deps, tokens, req, reply));
    scope.post('/logout', { bodyLimit: 8192 }, (req, reply) => logout(deps, req, reply));
  });
}

/** The pages, registered inside the API's guard (which identified the caller). */
export function registerDashboardPages(api: FastifyInstance, deps: DashboardDeps): void {
  const context = (req: FastifyRequest): PageContext => {
    const csrf = sessionOf(req, deps.sessions)?.csrf;
    return {
      caller: deps.callerOf(req),
      open: apiTokens(deps.auth.tokens).length === 0 && deps.auth.open,
      ...(csrf !== undefined && req.headers.authorization === undefined ? { csrf } : {}),
    };
  };
  api.get('/', { config: { page: true } }, async (req, reply) => html(reply, 200, listPage(context(req))));
  api.get<{ Params: { id: string } }>('/analyses/:id', { config: { page: true } }, async (req, reply) =>
    html(reply, 200, analysisPage(context(req), req.params.id)),
  );
}
