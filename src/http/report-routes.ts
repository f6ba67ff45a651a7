/**
 * `GET /api/v1/decisions/:id/report` (scope read): a decision's report (src/decide/report.ts), as HTML for a browser
 * (`Accept: text/html`) or Markdown (`Accept: text/markdown`, and whenever Accept names neither); `?format=md` or
 * `?format=html` overrides Accept. 404 for a decision no replica knows.
 *
 * Sources: the decision (the audit log's memory, the cluster's shared list, else the audit log's file), the entries
 * of the audit log that concern it, read from its last 64 MiB keeping only the lines that name the decision or its
 * analysis (readAuditTail's `lines`: the log is never held in memory), and the analysis with its looks while the
 * registry holds it. In cluster mode each replica has its own audit log (the plan's steps are appended by whichever
 * replica's worker ran them) and holds the analyses of the services it owns: the replica asked gathers its own sources
 * and asks every other live replica for theirs (`?format=sources`: JSON, what that replica alone knows), then builds
 * one report from all of them and names the replicas that did not answer.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readAuditTail } from '../decide/audit-log.js';
import { auditNeedles, buildReport, decisionFrom, type ReportSources } from '../decide/report.js';
import { renderHtml, renderMarkdown } from '../decide/report-render.js';
import type { Decision } from '../contracts/index.js';
import type { ApiDeps } from './api-types.js';

/** How much of the end of the audit log a report reads (the agent's start reads as much back). */
export const REPORT_AUDIT_BYTES = 64 * 1024 * 1024;

export type ReportDeps = Pick<ApiDeps, 'registry' | 'audit' | 'cluster' | 'publicUrl'> & {
  /** Cluster mode: the same GET to every other live replica (api-app.ts `fromOthers`). */
  others?: (
    req: FastifyRequest,
    path: string,
  ) => Promise<{ answers: { replica: string; status: number; body: unknown }[]; unreachable: string[] }>;
  now?: () => number;
};

export type ReportFormat = 'md' | 'html' | 'json' | 'sources';

const HTML_TYPES = new Set(['text/html', 'application/xhtml+xml']);
const MARKDOWN_TYPES = new Set(['text/markdown', 'text/x-markdown']);

/**
 * The format asked for: `?format=` when given (md, markdown, html, json: the report's model, as the dashboard draws the
 * plan's steps; sources; anything else: undefined, a 400), else the
 * Accept header's best of HTML and Markdown by quality (a tie: the first listed); Markdown when it names neither.
 */
export function reportFormat(query: string | undefined, accept: string | undefined): ReportFormat | undefined {
  if (query !== undefined) {
    if (query === 'md' || query === 'markdown') return 'md';
    return query === 'html' || query === 'json' || query === 'sources' ? query : undefined;
  }
  let best: { format: ReportFormat; q: number } | undefined;
  for (const range of (accept ?? '').split(',')) {
    const [type = '', ...params] = range.split(';').map((x) => x.trim().toLowerCase());
    const format = HTML_TYPES.has(type) ? 'html' : MARKDOWN_TYPES.has(type) ? 'md' : undefined;
    if (format === undefined) continue;
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (Number.isFinite(q) && q > 0 && (best === undefined || q > best.q)) best = { format, q };
  }
  return best?.format ?? 'md';
}

/** The base URL the report's commands and links use: `server.api.publicUrl`, else the address the request came to
 *  (its Host header when it is a plain host[:port]), else a placeholder. */
export function apiBaseUrl(publicUrl: string | undefined, req: Pick<FastifyRequest, 'protocol' | 'host'>): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  const host = req.host;
  const plain = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.test(host);
  return plain ? `${req.protocol}://${host}` : 'http://VIGIL_API';
}

/** The decision from this replica's memory or, in cluster mode, the shared list (Redis down: not from there). Also
 *  what `GET /api/v1/decisions/:id` answers (api-app.ts). */
export async function knownDecision(
  deps: Pick<ApiDeps, 'audit' | 'cluster'>,
  id: string,
): Promise<Decision | undefined> {
  const own = deps.audit.findDecision(id);
  if (own !== undefined || deps.cluster === undefined) return own;
  const shared = await deps.cluster.claims.recent().catch(() => [] as Decision[]);
  return shared.find((d) => d.id === id);
}

/** What this replica knows of decision `id`: the decision, the entries of its audit log, the analysis and looks. */
export async function localSources(deps: ReportDeps, id: string, known?: Decision): Promise<ReportSources> {
  let decision = known ?? (await knownDecision(deps, id));
  const read = async (d: Decision | undefined) => {
    const needles = auditNeedles(id, d);
    const tail = await readAuditTail(deps.audit.path, { maxBytes: REPORT_AUDIT_BYTES, lines: needles.line });
    return { tail, entries: tail.entries.filter(needles.entry) };
  };
  let { tail, entries } = await read(decision);
  if (decision === undefined) {
    decision = decisionFrom([{ entries, audit: { path: '', from: 0, size: 0 } }], id);
    // found in the file only: read again for the entries of its analysis
    if (decision !== undefined) ({ tail, entries } = await read(decision));
  }
  const analysis = decision && deps.registry.get(decision.analysis);
  const looks = decision && deps.registry.history(decision.analysis);
  return {
    ...(decision ? { decision } : {}),
    entries,
    ...(analysis ? { analysis } : {}),
    ...(looks ? { looks } : {}),
    audit: { path: deps.audit.path, from: tail.from, size: tail.size },
    ...(deps.cluster ? { replica: deps.cluster.replica } : {}),
  };
}

/** Another replica's sources, when its answer has their shape. */
function asSources(body: unknown, replica: string): ReportSources | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const s = body as Partial<ReportSources>;
  if (!Array.isArray(s.entries) || typeof s.audit !== 'object' || s.audit === null) return undefined;
  return { ...(s as ReportSources), replica };
}

function send(reply: FastifyReply, format: 'md' | 'html', text: string): FastifyReply {
  return reply
    .header('vary', 'accept')
    .header('cache-control', 'no-store')
    .type(format === 'html' ? 'text/html; charset=utf-8' : 'text/markdown; charset=utf-8')
    .send(text);
}

export function registerReportRoutes(api: FastifyInstance, deps: ReportDeps): void {
  api.get<{ Params: { id: string }; Querystring: { format?: string } }>(
    '/api/v1/decisions/:id/report',
    // a browser without a session (a link in chat) goes to the dashboard's login and comes back; API clients get 401
    { config: { page: 'html' } },
    async (req, reply) => {
      const { id } = req.params;
      const format = reportFormat(req.query.format, req.headers.accept);
      if (format === undefined)
        return reply
          .code(400)
          .send({ error: 'bad request', message: 'format must be md, html or json (or leave it out)' });
      const local = await localSources(deps, id);
      if (format === 'sources') return local;
      const sources = [local];
      let unreachable: string[] = [];
      if (deps.others) {
        const path = `/api/v1/decisions/${encodeURIComponent(id)}/report?format=sources`;
        const asked = await deps.others(req, path);
        unreachable = asked.unreachable;
        for (const a of asked.answers) {
          const s = a.status === 200 ? asSources(a.body, a.replica) : undefined;
          if (s) sources.push(s);
          else unreachable.push(`${a.replica} (HTTP ${a.status})`);
        }
      }
      const decision = decisionFrom(sources, id);
      if (decision === undefined)
        return reply.code(404).send({
          error: 'not found',
          message: `no decision ${id}: not in memory nor in the last ${REPORT_AUDIT_BYTES / 1024 / 1024} MiB of the audit log ${deps.audit.path}`,
        });
      // known only from another replica: this replica's entries and analysis of it, read with its analysis's id
      if (local.decision === undefined) sources[0] = await localSources(deps, id, decision);
      const apiUrl = apiBaseUrl(deps.publicUrl, req);
      const model = buildReport({ decision, sources, unreachable, nowUnixMs: (deps.now ?? Date.now)(), apiUrl });
      if (format === 'json') return reply.header('cache-control', 'no-store').send(model);
      return send(reply, format, format === 'html' ? renderHtml(model, apiUrl) : renderMarkdown(model, apiUrl));
    },
  );
}
