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

export function registerOperatorRoutes(api: FastifyInstance, deps: OperatorRouteDeps): void {
  registerApproveRoute(api, deps);
  for (const action of OPERATOR_ACTIONS) {
    api.post<{ Params: { id: string } }>(`/api/v1/analyses/:id/${action}`, async (req, reply) => {
      const body = bodySchema.safeParse(req.body);
      if (!body.success)
        return reply.code(400).send({
          error: 'bad request',
          message: `send JSON {"by": "<who>", "reason": "<why>"} (each 1 to ${MAX_BY_CHARS} and ${MAX_REASON_CHARS} characters): ${WHAT[action]}, recorded in the audit log with who and why`,
        });
      const { id } = req.params;
      const r = await deps.operate(id, action, { ...body.data, token: deps.callerName(req) });
      if (r.status === 'unknown' && deps.forward) {
        const path = `/api/v1/analyses/${encodeURIComponent(id)}/${action}`;
        const answered = await deps.forward(req, path, JSON.stringify(body.data));
        if (answered) return reply.code(answered.status).send(answered.body);
      }
      if (r.status === 'unknown') return reply.code(404).send({ error: 'not found', message: `no analysis ${id}` });
      if (r.status === 'refused') return reply.code(409).send({ error: 'conflict', message: r.message });
      const { status: _status, ...done } = r;
      return done;
    });
  }
}

/** `POST /api/v1/analyses/:id/approve` (scope `operate`): lets a promotion plan set the share it waits at (docs/promotion.md). */
function registerApproveRoute(api: FastifyInstance, deps: OperatorRouteDeps): void {
  api.post<{ Params: { id: string } }>('/api/v1/analyses/:id/approve', async (req, reply) => {
    const body = bodySchema.safeParse(req.body);
    if (!body.success)
      return reply.code(400).send({
        error: 'bad request',
        message:
          'send JSON {"by": "<who>", "reason": "<why>"}: an approval lets the promotion plan set the share it waits at, recorded in the audit log with who and why',
      });
    const { id } = req.params;
    const r = deps.approve
      ? await deps.approve(id, { ...body.data, token: deps.callerName(req) })
      : ({ status: 'unknown' } as const);
    if (r.status === 'unknown' && deps.forward) {
      // cluster mode: the replica that owns the service's analyses answers
      const path = `/api/v1/analyses/${encodeURIComponent(id)}/approve`;
      const answered = await deps.forward(req, path, JSON.stringify(body.data));
      if (answered) return reply.code(answered.status).send(answered.body);
    }
    if (r.status === 'unknown')
      return reply.code(404).send({ error: 'not found', message: `no promotion plan runs for ${req.params.id}` });
    if (r.status === 'refused') return reply.code(409).send({ error: 'conflict', message: r.message });
    return { approved: r.share, analysis: req.params.id };
  });
}
