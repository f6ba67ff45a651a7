/** The command deployer running real programs (node scripts, /bin/sh) as child processes. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { type CommandOptions, commandDeployerFactory } from '../../../../connectors/deployers/command.js';
import type { VigilError } from '../../../../src/errors.js';
import { connectorConformance } from '../../../helpers/connectors/conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../../helpers/connectors/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-command-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const node = process.execPath;

/** Whether a process runs (a zombie waiting for a reaper does not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function script(file: string, body: string): string {
  const p = join(dir, file);
  writeFileSync(p, body);
  return p;
}

/** A "deploy tool" keeping its state in a file: rollback writes the baseline, check compares. */
const stateFile = join(dir, 'state');
const rollback = script(
  'rollback.mjs',
  `
import { writeFileSync } from 'node:fs';
writeFileSync(process.argv[2], 'baseline ' + process.env.VIGIL_BASELINE_VERSION);
console.log('rolled back ' + process.env.VIGIL_SERVICE + ' to ' + process.env.VIGIL_BASELINE_VERSION);
`,
);
const check = script(
  'check.mjs',
  `
import { readFileSync } from 'node:fs';
process.exit(readFileSync(process.argv[2], 'utf8') === 'baseline ' + process.env.VIGIL_BASELINE_VERSION ? 0 : 1);
`,
);

function connector(extra: Partial<CommandOptions> = {}) {
  return asPlan(
    commandDeployerFactory.create(
      'helm-undo',
      commandDeployerFactory.parse({
        command: [node, rollback, stateFile],
        check: [node, check, stateFile],
        ...extra,
      }),
      deps,
    ),
  );
}

connectorConformance('command', (t) => connector({ timeoutMs: t.timeoutMs }), {
  stateful: () =>
    Promise.resolve({
      rollOut: (v) => Promise.resolve(writeFileSync(stateFile, `canary ${v}`)),
      snapshot: () => Promise.resolve(readFileSync(stateFile, 'utf8')),
      close: () => Promise.resolve(),
    }),
});

describe('command deployer', () => {
  beforeEach(() => writeFileSync(stateFile, 'canary v1.8.0'));

  it('runs the command with the decision in VIGIL_* variables and placeholders, and captures its output', async () => {
    const dump = script(
      'dump.mjs',
      `
const keys = ['VIGIL_CONNECTOR','VIGIL_SERVICE','VIGIL_ANALYSIS_ID','VIGIL_DECISION_ID','VIGIL_CANARY_VERSION','VIGIL_BASELINE_VERSION','VIGIL_OUTCOME','EXTRA'];
console.log(JSON.stringify({ args: process.argv.slice(2), env: Object.fromEntries(keys.map((k) => [k, process.env[k]])), decision: JSON.parse(process.env.VIGIL_DECISION).id, reason: process.env.VIGIL_REASON }));
`,
    );
    const c = connector({
      command: [
        node,
        dump,
        'rollback',
        '{service}',
        '--to={baselineVersion}',
        'from-{canaryVersion}',
        '{decisionId}/{analysisId}',
      ],
      check: undefined,
      env: { EXTRA: 'x1' },
    });
    const res = await c.apply(actionContext(rollbackDecision()));
    expect(res.changed).toBe(true);
    const prefix = `ran ${node} ${dump} rollback checkout --to=v1.7.3 from-v1.8.0 dec-01JH2Q7K8Z/checkout (exit 0): `;
    expect(res.detail.startsWith(prefix)).toBe(true);
    expect(JSON.parse(res.detail.slice(prefix.length))).toEqual({
      args: ['rollback', 'checkout', '--to=v1.7.3', 'from-v1.8.0', 'dec-01JH2Q7K8Z/checkout'],
      env: {
        VIGIL_CONNECTOR: 'helm-undo',
        VIGIL_SERVICE: 'checkout',
        VIGIL_ANALYSIS_ID: 'checkout',
        VIGIL_DECISION_ID: 'dec-01JH2Q7K8Z',
        VIGIL_CANARY_VERSION: 'v1.8.0',
        VIGIL_BASELINE_VERSION: 'v1.7.3',
        VIGIL_OUTCOME: 'rollback',
        EXTRA: 'x1',
      },
      decision: 'dec-01JH2Q7K8Z',
      reason: rollbackDecision().reason,
    });
  });

  it('check exit 0 means already rolled back: the command does not run', async () => {
    const c = connector();
    expect((await c.apply(actionContext(rollbackDecision()))).detail).toBe(
      `ran ${node} ${rollback} ${stateFile} (exit 0): rolled back checkout to v1.7.3`,
    );
    writeFileSync(stateFile, 'baseline v1.7.3');
    const marker = join(dir, 'ran-anyway');
    const second = await connector({
      command: [node, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`],
    }).apply(actionContext(rollbackDecision()));
    expect(second).toEqual({ changed: false, detail: `${node} ${check} ${stateFile} exited 0: already rolled back` });
    expect(existsSync(marker)).toBe(false);
  });

  it('a non-zero exit fails with the output tail, permanently unless retryOnFailure; env values are masked', async () => {
    const fail = script(
      'fail.mjs',
      `console.log('x'.repeat(3000)); console.error('token hunter2-secret rejected: release not found'); process.exit(3);`,
    );
    const err = (await connector({ command: [node, fail], check: undefined, env: { TOKEN: 'hunter2-secret' } })
      .apply(actionContext(rollbackDecision()))
      .catch((e: unknown) => e)) as VigilError;
    expect([err.code, err.retryable, err.details.exitCode]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false, 3]);
    expect(err.message).toMatch(/failed \(exit 3\): …x+\ntoken \*\*\* rejected: release not found$/);
    expect(err.message).not.toContain('hunter2-secret');
    expect(err.message.length).toBeLessThan(700);
    const retry = (await connector({ command: [node, fail], check: undefined, retryOnFailure: true })
      .apply(actionContext(rollbackDecision()))
      .catch((e: unknown) => e)) as VigilError;
    expect(retry.retryable).toBe(true);
  });

  it('keeps only the last maxOutputBytes of the output in the detail', async () => {
    const chatty = script('chatty.mjs', `for (let i = 0; i < 2000; i++) console.log('line ' + i);`);
    const res = await connector({ command: [node, chatty], check: undefined, maxOutputBytes: 64 }).apply(
      actionContext(rollbackDecision()),
    );
    expect(res.detail).toMatch(/\(exit 0\): …[\s\S]*line 1999$/);
    expect(res.detail.split('(exit 0): ')[1]!.length).toBeLessThanOrEqual(65);
  });

  it('on timeout kills the whole process group, grandchildren included', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    rmSync(pidFile, { force: true });
    const c = connector({
      shell: true,
      command: [`sleep 300 & echo $! > ${pidFile}; wait`],
      check: undefined,
      timeoutMs: 1_000,
    });
    const err = (await c.apply(actionContext(rollbackDecision())).catch((e: unknown) => e)) as VigilError;
    expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_TIMEOUT', true]);
    expect((err.cause as Error).name).toBe('TimeoutError');
    expect(alive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
  });

  it('honours an abort while the command runs', async () => {
    const ac = new AbortController();
    const pending = connector({ command: [node, '-e', 'setInterval(() => {}, 1000)'], check: undefined }).apply(
      actionContext(rollbackDecision(), { signal: ac.signal }),
    );
    setTimeout(() => ac.abort(new Error('worker shutting down')), 100);
    const err = (await pending.catch((e: unknown) => e)) as VigilError;
    expect([err.code, err.retryable, (err.cause as Error).message]).toEqual([
      'VIGIL_ERR_CONNECTOR_ABORTED',
      true,
      'worker shutting down',
    ]);
  });

  it('a missing program fails permanently; the health check says so first', async () => {
    const c = connector({ command: ['/nonexistent/helm', 'rollback'], check: undefined });
    const ctx = actionContext(rollbackDecision());
    await expect(c.healthCheck!({ logger: ctx.logger, signal: ctx.signal })).rejects.toThrow(
      /\/nonexistent\/helm is not an executable program/,
    );
    const err = (await c.apply(ctx).catch((e: unknown) => e)) as VigilError;
    expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
    expect(err.message).toMatch(/cannot run \/nonexistent\/helm: ENOENT/);
    await expect(
      connector({ command: ['node', '--version'], check: undefined }).healthCheck!({
        logger: ctx.logger,
        signal: ctx.signal,
      }),
    ).resolves.toBeUndefined();
  });

  it('refuses a placeholder value that could act as a flag, running nothing', async () => {
    const marker = join(dir, 'flag-ran');
    const c = connector({
      command: [node, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`, '{canaryVersion}'],
      check: undefined,
    });
    const err = (await c
      .apply(actionContext(rollbackDecision({ canaryVersion: '--force' })))
      .catch((e: unknown) => e)) as VigilError;
    expect(err.message).toMatch(/\{canaryVersion\} is "--force", which Vigil does not put into a command line/);
    expect(existsSync(marker)).toBe(false);
  });

  it('shell mode runs one script through /bin/sh; dry run runs nothing and shows the command line', async () => {
    const sh = connector({
      shell: true,
      command: [`printf '%s>%s' "$VIGIL_CANARY_VERSION" "$VIGIL_BASELINE_VERSION" > ${stateFile}`],
      check: undefined,
    });
    const dry = await sh.apply(actionContext(rollbackDecision(), { dryRun: true }));
    expect(dry).toEqual({
      changed: false,
      detail: `dry-run: would run /bin/sh -c 'printf '\\''%s>%s'\\'' "$VIGIL_CANARY_VERSION" "$VIGIL_BASELINE_VERSION" > ${stateFile}' with the decision in VIGIL_* variables`,
    });
    expect(readFileSync(stateFile, 'utf8')).toBe('canary v1.8.0');
    expect((await sh.apply(actionContext(rollbackDecision()))).changed).toBe(true);
    expect(readFileSync(stateFile, 'utf8')).toBe('v1.8.0>v1.7.3');
  });
});
