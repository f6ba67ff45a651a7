/**
 * The audit log: one JSON object per line, appended and flushed to disk (fdatasync) before `append`
 * resolves, so a decision is durable BEFORE any job is enqueued for it. Writes are serialised in call
 * order. The last decisions are also kept in memory (bounded) for the API and the dashboard.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Decision } from '../contracts/index.js';
import { VigilError } from '../errors.js';

export interface AuditEntry extends Record<string, unknown> {
  type: string;
}

export interface AuditLog {
  readonly path: string;
  append(entry: AuditEntry): Promise<void>;
  recordDecision(decision: Decision): Promise<void>;
  recentDecisions(): readonly Decision[];
  findDecision(id: string): Decision | undefined;
  close(): Promise<void>;
}

export interface AuditOptions {
  /** Kept in memory for the API. */
  keepDecisions?: number;
  /** fdatasync after each line (default true). */
  sync?: boolean;
  now?: () => number;
}

export function createAuditLog(path: string, opts: AuditOptions = {}): AuditLog {
  const keep = opts.keepDecisions ?? 1000;
  const sync = opts.sync ?? true;
  const now = opts.now ?? Date.now;
  const decisions: Decision[] = [];
  let handle: Promise<FileHandle> | undefined;
  let chain: Promise<void> = Promise.resolve();

  const file = () => {
    handle ??= mkdir(dirname(path), { recursive: true }).then(() => open(path, 'a'));
    return handle;
  };

  const append = (entry: AuditEntry): Promise<void> => {
    const line = `${JSON.stringify({ ...entry, loggedAt: new Date(now()).toISOString() })}\n`;
    const next = chain.then(async () => {
      try {
        const fh = await file();
        await fh.appendFile(line, 'utf8');
        if (sync) await fh.datasync();
      } catch (e) {
        throw new VigilError('VIGIL_ERR_AUDIT_WRITE', [`${path}: ${e instanceof Error ? e.message : String(e)}`], {
          cause: e,
        });
      }
    });
    chain = next.catch(() => undefined);
    return next;
  };

  return {
    path,
    append,
    async recordDecision(decision) {
      await append({ type: 'decision', ...decision });
      decisions.push(decision);
      if (decisions.length > keep) decisions.splice(0, decisions.length - keep);
    },
    recentDecisions: () => decisions,
    findDecision: (id) => decisions.find((d) => d.id === id),
    async close() {
      await chain;
      if (handle) await (await handle).close();
      handle = undefined;
    },
  };
}
