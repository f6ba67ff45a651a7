/**
 * The audit log on a real file: reading its tail back (readAuditTail), serving the decisions read back
 * (restore), and a torn last line that never swallows the next entry.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../../src/contracts/decision.js';
import { createAuditLog, readAuditTail } from '../../../src/decide/audit-log.js';
import { isVigilError } from '../../../src/errors.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'vigil-audit-'));

function decision(id: string): Decision {
  return {
    id,
    analysis: 'cart:2',
    service: 'cart',
    outcome: 'rollback',
    reason: 'error rate doubled',
    canaryVersion: '2',
    baselineVersion: '1',
    look: 3,
    eventTimeUnixMs: 1_767_225_630_000,
    verdicts: [],
    configHash: 'h',
    plan: ['hook'],
    dryRun: false,
  };
}

const line = (o: object): string => `${JSON.stringify(o)}\n`;

describe('readAuditTail', () => {
  it('a missing file is an empty log', async () => {
    expect(await readAuditTail(join(tmp(), 'none.jsonl'))).toEqual({
      entries: [],
      skipped: 0,
      torn: false,
      from: 0,
      size: 0,
    });
  });

  it('reads what the audit log wrote, in order', async () => {
    const path = join(tmp(), 'audit.jsonl');
    const log = createAuditLog(path, { sync: false, now: () => Date.UTC(2026, 0, 1) });
    await log.recordDecision(decision('d1'));
    await log.append({ type: 'action', decisionId: 'd1', step: 0 });
    await log.close();
    const tail = await readAuditTail(path);
    expect(tail.entries).toEqual([
      { type: 'decision', ...decision('d1'), loggedAt: '2026-01-01T00:00:00.000Z' },
      { type: 'action', decisionId: 'd1', step: 0, loggedAt: '2026-01-01T00:00:00.000Z' },
    ]);
    expect(tail).toMatchObject({ skipped: 0, torn: false, from: 0, size: readFileSync(path).length });
  });

  it('skips and counts malformed lines and a torn last line; a last line missing only its newline is kept', async () => {
    const dir = tmp();
    const torn = join(dir, 'torn.jsonl');
    writeFileSync(
      torn,
      line({ type: 'a' }) +
        'not json\n' +
        line([1, 2]) +
        line({ notype: 1 }) +
        '\n' +
        line({ type: 'b' }) +
        '{"type":"c","x":',
    );
    expect(await readAuditTail(torn)).toMatchObject({
      entries: [{ type: 'a' }, { type: 'b' }],
      skipped: 4,
      torn: true,
    });
    const unterminated = join(dir, 'unterminated.jsonl');
    writeFileSync(unterminated, line({ type: 'a' }) + JSON.stringify({ type: 'b' }));
    expect(await readAuditTail(unterminated)).toMatchObject({
      entries: [{ type: 'a' }, { type: 'b' }],
      skipped: 0,
      torn: false,
    });
  });

  it('reads only the last maxBytes and drops the partial line at the cut', async () => {
    const path = join(tmp(), 'audit.jsonl');
    const lines = Array.from({ length: 10 }, (_, i) => line({ type: 'n', i, pad: 'x'.repeat(20) }));
    writeFileSync(path, lines.join(''));
    const size = lines.join('').length;
    const len = lines[0]!.length; // every line is as long (i is one digit)
    // the cut in the middle of line 6: lines 7..9 are read, the rest of line 6 is dropped (uncounted)
    const cut = await readAuditTail(path, { maxBytes: size - (6 * len + 5) });
    expect(cut.entries.map((e) => e.i)).toEqual([7, 8, 9]);
    expect(cut).toMatchObject({ skipped: 0, torn: false, from: 6 * len + 5, size });
    // the cut exactly at the start of line 6: line 6 is whole, and read
    const atStart = await readAuditTail(path, { maxBytes: size - 6 * len });
    expect(atStart.entries.map((e) => e.i)).toEqual([6, 7, 8, 9]);
    // a window inside one line: nothing
    expect((await readAuditTail(path, { maxBytes: 3 })).entries).toEqual([]);
  });

  it('keeps only the lines `lines` accepts, unparsed otherwise: a malformed line it refuses is not even counted', async () => {
    const path = join(tmp(), 'audit.jsonl');
    const big = 'x'.repeat(1_500_000); // across the 1 MiB chunk
    writeFileSync(
      path,
      line({ type: 'action', decisionId: 'd-1', s: big }) +
        line({ type: 'action', decisionId: 'd-2' }) +
        '{not json "d-2"\n' +
        '{not json "d-1"\n' +
        JSON.stringify({ type: 'resume', decisionId: 'd-1' }), // the last line, without its newline
    );
    const tail = await readAuditTail(path, { lines: (l) => l.includes('"d-1"') });
    expect(tail.entries.map((e) => [e.type, e.decisionId])).toEqual([
      ['action', 'd-1'],
      ['resume', 'd-1'],
    ]);
    expect(tail).toMatchObject({ skipped: 1, torn: false });
    expect((await readAuditTail(path, { lines: (l) => l.includes('nothing') })).entries).toEqual([]);
  });

  it('reads across chunk boundaries: lines longer than the 1 MiB chunk and multi-byte characters at the seams', async () => {
    const path = join(tmp(), 'audit.jsonl');
    const big = 'é'.repeat(700_000); // 1.4 MB of UTF-8 per line
    writeFileSync(path, line({ type: 'big', s: big }) + line({ type: 'small' }) + line({ type: 'big', s: big }));
    const tail = await readAuditTail(path);
    expect(tail.entries.map((e) => e.type)).toEqual(['big', 'small', 'big']);
    expect(tail.entries[2]!.s).toBe(big);
    expect(tail.skipped).toBe(0);
  });

  it('fails with VIGIL_ERR_AUDIT_READ when the path exists and cannot be read', async () => {
    const err: unknown = await readAuditTail(tmp()).catch((e: unknown) => e); // a directory
    expect(isVigilError(err) && err.code).toBe('VIGIL_ERR_AUDIT_READ');
  });
});

describe('the audit log after a crash mid-append', () => {
  it('ends a torn last line before its first append, so the next entry stays whole', async () => {
    const path = join(tmp(), 'audit.jsonl');
    writeFileSync(path, line({ type: 'decision-ish' }) + '{"type":"action","decisionId":"d1","st');
    const log = createAuditLog(path, { sync: false });
    await log.append({ type: 'action', decisionId: 'd1', step: 1 });
    await log.close();
    const tail = await readAuditTail(path);
    expect(tail.entries.map((e) => [e.type, e.step])).toEqual([
      ['decision-ish', undefined],
      ['action', 1],
    ]);
    expect(tail).toMatchObject({ skipped: 1, torn: false });
  });

  it('adds nothing to a log that ends with a newline', async () => {
    const path = join(tmp(), 'audit.jsonl');
    writeFileSync(path, line({ type: 'a' }));
    const log = createAuditLog(path, { sync: false });
    await log.append({ type: 'b' });
    await log.close();
    expect(readFileSync(path, 'utf8').split('\n')).toHaveLength(3); // a, b, and the empty string after the last \n
    expect((await readAuditTail(path)).entries.map((e) => e.type)).toEqual(['a', 'b']);
  });
});

describe('AuditLog.restore', () => {
  it('serves the decisions read back, so the API lists them after a restart', async () => {
    const path = join(tmp(), 'audit.jsonl');
    const before = createAuditLog(path, { sync: false });
    for (const id of ['d1', 'd2']) await before.recordDecision(decision(id));
    await before.append({ type: 'action', decisionId: 'd2', step: 0 });
    await before.close();

    const after = createAuditLog(path, { sync: false });
    expect(after.recentDecisions()).toEqual([]);
    expect(after.restore((await readAuditTail(path)).entries)).toBe(2);
    expect(after.recentDecisions()).toEqual([decision('d1'), decision('d2')]);
    expect(after.findDecision('d2')).toEqual(decision('d2'));
    await after.close();
  });

  it('puts them before the ones recorded since (each id once) and keeps the newest keepDecisions', async () => {
    const path = join(tmp(), 'audit.jsonl');
    const before = createAuditLog(path, { sync: false });
    for (const id of ['d1', 'd2', 'd3']) await before.recordDecision(decision(id));
    await before.close();

    const after = createAuditLog(path, { sync: false, keepDecisions: 3 });
    await after.recordDecision(decision('d4')); // in the file too: read back, and not listed twice
    expect(after.restore((await readAuditTail(path)).entries)).toBe(2);
    expect(after.recentDecisions().map((d) => d.id)).toEqual(['d2', 'd3', 'd4']);
    expect(after.findDecision('d1')).toBeUndefined();
    await after.close();
  });
});
