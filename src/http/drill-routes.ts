/**
 * Rollback drills through the API (issue 17, docs/drills.md): `POST /api/v1/drills` (scope `operate`) runs a drill
 * (target `drill` only: the agent's connectors are the production ones) of one service in the agent's process (its own pipeline: embedded queue, temporary audit log; src/drill/run-drill.ts)
 * and records the result in the agent's audit log as a `drill` entry, with who asked and why; `GET /api/v1/drills`
 * (scope `read`) lists the last drill of each service from the audit log, newest first. One drill at a time: 409
 * while one runs (src/drill/drills.ts). Regular drills: `rollouts[].drill.every` (the agent's schedule), or this
 * endpoint from cron.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Drills } from '../drill/drills.js';
import { MAX_BY_CHARS, MAX_REASON_CHARS } from './operator-routes.js';

export interface DrillRouteDeps {
  /** The agent's drills (absent: drills are not available in this agent). */
  drills?: Drills;
  callerName(req: FastifyRequest): string;
}

const bodySchema = z.object({
  service: z.string().trim().min(1).max(1_024),
  // the agent's connectors are the production ones: a live drill belongs on a drill config (`vigil drill --target live`)
  target: z.literal('drill').default('drill'),
  by: z.string().trim().min(1).max(MAX_BY_CHARS),
  reason: z.string().trim().min(1).max(MAX_REASON_CHARS),
});

export function registerDrillRoutes(api: FastifyInstance, deps: DrillRouteDeps): void {
  api.get('/api/v1/drills', async () => ({ drills: deps.drills ? await deps.drills.list() : [] }));
  api.post('/api/v1/drills', async (req, reply) => {
    const body = bodySchema.safeParse(req.body);
    if (!body.success)
      return reply.code(400).send({
        error: 'bad request',
        message: `send JSON {"service": "<name>", "by": "<who>", "reason": "<why>"}: a rollback drill of the service (dry runs, nothing real touched), recorded in the audit log with who and why; a live drill runs against drill targets: vigil drill --config <drill config> --target live`,
      });
    if (deps.drills === undefined)
      return reply.code(501).send({ error: 'not implemented', message: 'this agent cannot run drills' });
    const { service, by, reason } = body.data;
    const r = await deps.drills.run(service, { by, reason, token: deps.callerName(req) });
    if (r.status === 'busy')
      return reply.code(409).send({ error: 'conflict', message: `a drill of ${r.running} is running: one at a time` });
    return r.report;
  });
}
