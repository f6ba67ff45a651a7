/**
 * What the control API (api-app.ts) is built from, and what its routes ask of their callers: shared by api-app.ts
 * and the route files it registers (judge-routes.ts, report-routes.ts), which take them from here rather than from
 * api-app.ts (no import cycle).
 */
import type { Logger } from 'pino';
import type { AnalysisRegistry } from '../analysis/analysis-registry.js';
import type { AuditLog } from '../decide/audit-log.js';
import type { JobQueue } from '../jobs/queue.js';
import type { ClusterNode } from '../agent/cluster-node.js';
import type { VigilConfig } from '../config/schema.js';
import type { OperateResult, Operator, OperatorAction } from '../agent/operator.js';
import type { Scope } from './auth.js';
import type { VigilMetrics } from './metrics.js';
import type { Drills } from '../drill/drills.js';
import type { ApproveResult } from '../agent/promoter.js';

export interface ApiDeps {
  logger: Logger;
  metrics: VigilMetrics;
  registry: AnalysisRegistry;
  audit: AuditLog;
  /** `server.auth`: the bearer tokens accepted (plain: both scopes; `{ name, token, scopes }`), or `open: true` (no
   *  token needed). Neither: every request is 401. */
  auth: { tokens: VigilConfig['server']['auth']['tokens']; open: boolean };
  queues: Record<string, JobQueue<unknown>>;
  /** Reasons the agent is not ready ([] = ready). */
  ready(): string[];
  /** Reasons a dependency makes the agent unready (Redis not answering a PING), answered within about a second. */
  dependencies?(): Promise<string[]>;
  /** Problems worth seeing that do not make the agent unready (e.g. a connector's failed health check). */
  warnings?(): string[];
  /** An operator's action on an analysis held here (src/agent/operator.ts); `who.token` is the caller's token name. */
  operate(id: string, action: OperatorAction, who: Operator): Promise<OperateResult>;
  /** Cluster mode (src/agent/cluster-node.ts): the live replicas, the shared decisions list, GET /api/v1/cluster. */
  cluster?: Pick<ClusterNode, 'replica' | 'status' | 'replicas' | 'claims'>;
  /** `server.api.publicUrl`: the base URL of the decision reports' commands and links. */
  publicUrl?: string;
  /** Approves the step a promotion plan waits at (`POST /api/v1/analyses/:id/approve`, src/agent/promoter.ts). */
  approve?(id: string, who: Operator): Promise<ApproveResult>;
  /** Rollback drills in this process (`POST /api/v1/drills`, src/http/drill-routes.ts; src/drill/drills.ts). */
  drills?: Drills;
}

/** What a route of `/api/*` asks of its caller (fastify route `config`). */
export interface RouteAuth {
  /** The scope needed (default: `read` for GET and HEAD, `operate` for every other method). */
  scope?: Scope;
  /** The token may also come as the query parameter `token` (callers that cannot send headers: Flagger's webhooks);
   *  it is taken out of the URL before routing, so it is never logged. */
  queryToken?: boolean;
  /** A dashboard page: a browser without credentials is redirected to `/login` rather than answered 401; `html`: only
   *  a request that asks for HTML first (a browser's navigation, not an API client). */
  page?: boolean | 'html';
}
