/**
 * A decision's report (issue 15: `GET /api/v1/decisions/:id/report`, `vigil report ID`), as data: what was compared,
 * the evidence look by look, why the decision, its plan's steps with their answers and timings, the manual actions
 * around it with who and why, the config hash, and how to resume. Pure: no clock, no I/O. The route
 * (src/http/report-routes.ts) gathers the sources (the decision, its audit entries, the analysis and its looks, from
 * this replica and, in cluster mode, the others); report-render.ts writes the model as Markdown or HTML. The
 * explanation of the decision is connectors/shared/explain.ts's, the one chat messages use.
 */
import {
  decidingVerdicts,
  describePlan,
  describeConfidence,
  describeValidity,
  describeVerdict,
  explainDecision,
  otherVerdicts,
} from '../../connectors/shared/explain.js';
import type { AnalysisSnapshot, LookPoint } from '../analysis/analysis-types.js';
import type { Decision } from '../contracts/index.js';
import { decisionOf, type AuditEntry } from './audit-replay.js';

/** What one replica knows of a decision: what the report is built from. JSON (replicas send it to each other). */
export interface ReportSources {
  /** The decision, when this replica knows it (its audit log's memory or file, or the cluster's shared list). */
  decision?: Decision;
  /** The entries of this replica's audit log that may concern the decision (its own entry, its plan's `action` and
   *  `action-failed`, its `notify-failed`, and the `decision`, `pause`, `unpause`, `resume` entries of its analysis
   *  or canary version), in file order. */
  entries: AuditEntry[];
  /** The analysis, when this replica holds it in memory (it may be a later run of the version: see `decisionId`). */
  analysis?: AnalysisSnapshot;
  /** Its looks, when this replica holds it. */
  looks?: LookPoint[];
  /** The audit log read: `from` > 0 when it was longer than what was read (older entries were not). */
  audit: { path: string; from: number; size: number };
  /** Cluster mode: the replica that answered. */
  replica?: string;
}

export interface ReportInput {
  decision: Decision;
  /** This replica's sources first, then the other replicas'. */
  sources: readonly ReportSources[];
  /** Cluster mode: replicas that did not answer (their audit entries are missing). */
  unreachable?: readonly string[];
  /** Wall clock when the report is made. */
  nowUnixMs: number;
  /** The API's base URL for the commands (no trailing slash). */
  apiUrl: string;
}

/** One step of the plan: done (its `action` entry), failed for good (`action-failed`), or not run (no entry). */
export interface ReportStep {
  step: number;
  connector: string;
  status: 'done' | 'failed' | 'not run';
  changed?: boolean;
  detail?: string;
  error?: string;
  code?: string;
  attempt?: number;
  dryRun?: boolean;
  /** When its entry was written (wall clock, ISO). */
  loggedAt?: string;
  /** Milliseconds from the decision's entry to this step's. */
  afterMs?: number;
}

/** A notification that failed for good (`notify-failed`; notifications that went out are not audited). */
export interface ReportNotification {
  notifier: string;
  kind: string;
  error: string;
  attempt?: number;
  loggedAt?: string;
}

/** An operator's action: the decision itself when taken by hand, or a pause, its lifting, a resume. */
export interface ReportManualAction {
  action: string;
  by: string;
  reason: string;
  /** The name of the API token used. */
  token?: string;
  at?: string;
  /** Milliseconds from the decision (negative: before it). */
  afterMs?: number;
  /** The decision itself was this action. */
  isDecision?: true;
}

export type PlanState = 'none' | 'completed' | 'failed' | 'unfinished';

export interface ReportModel {
  generatedAt: string;
  title: string;
  decision: Decision;
  /** When the decision's audit entry was written (wall clock, ISO), when it was read. */
  decidedAt?: string;
  /** Milliseconds from the decision to the report. */
  ageMs?: number;
  /** Each cohort's requests and failures compared: from the analysis (`analysis`), or summed over the looks kept
   *  (`looks`, from look `firstLook`). Absent when neither is known any more. */
  totals?: {
    source: 'analysis' | 'looks';
    firstLook?: number;
    baseline: { requests: number; errors: number };
    canary: { requests: number; errors: number };
  };
  /** The looks up to the decision, when a replica still holds the analysis's run that decided. */
  looks?: LookPoint[];
  /** Why there are no looks, or not all of them. */
  looksNote?: string;
  /** Why: the reason, then the explanation's lines (explain.ts). */
  why: { reason: string; deciding: string[]; notes: string[]; plan: string };
  plan: { state: PlanState; steps: ReportStep[]; note?: string };
  notifications: ReportNotification[];
  manual: ReportManualAction[];
  resume: { cli?: string; curl?: string; note?: string };
  /** Where the report comes from (audit logs read, replicas that did not answer). */
  sources: string[];
}

const isString = (v: unknown): v is string => typeof v === 'string';

/** Where a decision's report is, under the API's base URL (`server.api.publicUrl` in chat messages): a browser opens
 *  it as HTML. */
export function reportLink(baseUrl: string, decisionId: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/api/v1/decisions/${encodeURIComponent(decisionId)}/report`;
}

/** Single-quoted for a POSIX shell: anything inside stays literal (a name from telemetry runs nothing). */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The entries of every source, each once, in time order (one source: its file order). */
function mergedEntries(sources: readonly ReportSources[]): AuditEntry[] {
  if (sources.length === 1) return sources[0]!.entries;
  const seen = new Set<string>();
  const all: AuditEntry[] = [];
  for (const s of sources) {
    for (const e of s.entries) {
      const key = JSON.stringify(e);
      if (seen.has(key)) continue;
      seen.add(key);
      all.push(e);
    }
  }
  const at = (e: AuditEntry) => (isString(e.loggedAt) ? e.loggedAt : '');
  return all.sort((a, b) => (at(a) < at(b) ? -1 : at(a) > at(b) ? 1 : 0));
}

const sameVersion = (e: AuditEntry, d: Decision): boolean =>
  e.analysis === d.analysis || (e.service === d.service && e.canaryVersion === d.canaryVersion);

/** The entries that concern `d`: its own entry (the last with its id), its plan's, its notifications', and the
 *  manual actions on its version between the version's previous decision and its next one. */
export function entriesOf(
  entries: readonly AuditEntry[],
  d: Decision,
): { own?: AuditEntry; plan: AuditEntry[]; notify: AuditEntry[]; manual: AuditEntry[] } {
  let ownAt = -1;
  entries.forEach((e, i) => {
    if (e.type === 'decision' && e.id === d.id) ownAt = i;
  });
  let from = 0;
  let to = entries.length;
  if (ownAt >= 0) {
    for (let i = ownAt - 1; i >= 0 && from === 0; i--) {
      const e = entries[i]!;
      if (e.type === 'decision' && sameVersion(e, d)) from = i + 1;
    }
    for (let i = ownAt + 1; i < entries.length && to === entries.length; i++) {
      const e = entries[i]!;
      if (e.type === 'decision' && sameVersion(e, d) && e.id !== d.id) to = i;
    }
  }
  const ofDecision = (type: string) => (e: AuditEntry) => e.type === type && e.decisionId === d.id;
  return {
    ...(ownAt >= 0 ? { own: entries[ownAt]! } : {}),
    plan: entries.filter((e, i) => i > ownAt && (ofDecision('action')(e) || ofDecision('action-failed')(e))),
    notify: entries.filter(ofDecision('notify-failed')),
    manual: entries
      .slice(from, to)
      .filter((e) => (e.type === 'pause' || e.type === 'unpause' || e.type === 'resume') && sameVersion(e, d)),
  };
}

const msBetween = (from: string | undefined, to: string | undefined): number | undefined => {
  if (from === undefined || to === undefined) return undefined;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) ? ms : undefined;
};

function stepOf(e: AuditEntry, d: Decision, decidedAt: string | undefined): ReportStep | undefined {
  const step = e.step;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0 || step >= d.plan.length) return undefined;
  const loggedAt = isString(e.loggedAt) ? e.loggedAt : undefined;
  const afterMs = msBetween(decidedAt, loggedAt);
  return {
    step,
    connector: isString(e.connector) ? e.connector : d.plan[step]!,
    status: e.type === 'action' ? 'done' : 'failed',
    ...(typeof e.changed === 'boolean' ? { changed: e.changed } : {}),
    ...(isString(e.detail) ? { detail: e.detail } : {}),
    ...(isString(e.error) ? { error: e.error } : {}),
    ...(isString(e.code) ? { code: e.code } : {}),
    ...(typeof e.attempt === 'number' ? { attempt: e.attempt } : {}),
    ...(typeof e.dryRun === 'boolean' ? { dryRun: e.dryRun } : {}),
    ...(loggedAt === undefined ? {} : { loggedAt }),
    ...(afterMs === undefined ? {} : { afterMs }),
  };
}

/** The plan's steps in order: each step's last entry wins (a step re-run by a retry); steps without one: not run. */
function planOf(d: Decision, entries: readonly AuditEntry[], decidedAt: string | undefined): ReportModel['plan'] {
  const byStep: (ReportStep | undefined)[] = [];
  for (const e of entries) {
    const s = stepOf(e, d, decidedAt);
    if (s) byStep[s.step] = s;
  }
  const steps = d.plan.map((connector, step): ReportStep => byStep[step] ?? { step, connector, status: 'not run' });
  if (steps.length === 0) return { state: 'none', steps };
  const failed = steps.find((s) => s.status === 'failed');
  if (failed) {
    const note = `The plan stopped at step ${failed.step + 1} (${failed.connector}): the steps after it were not run.`;
    return { state: 'failed', steps, note };
  }
  if (steps.every((s) => s.status === 'done')) return { state: 'completed', steps };
  return {
    state: 'unfinished',
    steps,
    note: 'Steps without an audit entry have not been done yet (they run in order), or their entries are in an audit log not read here.',
  };
}

function manualOf(d: Decision, entries: readonly AuditEntry[], decidedAt: string | undefined): ReportManualAction[] {
  const out: ReportManualAction[] = [];
  for (const e of entries) {
    if (!isString(e.by) || !isString(e.reason)) continue;
    const at = isString(e.loggedAt) ? e.loggedAt : undefined;
    const afterMs = msBetween(decidedAt, at);
    out.push({
      action: e.type,
      by: e.by,
      reason: e.reason,
      ...(isString(e.token) ? { token: e.token } : {}),
      ...(at === undefined ? {} : { at }),
      ...(afterMs === undefined ? {} : { afterMs }),
    });
  }
  if (d.manual) {
    const at = new Date(d.manual.atUnixMs).toISOString();
    const own: ReportManualAction = {
      action: d.outcome,
      by: d.manual.by,
      reason: d.manual.reason,
      token: d.manual.token,
      at,
      isDecision: true,
    };
    const afterMs = msBetween(decidedAt, at);
    if (afterMs !== undefined) own.afterMs = afterMs;
    const i = out.findIndex((m) => m.at !== undefined && m.at > at);
    out.splice(i < 0 ? out.length : i, 0, own);
  }
  return out;
}

function notificationsOf(entries: readonly AuditEntry[]): ReportNotification[] {
  return entries.map((e) => ({
    notifier: isString(e.notifier) ? e.notifier : 'unknown',
    kind: isString(e.kind) ? e.kind : 'unknown',
    error: `${isString(e.error) ? e.error : 'no detail recorded'}${isString(e.code) ? ` [${e.code}]` : ''}`,
    ...(typeof e.attempt === 'number' ? { attempt: e.attempt } : {}),
    ...(isString(e.loggedAt) ? { loggedAt: e.loggedAt } : {}),
  }));
}

/** The analysis of the run that decided, and its looks up to the decision, from the first source that has them. */
function evidenceOf(
  d: Decision,
  sources: readonly ReportSources[],
): Pick<ReportModel, 'totals' | 'looks' | 'looksNote'> {
  const held = sources.filter((s) => s.analysis !== undefined || s.looks !== undefined);
  const run = held.find((s) => s.analysis?.decisionId === d.id) ?? held.find((s) => s.analysis === undefined);
  if (run === undefined) {
    return {
      looksNote:
        held.length > 0
          ? `Analysis ${d.analysis} in memory now is a later run of canary ${d.canaryVersion} (resumed since): the looks of this decision's run are no longer kept. The verdicts at the decision follow.`
          : `Analysis ${d.analysis} is no longer in memory (its looks are kept only while the agent holds the analysis): the verdicts at the decision follow.`,
    };
  }
  const looks = (run.looks ?? []).filter((l) => l.look <= d.look);
  const out: Pick<ReportModel, 'totals' | 'looks' | 'looksNote'> = { looks };
  const first = looks[0];
  if (first !== undefined && first.look > 1)
    out.looksNote = `Only looks ${first.look} to ${looks[looks.length - 1]!.look} are kept (the oldest are dropped past 720 looks).`;
  const a = run.analysis;
  if (a !== undefined) {
    const pick = (c: { requests: number; errors: number }) => ({ requests: c.requests, errors: c.errors });
    out.totals = { source: 'analysis', baseline: pick(a.totals.baseline), canary: pick(a.totals.canary) };
  } else if (first !== undefined) {
    const sum = (cohort: 'baseline' | 'canary', what: 'requests' | 'errors') =>
      looks.reduce((n, l) => n + l[what][cohort], 0);
    out.totals = {
      source: 'looks',
      firstLook: first.look,
      baseline: { requests: sum('baseline', 'requests'), errors: sum('baseline', 'errors') },
      canary: { requests: sum('canary', 'requests'), errors: sum('canary', 'errors') },
    };
  }
  return out;
}

/** The deciding metrics, each with the threshold beyond which the canary counts as worse (from its last look). */
function whyOf(d: Decision, looks: readonly LookPoint[] | undefined): ReportModel['why'] {
  const last = looks?.[looks.length - 1];
  const deciding = decidingVerdicts(d).map((v) => {
    const threshold = last?.metrics.find((m) => m.metric === v.metric)?.threshold;
    const verdict = describeVerdict(v);
    const compared = Number.isFinite(v.pValue) && Number.isFinite(v.alpha);
    const side = !compared ? '' : v.pValue <= v.alpha ? '; p-value at or below its alpha' : '; p-value above its alpha';
    return `${verdict}${side}${threshold === undefined ? '' : `; worse beyond ${threshold.toFixed(2)}`}`;
  });
  const notes: string[] = [];
  const validity = describeValidity(d);
  if (validity !== undefined) notes.push(validity);
  const confidence = describeConfidence(d);
  if (confidence !== undefined) notes.push(confidence);
  const others = otherVerdicts(d);
  if (others.length > 0)
    notes.push(
      `Other metrics: ${others.map((v) => `${v.metric} ${v.phase}${v.shadow ? ' (shadow)' : ''}`).join(', ')}.`,
    );
  return { reason: d.reason, deciding, notes, plan: describePlan(d) };
}

function resumeOf(
  d: Decision,
  input: ReportInput,
  manual: readonly ReportManualAction[],
  heldNow: AnalysisSnapshot | undefined,
): ReportModel['resume'] {
  if (d.test)
    return { note: 'A synthetic decision of `vigil connectors test`: no canary was analysed, nothing to resume.' };
  const url = `${input.apiUrl}/api/v1/analyses/${encodeURIComponent(d.analysis)}/resume`;
  const cli = `vigil resume ${shellQuote(d.analysis)} --by 'YOUR NAME' --reason 'WHY' --api ${shellQuote(input.apiUrl)}`;
  const curl = [
    `curl -X POST ${shellQuote(url)} \\`,
    `  -H "Authorization: Bearer $VIGIL_TOKEN" -H 'content-type: application/json' \\`,
    `  -d '{"by": "YOUR NAME", "reason": "WHY"}'`,
  ].join('\n');
  const resumed = manual.find((m) => m.action === 'resume' && (m.afterMs ?? 0) >= 0 && !m.isDecision);
  let note: string;
  if (resumed)
    note = `Already resumed by ${resumed.by}${resumed.at ? ` at ${resumed.at}` : ''}: canary ${d.canaryVersion} is analysed again.`;
  else if (heldNow === undefined)
    note = `No replica holds analysis ${d.analysis} in memory now: a resume answers 404 (nothing to resume).`;
  else if (heldNow.phase === 'running')
    note = `Analysis ${d.analysis} is running again (a later run of canary ${d.canaryVersion}): a resume lifts a pause of that run.`;
  else
    note = `A resume lets Vigil analyse canary ${d.canaryVersion} of ${d.service} again (it does not undo the ${d.outcome}); it is recorded with who and why. The operate scope is needed.`;
  return { cli, curl, note };
}

function sourcesOf(input: ReportInput): string[] {
  const out = input.sources.map((s) => {
    const who = s.replica === undefined ? '' : `replica ${s.replica}: `;
    const cut =
      s.audit.from > 0
        ? ` (its last ${s.audit.size - s.audit.from} bytes of ${s.audit.size}: older entries were not read)`
        : '';
    return `${who}audit log ${s.audit.path}${cut}`;
  });
  for (const r of input.unreachable ?? []) out.push(`${r}: did not answer (its audit entries are missing here)`);
  return out;
}

/** The report of `input.decision` from what the sources hold. */
export function buildReport(input: ReportInput): ReportModel {
  const d = input.decision;
  const picked = entriesOf(mergedEntries(input.sources), d);
  const own = picked.own;
  const decidedAt =
    own && isString(own.loggedAt) ? own.loggedAt : d.manual ? new Date(d.manual.atUnixMs).toISOString() : undefined;
  const generatedAt = new Date(input.nowUnixMs).toISOString();
  const evidence = evidenceOf(d, input.sources);
  const manual = manualOf(d, picked.manual, decidedAt);
  const ageMs = msBetween(decidedAt, generatedAt);
  const heldNow = input.sources.find((s) => s.analysis !== undefined)?.analysis;
  return {
    generatedAt,
    title: explainDecision(d).title,
    decision: d,
    ...(decidedAt === undefined ? {} : { decidedAt }),
    ...(ageMs === undefined ? {} : { ageMs }),
    ...evidence,
    why: whyOf(d, evidence.looks),
    plan: planOf(d, picked.plan, decidedAt),
    notifications: notificationsOf(picked.notify),
    manual,
    resume: resumeOf(d, input, manual, heldNow),
    sources: sourcesOf(input),
  };
}

/**
 * What to look for in the audit log for decision `id` (of `d`, when known): a cheap test on a raw line (an entry's
 * string values appear JSON-encoded in its line, `"key":"value"`), then the exact test on the parsed entry. Keeps
 * the decision's own entry, its plan's and notifications' entries, and the `decision`, `pause`, `unpause` and
 * `resume` entries of its analysis (or, for entries without an analysis id, of its service and canary version).
 */
export function auditNeedles(
  id: string,
  d: Decision | undefined,
): { line: (raw: string) => boolean; entry: (e: AuditEntry) => boolean } {
  const pair = (k: string, v: string) => `${JSON.stringify(k)}:${JSON.stringify(v)}`;
  const needles = [pair('id', id), pair('decisionId', id), ...(d ? [pair('analysis', d.analysis)] : [])];
  const service = d && pair('service', d.service);
  const version = d && pair('canaryVersion', d.canaryVersion);
  const VERSION_TYPES = new Set(['decision', 'pause', 'unpause', 'resume']);
  return {
    line: (raw) =>
      needles.some((n) => raw.includes(n)) ||
      (service !== undefined && version !== undefined && raw.includes(service) && raw.includes(version)),
    entry: (e) =>
      (e.type === 'decision' && e.id === id) ||
      e.decisionId === id ||
      (d !== undefined && VERSION_TYPES.has(e.type) && sameVersion(e, d)),
  };
}

/** The decision of the sources (the first that knows it), else the last `decision` entry with this id. */
export function decisionFrom(sources: readonly ReportSources[], id: string): Decision | undefined {
  for (const s of sources) if (s.decision?.id === id) return s.decision;
  for (const s of sources)
    for (let i = s.entries.length - 1; i >= 0; i--) {
      const d = decisionOf(s.entries[i]!);
      if (d?.id === id) return d;
    }
  return undefined;
}
