/**
 * Rollback drills inside the agent (issue 17, docs/drills.md): one place that runs a drill of a service in the agent's
 * process (dry runs: src/drill/run-drill.ts), one at a time, records it in the agent's audit log as a `drill` entry
 * with who asked and why, and knows the last drill of each service (the audit log read once, then kept up to date).
 * The API (`POST /api/v1/drills`, src/http/drill-routes.ts) and the schedule (`rollouts[].drill.every`,
 * `createDrillSchedule` below) both go through it.
 */
import type { Logger } from 'pino';
import { formatDuration } from '../config/duration.js';
import type { AuditLog } from '../decide/audit-log.js';
import { readAuditTail } from '../decide/audit-log.js';
import type { AuditEntry } from '../decide/audit-replay.js';
import type { DrillReport, DrillTarget } from './run-drill.js';

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

function drillRecord(
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
function lastDrills(entries: readonly AuditEntry[]): DrillRecord[] {
  const last = new Map<string, DrillRecord>();
  for (const e of entries)
    if (e.type === 'drill' && typeof e.service === 'string') last.set(e.service, e as unknown as DrillRecord);
  return [...last.values()].sort((a, b) => b.atUnixMs - a.atUnixMs);
}

export type DrillRun =
  { status: 'done'; report: DrillReport; record: DrillRecord } | { status: 'busy'; running: string };

export interface Drills {
  /** The last drill of each service, newest first. */
  list(): Promise<DrillRecord[]>;
  /** Runs a drill of `service` and records it, or says which one is running (one at a time). */
  run(service: string, who: { by: string; reason: string; token: string }): Promise<DrillRun>;
}

export interface DrillsDeps {
  audit: AuditLog;
  drill(service: string, target: DrillTarget): Promise<DrillReport>;
  /** Counts each drill by service and outcome (`vigil_drills_total`). */
  counted?(service: string, passed: boolean): void;
  now?: () => number;
}

export function createDrills(deps: DrillsDeps): Drills {
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
  return {
    list: async () => lastDrills(await drills()),
    async run(service, who) {
      if (running !== undefined) return { status: 'busy', running };
      running = service;
      try {
        const report = await deps.drill(service, 'drill');
        deps.counted?.(service, report.passed);
        const record = drillRecord(report, { ...who, atUnixMs: (deps.now ?? Date.now)() });
        await deps.audit.append(record as unknown as AuditEntry);
        (await drills()).push(record as unknown as AuditEntry);
        return { status: 'done', report, record };
      } finally {
        running = undefined;
      }
    },
  };
}

/**
 * The services whose drill is due at `nowMs`: each one's last drill (any: by hand or scheduled) is `every` or more ago,
 * or it has none. Pure; O(services).
 */
export function dueDrills(
  schedule: ReadonlyMap<string, number>,
  last: ReadonlyMap<string, number>,
  nowMs: number,
): string[] {
  const due: string[] = [];
  for (const [service, everyMs] of schedule) {
    const at = last.get(service);
    if (at === undefined || nowMs - at >= everyMs) due.push(service);
  }
  return due;
}

/** How often the schedule checks what is due: a tenth of the shortest period, between 1 s and 1 min. */
export function checkEveryMs(schedule: ReadonlyMap<string, number>): number {
  const shortest = Math.min(...schedule.values());
  return Math.min(60_000, Math.max(1_000, Math.floor(shortest / 10)));
}

export interface DrillSchedule {
  /** Stops checking; resolves once a drill under way is recorded. */
  close(): Promise<void>;
}

/**
 * Regular drills (`rollouts[].drill.every`): every `checkEveryMs`, each due service is drilled in turn (dry runs),
 * recorded as by "drill schedule"; a failed drill is logged at error with what failed (and shown on the dashboard). A
 * service whose drill an operator runs through the API meanwhile is not drilled again until its period has passed.
 */
export function createDrillSchedule(opts: {
  drills: Drills;
  schedule: ReadonlyMap<string, number>;
  logger: Logger;
  now?: () => number;
}): DrillSchedule {
  const now = opts.now ?? Date.now;
  let closed = false;
  let busy = false; // a check that is still drilling: the next ones are skipped
  let current: Promise<void> = Promise.resolve();
  const tick = async (): Promise<void> => {
    const last = new Map((await opts.drills.list()).map((d) => [d.service, d.atUnixMs]));
    for (const service of dueDrills(opts.schedule, last, now())) {
      if (closed) return;
      const every = opts.schedule.get(service)!;
      const who = {
        by: 'drill schedule',
        reason: `every ${formatDuration(every)} (rollouts[].drill.every)`,
        token: 'vigil',
      };
      const r = await opts.drills.run(service, who);
      if (r.status === 'busy') return; // an operator's drill runs: the next check goes on
      const log = opts.logger.child({ service, drill: r.record.canaryVersion });
      if (r.record.passed) log.info({ durationMs: r.record.durationMs }, 'scheduled rollback drill passed');
      else
        log.error({ failures: r.record.failures }, `scheduled rollback drill FAILED: ${r.record.failures.join('; ')}`);
    }
  };
  const timer = setInterval(() => {
    if (busy || closed) return;
    busy = true;
    current = tick()
      .catch((err: unknown) => opts.logger.warn({ err }, 'scheduled rollback drill could not run'))
      .finally(() => (busy = false));
  }, checkEveryMs(opts.schedule));
  timer.unref();
  return {
    close: () => {
      closed = true;
      clearInterval(timer);
      return current;
    },
  };
}
