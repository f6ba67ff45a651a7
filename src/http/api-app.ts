/**
 * The control API (port 8080): health, readiness, Prometheus metrics, analyses and decisions as JSON, the
 * operators' actions (pause, resume, rollback, promote: operator-routes.ts), the rollout controllers' judge
 * (judge-routes.ts), and the dashboard (src/http/dashboard/). `/api/*` and the dashboard need one of
 * `server.auth.tokens`, as a bearer token or through a browser session opened with it at `/login` (a cookie, with a
 * CSRF token for writes); only `server.auth.open: true` (said out loud in the config, warned at start) opens them,
 * and without tokens and without `open` they answer 401 to everyone (`vigil serve` refuses such a config before it
 * gets here). Health, readiness and metrics stay open for probes and scrapers. Every answer carries
 * SECURITY_HEADERS.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AnalysisSnapshot } from '../analysis/analysis-registry.js';
import type { Decision } from '../contracts/index.js';
import { serverLogger } from '../logger.js';
import { ALL_SCOPES, apiTokens, bearerOf, identify, type Caller } from './auth.js';
import { queueStatsCollector } from './metrics.js';
import { registerJudgeRoutes } from './judge-routes.js';
import { knownDecision, registerReportRoutes } from './report-routes.js';
import { registerOperatorRoutes } from './operator-routes.js';
import { registerDrillRoutes } from './drill-routes.js';
import { registerDashboardOpenRoutes, registerDashboardPages, type DashboardDeps } from './dashboard/routes.js';
import { csrfRefusal, sessionOf } from './dashboard/session-auth.js';
import { createLoginLimiter, createSessionStore, type SessionStore } from './dashboard/sessions.js';
import type { ApiDeps, RouteAuth } from './api-types.js';

export type { ApiDeps, RouteAuth } from './api-types.js';

/**
 * Headers of every answer (API, dashboard, probes, errors, 404s). The dashboard (src/http/dashboard/) is HTML whose
 * script, stylesheet and icon are same-origin files (`/assets/<version>/...`): scripts only from 'self' (no inline
 * script, no eval), fetches only to 'self', forms only to 'self' (the login and logout forms), never framed. Styles
 * also allow 'unsafe-inline' for the server-rendered HTML answers that carry an inline <style> (a style cannot run
 * code). JSON answers are never framed, sniffed as HTML, or sent on as a Referer.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};

/** Where `rewriteUrl` moves a `?token=` query parameter, so the token never stays in a URL (logs, errors). */
const QUERY_TOKEN_HEADER = 'x-vigil-query-token';

/** Moves the query parameter `token` into QUERY_TOKEN_HEADER and out of the URL (only routes with
 *  `queryToken` accept it from there: see bearerGuard). */
function withoutQueryToken(req: { url?: string; headers: Record<string, string | string[] | undefined> }): string {
  const url = req.url ?? '/';
  if (!url.includes('token=')) return url;
  const u = new URL(url, 'http://vigil.invalid');
  const token = u.searchParams.get('token');
  if (token === null) return url;
  u.searchParams.delete('token');
  req.headers[QUERY_TOKEN_HEADER] = token;
  return `${u.pathname}${u.search}`;
}

export function buildApiApp(deps: ApiDeps): FastifyInstance {
  const log: FastifyBaseLogger = serverLogger(deps.logger, 'api');
  const app = Fastify({ loggerInstance: log, rewriteUrl: withoutQueryToken });
  app.addHook('onRequest', async (_req, reply) => {
    void reply.headers(SECURITY_HEADERS);
  });
  registerProbeRoutes(app, deps);
  const dashboard: DashboardDeps = {
    auth: deps.auth,
    sessions: createSessionStore(),
    limiter: createLoginLimiter(),
    callerOf,
  };
  registerDashboardOpenRoutes(app, dashboard);
  void app.register(async (api) => {
    api.addHook('onRequest', bearerGuard(deps, dashboard.sessions));
    registerAnalysisRoutes(api, deps);
    registerDecisionRoutes(api, deps);
    registerReportRoutes(api, {
      ...deps,
      ...(deps.cluster ? { others: (req, path) => fromOthers(deps, req, path) } : {}),
    });
    registerOperatorRoutes(api, {
      operate: (id, action, who) => deps.operate(id, action, who),
      ...(deps.approve ? { approve: (id, who) => deps.approve!(id, who) } : {}),
      callerName: (req) => callerOf(req).name,
      ...(deps.cluster
        ? {
            forward: async (req, path, body) =>
              (await fromOthers(deps, req, path, { method: 'POST', body })).answers.find((x) => x.status !== 404),
          }
        : {}),
    });
    registerDrillRoutes(api, {
      callerName: (req) => callerOf(req).name,
      ...(deps.drills ? { drills: deps.drills } : {}),
    });
    registerJudgeRoutes(api, {
      ...deps,
      ...(deps.cluster ? { others: async (req, path) => (await fromOthers(deps, req, path)).answers } : {}),
    });
    registerClusterRoute(api, deps);
    registerDashboardPages(api, dashboard);
  });
  return app;
}

const callers = new WeakMap<FastifyRequest, Caller>();
/** The token a browser session was opened with, for requests that session authenticated: cluster mode forwards it
 *  to the other replicas as the caller's bearer token (it never goes back to the browser). */
const sessionTokens = new WeakMap<FastifyRequest, string>();

/** The caller `bearerGuard` identified for this request (its token's name and scopes). */
export function callerOf(req: FastifyRequest): Caller {
  return callers.get(req) ?? { name: 'unknown', scopes: [] };
}

/**
 * The `onRequest` hook of `/api/*` and the dashboard: 401 unless the request carries one of `server.auth.tokens` as
 * a bearer token, or the cookie of a live browser session (src/http/dashboard/sessions.ts), or the API is open on
 * purpose (`server.auth.open: true`); 403 when the caller lacks the route's scope, and when a cookie-authenticated
 * request that changes state lacks the session's CSRF token or comes from another origin (session-auth.ts). A
 * dashboard page (`page`) sends a browser without credentials to `/login` instead of a 401.
 */
function bearerGuard(deps: ApiDeps, sessions: SessionStore) {
  const tokens = apiTokens(deps.auth.tokens);
  const message =
    tokens.length === 0
      ? 'this agent has no bearer token configured (server.auth.tokens) and is not open (server.auth.open): every request is refused'
      : 'send Authorization: Bearer <token> (server.auth.tokens), or log in at /login (browsers)';
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const route = (req.routeOptions.config ?? {}) as RouteAuth;
    const scope = route.scope ?? (req.method === 'GET' || req.method === 'HEAD' ? 'read' : 'operate');
    const query = route.queryToken ? req.headers[QUERY_TOKEN_HEADER] : undefined;
    const presented = bearerOf(req.headers.authorization) ?? (typeof query === 'string' ? query : undefined);
    // a bearer token (even a wrong one) is what the request is judged by; the session cookie only without one
    const session = tokens.length > 0 && presented === undefined ? sessionOf(req, sessions) : undefined;
    const caller =
      tokens.length === 0
        ? deps.auth.open
          ? { name: 'open', scopes: ALL_SCOPES }
          : undefined
        : (session?.caller ?? identify(presented, tokens));
    if (caller === undefined) {
      const browser =
        route.page === true || (route.page === 'html' && /^\s*text\/html/i.test(req.headers.accept ?? ''));
      if (browser && tokens.length > 0 && presented === undefined && req.method === 'GET')
        return reply.redirect(`/login?next=${encodeURIComponent(req.url)}`, 303);
      await reply.code(401).header('WWW-Authenticate', 'Bearer').send({ error: 'unauthorized', message });
      return;
    }
    const refused = session && csrfRefusal(req, session);
    if (refused) {
      await reply.code(403).send({ error: 'forbidden', message: refused });
      return;
    }
    if (!caller.scopes.includes(scope)) {
      await reply.code(403).send({
        error: 'forbidden',
        message: `token ${caller.name} has the scopes [${caller.scopes.join(', ')}]; this needs ${scope} (server.auth.tokens)`,
      });
      return;
    }
    callers.set(req, caller);
    if (session) sessionTokens.set(req, session.token);
  };
}

/** The open routes for probes and scrapers: `/healthz`, `/readyz`, `/metrics`. */
function registerProbeRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const queueStats = queueStatsCollector(deps.metrics, Object.values(deps.queues));
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    // bounded: the Redis check is a PING with a short timeout, cached briefly (src/agent/redis-health.ts)
    const all = [...deps.ready(), ...((await deps.dependencies?.()) ?? [])];
    return reply
      .code(all.length ? 503 : 200)
      .send({ status: all.length ? 'not ready' : 'ready', reasons: all, warnings: deps.warnings?.() ?? [] });
  });
  app.get('/metrics', async (_req, reply) => {
    const { running, decided } = deps.registry.analysisCount;
    deps.metrics.analyses.set({ state: 'running' }, running);
    deps.metrics.analyses.set({ state: 'decided' }, decided);
    await queueStats(); // never waits on Redis for more than QUEUE_STATS_WAIT_MS: stale gauges rather than a hung scrape
    return reply.header('Content-Type', deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
}

/** A request one replica forwards to another carries this header: the other answers from its own state only. */
export const FORWARDED_HEADER = 'x-vigil-forwarded';
/** How long a replica waits for another's answer. */
const FORWARD_TIMEOUT_MS = 2_000;

const isForwarded = (req: FastifyRequest): boolean => req.headers[FORWARDED_HEADER] !== undefined;

/**
 * Cluster mode: the same request to every other live replica (each answers from its own state), with the caller's
 * bearer token; the answers that came back within FORWARD_TIMEOUT_MS, and the replicas that did not answer.
 */
async function fromOthers(
  deps: ApiDeps,
  req: FastifyRequest,
  path: string,
  init: { method?: string; body?: string } = {},
): Promise<{ answers: { replica: string; status: number; body: unknown }[]; unreachable: string[] }> {
  const out = { answers: [] as { replica: string; status: number; body: unknown }[], unreachable: [] as string[] };
  const cluster = deps.cluster;
  if (cluster === undefined || isForwarded(req)) return out;
  let live: Awaited<ReturnType<typeof cluster.replicas>>;
  try {
    live = await cluster.replicas();
  } catch {
    out.unreachable.push('(the other replicas: Redis does not answer, their list is unknown)');
    return out;
  }
  const others = live.filter((r) => r.id !== cluster.replica && r.apiUrl);
  await Promise.all(
    others.map(async (r) => {
      try {
        const res = await fetch(new URL(path, r.apiUrl), {
          method: init.method ?? 'GET',
          headers: {
            [FORWARDED_HEADER]: cluster.replica,
            ...forwardedAuthorization(req),
            ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          ...(init.body !== undefined ? { body: init.body } : {}),
          signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
        });
        out.answers.push({ replica: r.id, status: res.status, body: await res.json() });
      } catch {
        out.unreachable.push(r.id);
      }
    }),
  );
  return out;
}

/** The caller's credentials for a forwarded request: its Authorization header, the token it gave as `?token=`, or
 *  the token its browser session was opened with. */
function forwardedAuthorization(req: FastifyRequest): { authorization?: string } {
  const fromQuery = req.headers[QUERY_TOKEN_HEADER] ?? sessionTokens.get(req);
  if (req.headers.authorization) return { authorization: req.headers.authorization };
  return typeof fromQuery === 'string' ? { authorization: `Bearer ${fromQuery}` } : {};
}

/** This replica's analyses and those other replicas answered with (each analysis once). */
function mergeAnalyses(own: AnalysisSnapshot[], answers: readonly { body: unknown }[]): AnalysisSnapshot[] {
  const ids = new Set(own.map((a) => a.id));
  for (const a of answers) {
    for (const x of (a.body as { analyses?: AnalysisSnapshot[] }).analyses ?? []) {
      if (!ids.has(x.id)) own.push(x);
      ids.add(x.id);
    }
  }
  return own;
}

/**
 * `GET /api/v1/analyses` and `GET /api/v1/analyses/:id`. In cluster mode any replica answers for every service: it
 * asks the other live replicas (each answers for the services it owns) and says which did not answer.
 */
function registerAnalysisRoutes(api: FastifyInstance, deps: ApiDeps): void {
  api.get('/api/v1/analyses', async (req) => {
    const own = {
      analyses: deps.registry.list(),
      unknownCohorts: deps.registry.unknownCohorts(),
      refused: deps.registry.refusedByService(),
      counters: deps.registry.counters,
    };
    if (deps.cluster === undefined || isForwarded(req)) return own;
    const { answers, unreachable } = await fromOthers(deps, req, '/api/v1/analyses');
    const all = { ...own, analyses: mergeAnalyses(own.analyses, answers) };
    for (const a of answers) {
      const b = a.body as Partial<typeof own>;
      all.unknownCohorts = [...all.unknownCohorts, ...(b.unknownCohorts ?? [])];
      all.refused = [...all.refused, ...(b.refused ?? [])];
    }
    return { ...all, replicas: { answered: [deps.cluster.replica, ...answers.map((a) => a.replica)], unreachable } };
  });
  api.get<{ Params: { id: string } }>('/api/v1/analyses/:id/looks', async (req, reply) => {
    const looks = deps.registry.history(req.params.id);
    if (looks) return { analysis: req.params.id, looks };
    const path = `/api/v1/analyses/${encodeURIComponent(req.params.id)}/looks`;
    const found = (await fromOthers(deps, req, path)).answers.find((x) => x.status === 200);
    return found?.body ?? reply.code(404).send({ error: 'not found', message: `no analysis ${req.params.id}` });
  });
  api.get<{ Params: { id: string } }>('/api/v1/analyses/:id', async (req, reply) => {
    const a = deps.registry.get(req.params.id);
    if (a) return a;
    const path = `/api/v1/analyses/${encodeURIComponent(req.params.id)}`;
    const found = (await fromOthers(deps, req, path)).answers.find((x) => x.status === 200);
    return found?.body ?? reply.code(404).send({ error: 'not found', message: `no analysis ${req.params.id}` });
  });
}

/** `GET /api/v1/cluster`: the live replicas, the services each owns, leases of replicas gone (expiring). */
function registerClusterRoute(api: FastifyInstance, deps: ApiDeps): void {
  api.get('/api/v1/cluster', async (_req, reply) => {
    if (deps.cluster === undefined)
      return reply.code(404).send({
        error: 'not found',
        message: 'this agent is not part of a cluster (cluster.enabled is false): it owns every service it receives',
      });
    try {
      return await deps.cluster.status();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return reply
        .code(503)
        .send({ error: 'unavailable', message: `the cluster's state is in Redis, which did not answer: ${why}` });
    }
  });
}

/**
 * `GET /api/v1/decisions` and `GET /api/v1/decisions/:id` (from the audit log's memory; in cluster mode also the
 * cluster's shared list in Redis, so any replica lists every replica's decisions).
 */
function registerDecisionRoutes(api: FastifyInstance, deps: ApiDeps): void {
  const all = async (): Promise<readonly Decision[]> => {
    const local = deps.audit.recentDecisions();
    if (deps.cluster === undefined) return local;
    // Redis down: this replica's own decisions rather than none
    const shared = await deps.cluster.claims.recent().catch(() => [] as Decision[]);
    const ids = new Set(local.map((d) => d.id));
    return [...local, ...shared.filter((d) => !ids.has(d.id))].sort((a, b) => b.eventTimeUnixMs - a.eventTimeUnixMs);
  };
  api.get('/api/v1/decisions', async () => ({ decisions: await all() }));
  api.get<{ Params: { id: string } }>('/api/v1/decisions/:id', async (req, reply) => {
    const d = await knownDecision(deps, req.params.id);
    return (
      d ??
      reply.code(404).send({
        error: 'not found',
        message: `no decision ${req.params.id} in memory; see the audit log ${deps.audit.path}`,
      })
    );
  });
}
