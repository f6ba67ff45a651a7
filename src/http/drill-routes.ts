/**
 * Rollback drills through the API (issue 17, docs/drills.md): `POST /api/v1/drills` (scope `operate`) runs a drill
 * (target `drill` only: the agent's connectors are the production ones) of one service in the agent's process (its own pipeline: embedded queue, temporary audit log; src/drill/run-drill.ts)
 * and records the result in the agent's audit log as a `drill` entry, with who asked and why; `GET /api/v1/drills`
 * (scope `read`) lists the last drill of each service from the audit log, newest first. One drill at a time: 409
 * while one runs. For a schedule, call the endpoint from cron (or `vigil drill --json` where the config is).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AuditLog } from '../decide/audit-log.js';
import { readAuditTail } from '../decide/audit-log.js';
import type { AuditEntry } from '../decide/audit-replay.js';
import type { DrillReport, DrillTarget } from '../drill/run-drill.js';
import { MAX_BY_CHARS, MAX_REASON_CHARS } from './operator-routes.js';

export interface DrillRouteDeps {
  audit: AuditLog;
  /** Runs a drill of `service` (absent: drills are not available in this agent). */
  drill?(service: string, target: DrillTarget): Promise<DrillReport>;
  callerName(req: FastifyRequest): string;
  nowMs?: () => number;
}

const bodySchema = z.object({
  service: z.string().trim().min(1).max(1_024),
  // the agent's connectors are the production ones: a live drill belongs on a drill config (`vigil drill --target live`)
  target: z.literal('drill').default('drill'),
  by: z.string().trim().min(1).max(MAX_BY_CHARS),
  reason: z.string().trim().min(1).max(MAX_REASON_CHARS),
});

/** What the audit log keeps of a drill: the report's outcome, timings and steps, and who asked. */
export interface DrillRecord {
  type: 'drill';
  service: string;
  target: DrillTarget;
  passed: boolean;
  canaryVersion: string;
  durationMs: number;
  detectLooks?: number;
  detectEventMs?: number;
  decideMs?: number;
  decisionId?: string;
  steps: { connector: string; status: string; afterMs?: number; error?: string }[];
  failures: string[];
  by: string;
  reason: string;
  token: string;
  atUnixMs: number;
}

export function drillRecord(
  r: DrillReport,
  who: { by: string; reason: string; token: string; atUnixMs: number },
): DrillRecord {
  return {
    type: 'drill',
    service: r.service,
    target: r.target,
    passed: r.passed,
    canaryVersion: r.canaryVersion,
    durationMs: r.durationMs,
    ...(r.detect ? { detectLooks: r.detect.looks, detectEventMs: r.detect.eventMs } : {}),
    ...(r.decideMs === undefined ? {} : { decideMs: r.decideMs }),
    ...(r.decision ? { decisionId: r.decision.id } : {}),
    steps: r.steps.map((s) => ({
      connector: s.connector,
      status: s.status,
      ...(s.afterMs === undefined ? {} : { afterMs: s.afterMs }),
      ...(s.error === undefined ? {} : { error: s.error }),
    })),
    failures: r.failures,
    ...who,
  };
}

/** The last drill of each service among the entries (newest first). */
export function lastDrills(entries: readonly AuditEntry[]): DrillRecord[] {
  const last = new Map<string, DrillRecord>();
  for (const e of entries)
    if (e.type === 'drill' && typeof e.service === 'string') last.set(e.service, e as unknown as DrillRecord);
  return [...last.values()].sort((a, b) => b.atUnixMs - a.atUnixMs);
}

export function registerDrillRoutes(api: FastifyInstance, deps: DrillRouteDeps): void {
  let running: string | undefined;
  // the audit log is read once (the dashboard asks every few seconds); this agent's later drills are added as they end
  let known: Promise<AuditEntry[]> | undefined;
  const drills = (): Promise<AuditEntry[]> =>
    (known ??= readAuditTail(deps.audit.path, { lines: (raw) => raw.includes('"type":"drill"') }).then(
      (t) => t.entries.filter((e) => e.type === 'drill'),
      (e: unknown) => {
        known = undefined; // read again next time
        throw e;
      },
    ));
  api.get('/api/v1/drills', async () => ({ drills: lastDrills(await drills()) }));
  api.post('/api/v1/drills', async (req, reply) => {
    const body = bodySchema.safeParse(req.body);
    if (!body.success)
      return reply.code(400).send({
        error: 'bad request',
        message: `send JSON {"service": "<name>", "by": "<who>", "reason": "<why>"}: a rollback drill of the service (dry runs, nothing real touched), recorded in the audit log with who and why; a live drill runs against drill targets: vigil drill --config <drill config> --target live`,
      });
    if (deps.drill === undefined)
      return reply.code(501).send({ error: 'not implemented', message: 'this agent cannot run drills' });
    if (running !== undefined)
      return reply.code(409).send({ error: 'conflict', message: `a drill of ${running} is running: one at a time` });
    const { service, target, by, reason } = body.data;
    running = service;
    try {
      const report = await deps.drill(service, target);
      const record = drillRecord(report, {
        by,
        reason,
        token: deps.callerName(req),
        atUnixMs: (deps.nowMs ?? Date.now)(),
      });
      await deps.audit.append(record as unknown as AuditEntry);
      (await drills()).push(record as unknown as AuditEntry);
      return report;
    } finally {
      running = undefined;
    }
  });
}
