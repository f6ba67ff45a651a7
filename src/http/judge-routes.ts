/**
 * The judge endpoints for rollout controllers (judge.ts gives the verdict), registered inside the authenticated
 * `/api` plugin of api-app.ts:
 *
 *  - `GET /api/v1/judge?service=S&canaryVersion=V`: 200 with the JudgeAnswer JSON, for Argo Rollouts' `web` metric
 *    provider (`jsonPath: "{$.verdict}"`, docs/argo-rollouts.md). 400 without `service`.
 *  - Flagger webhooks (docs/flagger.md). Flagger POSTs `{name, namespace, phase, checksum, metadata}` and looks only
 *    at the status code (fluxcd/flagger docs/gitbook/usage/webhooks.md, https://docs.flagger.app/usage/webhooks).
 *    `metadata.service` names the service (else `name`), `metadata.canaryVersion` the version (else the service's
 *    newest analysis):
 *    - `POST /api/v1/flagger/gate` (a `rollout` or `pre-rollout` hook): 200 while the verdict is not `fail`; 403 with
 *      the reason once it is (Flagger pauses the advancement, counts the failure and rolls back at its threshold).
 *    - `POST /api/v1/flagger/confirm-promotion`: 200 only on `pass`; else 403 (Flagger keeps the promotion paused
 *      while it keeps running its checks).
 *    - `POST /api/v1/flagger/rollback` (a `rollback` hook): 200 = roll back now, on `fail` only ("If a rollback hook
 *      returns a successful HTTP status code, Flagger will stop the analysis and mark the canary release as failed");
 *      else 403, which Flagger reads as "not signalling a rollback" and carries on.
 *    400 when the payload is not Flagger's (no `name`, a `metadata` that is not a map of strings).
 *
 * In cluster mode each replica judges from its own registry and the audit log's memory (the services it owns).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiDeps, RouteAuth } from './api-types.js';
import { judge, type JudgeAnswer, type JudgeVerdict } from './judge.js';

export type JudgeDeps = Pick<ApiDeps, 'registry' | 'audit'> & {
  /** Cluster mode: the same GET answered by the other live replicas (the one owning the service knows it). */
  others?: (req: FastifyRequest, path: string) => Promise<{ status: number; body: unknown }[]>;
};

/** What Flagger POSTs to a webhook (the fields the judge reads). */
export interface FlaggerPayload {
  name: string;
  namespace?: string;
  phase?: string;
  metadata?: Record<string, string>;
}

type Parsed = { ok: true; service: string; canaryVersion: string | undefined } | { ok: false; message: string };

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** The service and version a Flagger payload names, or why it is not a Flagger payload. */
export function parseFlaggerPayload(body: unknown): Parsed {
  const usage =
    'send Flagger\'s webhook payload: JSON {"name": "<canary>", "namespace": "...", "phase": "...", "metadata": {"service": "<service>", "canaryVersion": "<version>"}} (metadata optional; name is the service when metadata.service is absent)';
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, message: usage };
  const p = body as Partial<Record<keyof FlaggerPayload, unknown>>;
  const meta = p.metadata ?? {};
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return { ok: false, message: usage };
  const { service, canaryVersion } = meta as Record<string, unknown>;
  if (service !== undefined && !nonEmpty(service)) return { ok: false, message: `metadata.service: ${usage}` };
  if (canaryVersion !== undefined && !nonEmpty(canaryVersion))
    return { ok: false, message: `metadata.canaryVersion: ${usage}` };
  const name = service ?? p.name;
  if (!nonEmpty(name)) return { ok: false, message: usage };
  return { ok: true, service: name, canaryVersion };
}

/** This replica's verdict; in cluster mode, when it knows nothing of the version, the owner's (any replica judges
 *  every service). */
async function answer(
  deps: JudgeDeps,
  req: FastifyRequest,
  service: string,
  canaryVersion: string | undefined,
): Promise<JudgeAnswer> {
  const here = judge(deps.registry.list(), deps.audit.recentDecisions(), service, canaryVersion, (s, v) =>
    deps.registry.awaitsNewAnalysis(s, v),
  );
  if (here.verdict !== 'unknown' || deps.others === undefined) return here;
  const q = new URLSearchParams({ service, ...(canaryVersion === undefined ? {} : { canaryVersion }) });
  const there = (await deps.others(req, `/api/v1/judge?${q.toString()}`))
    .filter((a) => a.status === 200)
    .map((a) => a.body as JudgeAnswer)
    .find((a) => a.verdict !== 'unknown');
  return there ?? here;
}

/** A Flagger hook: 200 with the answer when `allow(verdict)`, else 403 with the verdict and a message. */
function flaggerHook(deps: JudgeDeps, allow: (v: JudgeVerdict) => boolean, refusal: string) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const parsed = parseFlaggerPayload(req.body);
    if (!parsed.ok) return reply.code(400).send({ error: 'bad request', message: parsed.message });
    const a = await answer(deps, req, parsed.service, parsed.canaryVersion);
    if (allow(a.verdict)) return reply.code(200).send(a);
    return reply
      .code(403)
      .send({ ...a, error: 'forbidden', message: `${refusal} (verdict ${a.verdict}): ${a.reason}` });
  };
}

/** Read-only, whatever the method; the token may come as `?token=` (Flagger's webhooks and Argo's web provider
 *  cannot always send headers). */
const JUDGE_AUTH: { config: RouteAuth } = { config: { scope: 'read', queryToken: true } };

export function registerJudgeRoutes(api: FastifyInstance, deps: JudgeDeps): void {
  api.get<{ Querystring: { service?: string; canaryVersion?: string } }>(
    '/api/v1/judge',
    JUDGE_AUTH,
    async (req, reply) => {
      const { service, canaryVersion } = req.query;
      if (!nonEmpty(service))
        return reply.code(400).send({
          error: 'bad request',
          message:
            "send the query parameter service (and canaryVersion; without it the service's newest analysis is judged): /api/v1/judge?service=S&canaryVersion=V",
        });
      return answer(deps, req, service, nonEmpty(canaryVersion) ? canaryVersion : undefined);
    },
  );
  api.post(
    '/api/v1/flagger/gate',
    JUDGE_AUTH,
    flaggerHook(deps, (v) => v !== 'fail', 'Vigil decided against this canary'),
  );
  api.post(
    '/api/v1/flagger/confirm-promotion',
    JUDGE_AUTH,
    flaggerHook(deps, (v) => v === 'pass', 'Vigil does not (yet) promote this canary'),
  );
  api.post(
    '/api/v1/flagger/rollback',
    JUDGE_AUTH,
    flaggerHook(deps, (v) => v === 'fail', 'no rollback: Vigil did not decide against this canary'),
  );
}
