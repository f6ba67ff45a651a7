/**
 * The audit log: one JSON object per line, appended and flushed to disk (fdatasync) before `append`
 * resolves, so a decision is durable BEFORE any job is enqueued for it. Writes are serialised in call
 * order. The last decisions are also kept in memory (bounded) for the API and the dashboard; at start the
 * agent reads the log's tail back (`readAuditTail`) and `restore`s them.
 *
 * A crash in the middle of an append can leave a last line without its newline. Before its first append the log
 * ends such a line (writes the missing "\n"), so the fragment stays one malformed line that readers skip, and
 * never swallows the next entry.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Decision } from '../contracts/index.js';
import { VigilError } from '../errors.js';
import { decisionOf, type AuditEntry } from './audit-replay.js';

export type { AuditEntry } from './audit-replay.js';

export interface AuditLog {
  readonly path: string;
  append(entry: AuditEntry): Promise<void>;
  recordDecision(decision: Decision): Promise<void>;
  /**
   * Serves the decisions of `entries` (read back at start, see `readAuditTail`) from `recentDecisions` and
   * `findDecision`, as if this process had recorded them: before the ones recorded since (a decision whose id is
   * held already is not added again), within the same bound (the newest `keepDecisions` in all). Writes nothing.
   * Returns how many of them are kept.
   */
  restore(entries: readonly AuditEntry[]): number;
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

/** Opens the log for appending; a last line without its newline (a torn append) gets one first. */
async function openForAppend(path: string): Promise<FileHandle> {
  await mkdir(dirname(path), { recursive: true });
  const fh = await open(path, 'a+');
  try {
    const { size } = await fh.stat();
    if (size > 0) {
      const last = Buffer.alloc(1);
      await fh.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) await fh.appendFile('\n', 'utf8');
    }
  } catch (e) {
    await fh.close();
    throw e;
  }
  return fh;
}

export function createAuditLog(path: string, opts: AuditOptions = {}): AuditLog {
  const keep = opts.keepDecisions ?? 1000;
  const sync = opts.sync ?? true;
  const now = opts.now ?? Date.now;
  let decisions: Decision[] = [];
  let handle: Promise<FileHandle> | undefined;
  let chain: Promise<void> = Promise.resolve();

  const file = () => {
    handle ??= openForAppend(path);
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

  const bound = () => {
    if (decisions.length > keep) decisions.splice(0, decisions.length - keep);
  };

  return {
    path,
    append,
    async recordDecision(decision) {
      await append({ type: 'decision', ...decision });
      decisions.push(decision);
      bound();
    },
    restore(entries) {
      const held = new Set(decisions.map((d) => d.id));
      const restored: Decision[] = [];
      for (const e of entries) {
        const d = decisionOf(e);
        if (d && !held.has(d.id)) restored.push(d);
      }
      const since = decisions.length;
      decisions = [...restored.slice(-keep), ...decisions];
      bound();
      return Math.max(0, decisions.length - since);
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

/** What `readAuditTail` read. */
export interface AuditTail {
  /** The entries (JSON objects with a string `type`), in file order. */
  entries: AuditEntry[];
  /** Lines skipped because they were not such an object (malformed), a torn last line included. */
  skipped: number;
  /** The last line had no newline and did not parse: an append cut by a crash (it is counted in `skipped`). */
  torn: boolean;
  /** Offset of the first byte read: the file was longer than `maxBytes` when > 0 (older entries were not read;
   *  the partial line at the cut was dropped, uncounted). */
  from: number;
  /** Size of the file when it was read (0: no file). */
  size: number;
}

export interface AuditTailOptions {
  /** Read at most the last `maxBytes` of the file (default 64 MiB). */
  maxBytes?: number;
  /**
   * Keep only the lines this accepts, tested on the raw line before it is parsed (a cheap substring test: an entry's
   * string values appear JSON-encoded in its line), so a reader that wants a few entries of a long log parses and
   * holds only those. Lines it refuses are neither kept nor counted in `skipped`. Default: every line.
   */
  lines?: (line: string) => boolean;
}

export const DEFAULT_AUDIT_TAIL_BYTES = 64 * 1024 * 1024;
const CHUNK_BYTES = 1024 * 1024;

/** Parses complete lines into `tail` (blank lines and lines `keep` refuses are ignored, other lines that are no entry
 *  are counted). */
function parseLines(text: string, tail: AuditTail, keep: ((line: string) => boolean) | undefined): void {
  for (const line of text.split('\n')) {
    if (line.trim() === '' || (keep !== undefined && !keep(line))) continue;
    const entry = parseEntry(line);
    if (entry) tail.entries.push(entry);
    else tail.skipped++;
  }
}

function parseEntry(line: string): AuditEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  const ok = typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as AuditEntry).type === 'string';
  return ok ? (v as AuditEntry) : undefined;
}

/**
 * Reads the audit log back: the entries of its last `maxBytes` (default 64 MiB), in order. When the file is longer,
 * the partial line at the cut is dropped. A last line without a newline is an entry when it parses (only its
 * newline is missing), else a torn append (`torn`); malformed lines are skipped and counted. Never fails on the
 * content; a missing file is an empty log. Reads in 1 MiB chunks: memory is the entries plus one chunk and one
 * line. Throws VIGIL_ERR_AUDIT_READ when the file exists and cannot be read.
 */
export async function readAuditTail(path: string, opts: AuditTailOptions = {}): Promise<AuditTail> {
  const maxBytes = Math.max(1, Math.floor(opts.maxBytes ?? DEFAULT_AUDIT_TAIL_BYTES));
  const tail: AuditTail = { entries: [], skipped: 0, torn: false, from: 0, size: 0 };
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return tail;
    throw readError(path, e);
  }
  try {
    tail.size = (await fh.stat()).size;
    tail.from = Math.max(0, tail.size - maxBytes);
    const rest = await readLines(fh, tail, opts.lines);
    const last = rest.toString('utf8');
    if (last.trim() !== '' && (opts.lines === undefined || opts.lines(last))) {
      const entry = parseEntry(last);
      if (entry) tail.entries.push(entry);
      else {
        tail.torn = true;
        tail.skipped++;
      }
    }
    return tail;
  } catch (e) {
    throw readError(path, e);
  } finally {
    await fh.close();
  }
}

/** Reads `[tail.from, tail.size)` and parses its complete lines; returns the bytes after the last newline. When
 *  `from` > 0, reading starts one byte earlier and everything up to the first newline is dropped: a line that
 *  began before `from` is partial (the byte before it is a newline when the cut fell on a line start). */
async function readLines(fh: FileHandle, tail: AuditTail, keep?: (line: string) => boolean): Promise<Buffer> {
  let pos = tail.from > 0 ? tail.from - 1 : 0;
  let dropFirst = tail.from > 0;
  let carry = Buffer.alloc(0);
  const chunk = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(1, tail.size - pos)));
  while (pos < tail.size) {
    const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, tail.size - pos), pos);
    if (bytesRead === 0) break; // truncated while reading
    pos += bytesRead;
    const data = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
    let start = 0;
    if (dropFirst) {
      const nl = data.indexOf(0x0a);
      if (nl < 0) {
        carry = Buffer.alloc(0); // still inside the partial first line: nothing to keep
        continue;
      }
      start = nl + 1;
      dropFirst = false;
    }
    const last = data.lastIndexOf(0x0a);
    if (last >= start) {
      parseLines(data.toString('utf8', start, last), tail, keep);
      start = last + 1;
    }
    carry = Buffer.from(data.subarray(start)); // a copy: `chunk` is reused
  }
  return dropFirst ? Buffer.alloc(0) : carry;
}

function readError(path: string, e: unknown): VigilError {
  return new VigilError('VIGIL_ERR_AUDIT_READ', [`${path}: ${e instanceof Error ? e.message : String(e)}`], {
    cause: e,
  });
}
