/**
 * `vigil status` and `vigil decisions`: list the analyses, or the recent decisions, of a running agent. Every failure is ONE line on stderr naming the URL
 * it tried and why (connection refused, timeout, unknown host, HTTP status), exit 1. The bearer token is
 * sent, never printed.
 */
import type { ApiAddress } from './config/load.js';

export interface StatusOptions {
  /** What to list (default `analyses`: `vigil status`). */
  what?: 'analyses' | 'decisions';
  /** The API base URL (already resolved: --api, or from --config, or the default). */
  api: string;
  token?: string;
  timeoutMs: number;
  out: (line: string) => void;
  err: (line: string) => void;
  fetch?: typeof globalThis.fetch;
}

export const DEFAULT_API_URL = 'http://127.0.0.1:8080';

/**
 * The URL an operator on the agent's machine reaches the API at: `server.api` host and port, where a
 * wildcard listen address (0.0.0.0, ::) means this machine (127.0.0.1, [::1]). `publicUrl` is not used:
 * it is the address for links in chat, often behind a proxy or SSO; pass it with --api to go through it.
 */
export function localApiUrl(a: ApiAddress): string {
  const host = a.host === '0.0.0.0' ? '127.0.0.1' : a.host === '::' || a.host === '[::]' ? '[::1]' : a.host;
  const literal = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${literal}:${a.port}`;
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'host name lookup failed (DNS)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'the connection closed unexpectedly',
  CERT_HAS_EXPIRED: 'TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate does not match the host',
};

function codeOf(e: unknown): string | undefined {
  if (!e || typeof e !== 'object') return undefined;
  const o = e as { code?: unknown; errors?: unknown };
  if (typeof o.code === 'string') return o.code;
  // happy eyeballs (localhost → ::1 and 127.0.0.1) fails with an AggregateError of one error per address
  if (Array.isArray(o.errors))
    for (const x of o.errors as unknown[]) {
      const c = codeOf(x);
      if (c) return c;
    }
  return undefined;
}

/**
 * Why a fetch failed, in a few words from the error's cause: "connection refused (ECONNREFUSED)",
 * "unknown host (ENOTFOUND)", "no answer within 5000 ms". undici says only "fetch failed"; the reason is
 * in `cause` (an Error with a code, or an AggregateError of one per address).
 */
export function fetchFailureReason(e: unknown, timeoutMs: number): string {
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError'))
    return `no answer within ${timeoutMs} ms (--timeout)`;
  const cause = e instanceof Error ? e.cause : undefined;
  const code = codeOf(cause) ?? codeOf(e);
  if (code) return `${REASONS[code] ?? 'network error'} (${code})`;
  const msg = cause instanceof Error ? cause.message : e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0] ?? msg;
}

export function oneLine(s: string, max = 200): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

interface AnalysesBody {
  analyses: {
    id: string;
    phase: string;
    look: number;
    why: string;
    totals: { canary: { requests: number }; baseline: { requests: number } };
  }[];
}

interface DecisionsBody {
  decisions: { id: string; analysis: string; outcome: string; look: number; eventTimeUnixMs: number; reason: string }[];
}

/** One line per analysis (`vigil status`) or per decision (`vigil decisions`), from the JSON the API answered. */
function linesOf(what: 'analyses' | 'decisions', body: unknown): string[] {
  if (what === 'decisions') {
    const { decisions } = body as DecisionsBody;
    if (decisions.length === 0) return ['no decisions yet'];
    return decisions.map(
      (d) =>
        `${d.id}  ${d.analysis}  ${d.outcome}  look ${d.look}  ${new Date(d.eventTimeUnixMs).toISOString()}  — ${d.reason}`,
    );
  }
  const { analyses } = body as AnalysesBody;
  if (analyses.length === 0) return ['no analyses yet'];
  return analyses.map(
    (a) =>
      `${a.id}  ${a.phase}  look ${a.look}  canary ${a.totals.canary.requests} / baseline ${a.totals.baseline.requests} requests  — ${a.why}`,
  );
}

/** Where and how to ask the agent's API, shared by `vigil status`, `vigil decisions` and the operator verbs. */
export interface ApiCall {
  api: string;
  token?: string;
  timeoutMs: number;
  err: (line: string) => void;
  fetch?: typeof globalThis.fetch;
}

/** What `callApi` asks: the verb (for messages), the path, the method and JSON body, the scope the request needs
 *  (named when the token is refused), and what a 404 means to the caller (added to its message). */
export interface ApiRequest {
  verb: string;
  path: string;
  method?: 'GET' | 'POST';
  body?: unknown;
  scope: 'read' | 'operate';
  notFoundHint?: string;
}

/**
 * One request to the agent's API as `vigil <verb>`: the answer of a 2xx as text with its content type, or undefined
 * after ONE line on stderr naming the URL and why (unreachable, refused token, HTTP error with the API's message).
 */
export async function requestApi(
  o: ApiCall,
  req: ApiRequest & { accept: string },
): Promise<{ text: string; type: string; url: string } | undefined> {
  const fetch = o.fetch ?? globalThis.fetch;
  const url = new URL(req.path, o.api).href;
  const fail = (why: string): undefined => {
    o.err(`vigil ${req.verb}: ${url}: ${why}`);
    return undefined;
  };
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: req.method ?? 'GET',
      headers: {
        accept: req.accept,
        ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
      },
      ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
      signal: AbortSignal.timeout(o.timeoutMs),
      redirect: 'manual',
    });
    text = await res.text();
  } catch (e) {
    const why = fetchFailureReason(e, o.timeoutMs);
    const hint = /ECONNREFUSED/.test(why)
      ? ': is `vigil serve` running there? (point at it with --api or --config)'
      : '';
    return fail(`${why}${hint}`);
  }
  if (res.status === 401 || res.status === 403) {
    return fail(
      o.token
        ? `HTTP ${res.status}: the token was refused; pass one of the agent's server.auth.tokens (with the ${req.scope} scope) with --token or VIGIL_TOKEN${apiMessage(text)}`
        : `HTTP ${res.status}: the API needs a bearer token; pass --token <token> or set VIGIL_TOKEN`,
    );
  }
  if (res.status === 404 && req.notFoundHint !== undefined)
    return fail(`HTTP 404${apiMessage(text) || (text ? `: ${oneLine(text)}` : '')} (${req.notFoundHint})`);
  if (!res.ok) return fail(`HTTP ${res.status}${apiMessage(text) || (text ? `: ${oneLine(text)}` : '')}`);
  return { text, type: res.headers.get('content-type') ?? '', url };
}

/** `requestApi` for a JSON answer: the parsed body, or undefined after one line on stderr. */
export async function callApi(o: ApiCall, req: ApiRequest): Promise<unknown> {
  const answer = await requestApi(o, { ...req, accept: 'application/json' });
  if (answer === undefined) return undefined;
  try {
    return JSON.parse(answer.text) as unknown;
  } catch {
    o.err(
      `vigil ${req.verb}: ${answer.url}: not a Vigil API answer (is --api the agent's API port?): ${oneLine(answer.text, 80)}`,
    );
    return undefined;
  }
}

/** ": <message>" of a Vigil API error answer (`{"error", "message"}`), or "". */
function apiMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    return typeof m === 'string' ? `: ${oneLine(m)}` : '';
  } catch {
    return '';
  }
}

/** Prints one line per analysis (or decision). Exit code: 0 listed, 1 the agent could not be asked or answered an
 *  error. */
export async function runStatus(o: StatusOptions): Promise<number> {
  const what = o.what ?? 'analyses';
  const verb = what === 'analyses' ? 'status' : 'decisions';
  const body = await callApi(o, { verb, path: `/api/v1/${what}`, scope: 'read' });
  if (body === undefined) return 1;
  if (!Array.isArray((body as Record<string, unknown>)[what])) {
    o.err(`vigil ${verb}: ${new URL(`/api/v1/${what}`, o.api).href}: not a Vigil API answer (no "${what}" list)`);
    return 1;
  }
  for (const line of linesOf(what, body)) o.out(line);
  return 0;
}

export interface OperatorCallOptions extends ApiCall {
  action: 'pause' | 'resume' | 'rollback' | 'promote';
  analysis: string;
  by: string;
  reason: string;
  out: (line: string) => void;
}

/** `vigil pause|resume|rollback|promote ANALYSIS --by --reason`: one line saying what the agent did. Exit 0 done
 *  (also when it was already so), 1 refused (404, 409, …) or unreachable. */
export async function runOperator(o: OperatorCallOptions): Promise<number> {
  const path = `/api/v1/analyses/${encodeURIComponent(o.analysis)}/${o.action}`;
  const body = (await callApi(o, {
    verb: o.action,
    path,
    method: 'POST',
    body: { by: o.by, reason: o.reason },
    scope: 'operate',
  })) as
    | {
        changed?: boolean;
        analysis?: { service?: string; canaryVersion?: string; why?: string };
        decision?: { id?: string; plan?: string[] };
      }
    | undefined;
  if (body === undefined) return 1;
  const a = body.analysis ?? {};
  const subject = `analysis ${o.analysis} (${a.service ?? '?'} canary ${a.canaryVersion ?? '?'})`;
  if (body.changed === false) o.out(`${subject}: already so, nothing changed`);
  else if (body.decision?.id)
    o.out(
      `${subject}: ${o.action} decided by hand, decision ${body.decision.id}${body.decision.plan?.length ? `, plan ${body.decision.plan.join(' → ')} enqueued` : ''}`,
    );
  else o.out(`${subject}: ${o.action === 'pause' ? 'paused' : 'resumed'}, recorded in the audit log`);
  return 0;
}

/** `vigil approve ANALYSIS --by --reason`: lets a promotion plan set the share it waits at (docs/promotion.md). */
export async function runApprove(o: Omit<OperatorCallOptions, 'action'>): Promise<number> {
  const body = (await callApi(o, {
    verb: 'approve',
    path: `/api/v1/analyses/${encodeURIComponent(o.analysis)}/approve`,
    method: 'POST',
    body: { by: o.by, reason: o.reason },
    scope: 'operate',
  })) as { approved?: number } | undefined;
  if (body === undefined) return 1;
  o.out(
    `analysis ${o.analysis}: ${body.approved ?? '?'}% approved, recorded in the audit log; the plan sets it at its next look`,
  );
  return 0;
}
