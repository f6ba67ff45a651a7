/**
 * `vigil report ID`: a decision's report from a running agent (GET /api/v1/decisions/:id/report), printed as the
 * API wrote it, Markdown or HTML. Every failure is ONE line on stderr naming the URL it tried and why (connection
 * refused, timeout, unknown decision, refused token, HTTP status), exit 1, as `vigil status` does. The bearer token
 * is sent, never printed.
 */
import { fetchFailureReason } from './status.js';

export interface ReportClientOptions {
  id: string;
  format: 'md' | 'html';
  /** The API base URL (already resolved: --api, or from --config, or the default). */
  api: string;
  token?: string | undefined;
  timeoutMs: number;
  /** Receives the report as it came (it ends with a newline). */
  write: (text: string) => void;
  err: (line: string) => void;
  fetch?: typeof globalThis.fetch;
}

const ACCEPT = { md: 'text/markdown', html: 'text/html' } as const;

function oneLine(s: string, max = 200): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** The `message` of the API's JSON error, else the body on one line. */
function messageOf(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof m === 'string') return oneLine(m);
  } catch {
    // not JSON: the body itself
  }
  return oneLine(text);
}

/** Prints the report. Exit code: 0 printed, 1 the agent could not be asked or answered an error. */
export async function runReport(o: ReportClientOptions): Promise<number> {
  const fetch = o.fetch ?? globalThis.fetch;
  const url = new URL(`/api/v1/decisions/${encodeURIComponent(o.id)}/report?format=${o.format}`, o.api).href;
  const fail = (why: string) => {
    o.err(`vigil report: ${url}: ${why}`);
    return 1;
  };
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      headers: { accept: ACCEPT[o.format], ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
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
  if (res.status === 401 || res.status === 403)
    return fail(
      o.token
        ? `HTTP ${res.status}: the token was refused; pass one of the agent's server.auth.tokens (with the read scope) with --token or VIGIL_TOKEN`
        : `HTTP ${res.status}: the API needs a bearer token; pass --token <token> or set VIGIL_TOKEN`,
    );
  if (res.status === 404)
    return fail(`HTTP 404: ${messageOf(text)} (vigil decisions lists the recent decisions and their ids)`);
  if (!res.ok) return fail(`HTTP ${res.status}${text ? `: ${messageOf(text)}` : ''}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith(ACCEPT[o.format]))
    return fail(`HTTP ${res.status} but not a Vigil report (is --api the agent's API port?): ${oneLine(text, 80)}`);
  o.write(text.endsWith('\n') ? text : `${text}\n`);
  return 0;
}
