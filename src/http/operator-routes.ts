/**
 * `POST /api/v1/analyses/:id/{pause,resume,rollback,promote}` (scope `operate`): an operator's hand on an analysis
 * (src/agent/operator.ts), with JSON `{"by": "<who>", "reason": "<why>"}`, both required and kept verbatim in the
 * audit log with the name of the token used. 200 `{ action, analysis, changed, decision? }`; 400 without by/reason;
 * 404 for an unknown id; 409 when the action does not apply (e.g. pausing a decided analysis). In cluster mode the
 * replica that holds the analysis acts: the others forward the request to it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { OPERATOR_ACTIONS, type OperateResult, type Operator, type OperatorAction } from '../agent/operator.js';
import type { ApproveResult } from '../agent/promoter.js';

/** Longest `by` and `reason` accepted (an audit entry, a chat message and a report carry them). */
export const MAX_BY_CHARS = 200;
export const MAX_REASON_CHARS = 2_000;

const bodySchema = z.object({
  by: z.string().trim().min(1).max(MAX_BY_CHARS),
  reason: z.string().trim().min(1).max(MAX_REASON_CHARS),
});

export interface OperatorRouteDeps {
  operate(id: string, action: OperatorAction, who: Operator): Promise<OperateResult>;
  /** The caller's token name (recorded with the action). */
  callerName(req: FastifyRequest): string;
  /** Approves the step a promotion plan waits at (absent: no promotion plans here). */
  approve?(id: string, who: Operator): Promise<ApproveResult>;
  /** Cluster mode: the same request to the other replicas; the first answer that is not 404, if any. */
  forward?(req: FastifyRequest, path: string, body: string): Promise<{ status: number; body: unknown } | undefined>;
}

const WHAT: Record<OperatorAction, string> = {
  pause: 'a pause holds the analysis: its looks go on, nothing is decided until it is resumed',
  resume: 'a resume lifts a pause, or lets a decided version be analysed again',
  rollback: "a rollback by hand runs the service's plan now",
  promote: 'a promotion by hand ends the analysis as passed',
};

/** What one verb on an analysis needs: its 400 text, how it runs, its 404 text and its 200 body. */
interface AnalysisVerb<R> {
  verb: string;
  badRequest: string;
  run(id: string, who: Operator): Promise<R | { status: 'unknown' } | { status: 'refused'; message: string }>;
  notFound(id: string): string;
  done(r: R, id: string): unknown;
}

/**
 * `POST /api/v1/analyses/:id/<verb>` with `{by, reason}`: 400 without them; the verb run with the caller's token
 * name; in cluster mode an analysis unknown here is asked of the other replicas (the one that holds it answers);
 * 404 when none has it, 409 when the verb does not apply, else 200 with the verb's answer.
 */
function registerAnalysisVerb<R extends { status: 'done' }>(
  api: FastifyInstance,
  deps: OperatorRouteDeps,
  v: AnalysisVerb<R>,
): void {
  api.post<{ Params: { id: string } }>(`/api/v1/analyses/:id/${v.verb}`, async (req, reply) => {
    const body = bodySchema.safeParse(req.body);
    if (!body.success) return reply.code(400).send({ error: 'bad request', message: v.badRequest });
    const { id } = req.params;
    const r = await v.run(id, { ...body.data, token: deps.callerName(req) });
    if (r.status === 'unknown' && deps.forward) {
      const path = `/api/v1/analyses/${encodeURIComponent(id)}/${v.verb}`;
      const answered = await deps.forward(req, path, JSON.stringify(body.data));
      if (answered) return reply.code(answered.status).send(answered.body);
    }
    if (r.status === 'unknown') return reply.code(404).send({ error: 'not found', message: v.notFound(id) });
    if (r.status === 'refused') return reply.code(409).send({ error: 'conflict', message: r.message });
    return v.done(r, id);
  });
}

export function registerOperatorRoutes(api: FastifyInstance, deps: OperatorRouteDeps): void {
  // `POST /api/v1/analyses/:id/approve`: lets a promotion plan set the share it waits at (docs/promotion.md)
  registerAnalysisVerb(api, deps, {
    verb: 'approve',
    badRequest:
      'send JSON {"by": "<who>", "reason": "<why>"}: an approval lets the promotion plan set the share it waits at, recorded in the audit log with who and why',
    run: (id, who) => (deps.approve ? deps.approve(id, who) : Promise.resolve({ status: 'unknown' as const })),
    notFound: (id) => `no promotion plan runs for ${id}`,
    done: (r: Extract<ApproveResult, { status: 'done' }>, id) => ({ approved: r.share, analysis: id }),
  });
  for (const action of OPERATOR_ACTIONS)
    registerAnalysisVerb(api, deps, {
      verb: action,
      badRequest: `send JSON {"by": "<who>", "reason": "<why>"} (each 1 to ${MAX_BY_CHARS} and ${MAX_REASON_CHARS} characters): ${WHAT[action]}, recorded in the audit log with who and why`,
      run: (id, who) => deps.operate(id, action, who),
      notFound: (id) => `no analysis ${id}`,
      done: ({ status: _status, ...done }: Extract<OperateResult, { status: 'done' }>) => done,
    });
}
