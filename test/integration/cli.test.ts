import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';
import { wrapHelpText } from '../../src/cli-help.js';
import { fetchFailureReason, localApiUrl } from '../../src/status.js';
import { HttpPeer } from '../helpers/http-peer.js';

const root = join(import.meta.dirname, '../..');
const fixtures = join(root, 'fixtures/config');
let stdout = '';
let stderr = '';

beforeEach(() => {
  stdout = '';
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
});
afterEach(() => vi.restoreAllMocks());

const run = (...args: string[]) => main(['node', 'vigil', ...args]);

describe('vigil CLI', () => {
  it('validate accepts a valid config and summarises it', async () => {
    const token = process.env.VIGIL_TOKEN;
    process.env.VIGIL_TOKEN = 'cli-test-token';
    try {
      expect(await run('validate', join(fixtures, 'valid/full.yaml'))).toBe(0);
    } finally {
      if (token === undefined) delete process.env.VIGIL_TOKEN;
      else process.env.VIGIL_TOKEN = token;
    }
    expect(stdout).toMatch(/full\.yaml: valid \(config hash [0-9a-f]{16}\)/);
    expect(stdout).toContain('plan: notify-hook');
    expect(stdout).toContain('control API: 1 bearer token\n');
    expect(stdout).not.toContain('cli-test-token');
  });

  it('validate lists what the metrics beyond requests read (names are free text: not checked)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-validate-'));
    try {
      const file = join(dir, 'vigil.yaml');
      writeFileSync(
        file,
        [
          'analysis:',
          '  metrics:',
          '    - { name: error-rate, detector: error-rate-sequential }',
          '    - { name: checkout-errors, detector: error-rate-sequential, source: spans, where: { http.route: /checkout } }',
          '    - { name: db, detector: latency-sequential, options: { metric: db.client.operation.duration, tolerance: 0.1 } }',
          '    - name: conversion',
          '      detector: ratio-sequential',
          '      options: { numerator: { metric: checkout.completed }, denominator: { metric: checkout.started }, worse: lower }',
          '    - { name: memory, detector: gauge-sequential, options: { metric: process.memory.usage, tolerance: 0.2 } }',
          'server: { auth: { open: true } }',
          '',
        ].join('\n'),
      );
      expect(await run('validate', file)).toBe(0);
      expect(stdout).toContain(
        '  reads: checkout-errors ← requests (http.route=/checkout); db ← db.client.operation.duration; ' +
          'conversion ← checkout.completed per checkout.started; memory ← process.memory.usage\n',
      );
      expect(stdout).toContain('no points from either cohort in 12 looks');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('validate names the file, line, key and fix, and exits 2', async () => {
    const file = join(fixtures, 'invalid/VIGIL_ERR_CONFIG_UNKNOWN_CONNECTOR--plan.yaml');
    expect(await run('validate', file)).toBe(2);
    expect(stderr).toContain(`${file}:4:`);
    expect(stderr).toContain('plan[1]');
    expect(stderr).toContain('fix:');
  });

  it('validate reports every problem in one run and never prints a secret from the environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-validate-'));
    const SECRET = 'hunter2-Sup3rSecret-token';
    process.env.VIGIL_TEST_HOOK_SECRET = SECRET;
    try {
      const file = join(dir, 'vigil.yaml');
      writeFileSync(
        file,
        [
          'analysis:',
          '  minSamples: twenty-five',
          '  interval: "${VIGIL_TEST_HOOK_SECRET}"',
          '  metrics:',
          '    - { name: err, detector: error-rate-sequentail }',
          'plan: [kill-flag, nope]',
          'connectors:',
          '  - { name: kill-flag, type: webhok }',
          '  - { name: hook, type: webhook, options: { url: "${VIGIL_TEST_UNSET_HOOK_URL}", timeoutMs: "${VIGIL_TEST_HOOK_SECRET}" } }',
          'server: { api: { port: "${VIGIL_TEST_HOOK_SECRET}" } }',
          '',
        ].join('\n'),
      );
      expect(await run('validate', file)).toBe(2);
      expect(stderr).toMatch(/^9 problems in the config:\n/);
      for (const key of [
        'analysis.minSamples',
        'analysis.interval',
        'analysis.metrics[0].detector',
        'plan[1]',
        'connectors[0].type',
        'connectors[1].options.url',
        'connectors[1].options',
        'server.auth', // no token: validate checks as serve loads
        'server.api.port',
      ])
        expect(stderr).toContain(` ${key}: `);
      expect(stderr).toContain("analysis.minSamples: expected a number, got 'twenty-five'");
      expect(stderr).toContain('environment variable VIGIL_TEST_UNSET_HOOK_URL is not set');
      expect(stderr).not.toContain('absolute URL'); // the empty url the unset variable left is not a second problem
      expect(stderr).not.toContain(SECRET);
      expect(stdout).not.toContain(SECRET);
    } finally {
      delete process.env.VIGIL_TEST_HOOK_SECRET;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serve refuses an invalid config with exit code 2 before listening', async () => {
    expect(
      await run('serve', '--config', join(fixtures, 'invalid/VIGIL_ERR_CONFIG_INVALID--alpha-out-of-range.yaml')),
    ).toBe(2);
    expect(stderr).toContain('analysis.alpha');
  });

  describe('a config that would disarm Vigil is refused, never silently accepted', () => {
    let dir: string;
    let token: string | undefined;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'vigil-disarm-'));
      token = process.env.VIGIL_TOKEN;
      delete process.env.VIGIL_TOKEN;
    });
    afterEach(() => {
      rmSync(dir, { recursive: true, force: true });
      if (token !== undefined) process.env.VIGIL_TOKEN = token;
    });
    const file = (text: string) => {
      const f = join(dir, 'vigil.yaml');
      writeFileSync(f, text);
      return f;
    };
    const AUTH = 'server: { auth: { tokens: ["${VIGIL_TEST_CLI_TOKEN:-cli-token}"] } }\n';

    it.each([
      [
        'interval: 0s',
        'analysis:\n  interval: 0s\n',
        'analysis.interval: must be at least 1s, got 0s: no look would ever close',
      ],
      ['interval: -1s', 'analysis:\n  interval: -1s\n', 'analysis.interval: "-1s" is negative'],
      ['interval: 0 (ms)', 'analysis:\n  interval: 0\n', 'analysis.interval: must be at least 1s, got 0 (ms)'],
      [
        'silenceTimeout below the interval',
        'analysis:\n  interval: 30s\n  silenceTimeout: 10s\n',
        'analysis.silenceTimeout: silenceTimeout (10s) is shorter than one look interval (30s)',
      ],
      [
        'maxDuration not above the interval',
        'analysis:\n  interval: 1m\n  maxDuration: 1m\n',
        'analysis.maxDuration: maxDuration (1m) is not longer than one look interval (1m)',
      ],
      [
        'checkpointInterval: 10ms',
        'state:\n  checkpointInterval: 10ms\n',
        'state.checkpointInterval: must be at least 100ms',
      ],
      ['alpha: 0.9', 'analysis:\n  alpha: 0.9\n', 'analysis.alpha: must be at most 0.5, got 0.9'],
      ['attempts: 0', 'actions:\n  attempts: 0\n', 'actions.attempts: must be at least 1, got 0'],
      ['limits at 0', 'limits:\n  maxAnalyses: 0\n', 'limits.maxAnalyses: must be at least 1, got 0'],
    ])('validate exits 2 for %s, naming the file, the key and the fix', async (_label, text, problem) => {
      const f = file(`${AUTH}${text}`);
      expect(await run('validate', f)).toBe(2);
      expect(stderr).toContain(`${f}:`);
      expect(stderr).toContain(problem);
      expect(stderr).toContain('[VIGIL_ERR_CONFIG_INVALID]');
      expect(stderr).toMatch(/\n {4}fix: .+; see (README\.md#configuration|docs\/ingest\.md#limits-and-expiry)\n/);
      expect(stdout).toBe('');
    });

    it('an empty token is refused, not an open API', async () => {
      expect(await run('validate', file('server:\n  auth:\n    tokens: [""]\n'))).toBe(2);
      expect(stderr).toContain('server.auth.tokens[0]: the token is empty [VIGIL_ERR_CONFIG_AUTH]');
    });

    it('${VIGIL_TOKEN:-} with VIGIL_TOKEN unset is refused, naming the variable', async () => {
      const f = file('server:\n  auth:\n    tokens: ["${VIGIL_TOKEN:-}"]\n');
      expect(await run('validate', f)).toBe(2);
      expect(stderr).toContain(
        `${f}:3:14 server.auth.tokens[0]: environment variable VIGIL_TOKEN is not set, and its default after ":-" is empty`,
      );
      expect(stderr).toContain('fix: export VIGIL_TOKEN=<a long random token>');
      stderr = '';
      expect(await run('serve', '--config', f)).toBe(2);
      expect(stderr).toContain('environment variable VIGIL_TOKEN is not set');
    });

    it('no tokens without server.auth.open: validate and serve refuse it (before listening), naming both fixes', async () => {
      const f = file('analysis:\n  interval: 10s\n');
      for (const args of [
        ['validate', f],
        ['serve', '--config', f],
      ]) {
        stderr = '';
        expect(await run(...args)).toBe(2);
        expect(stderr).toContain('server.auth: the control API has no bearer token');
        expect(stderr).toContain('[VIGIL_ERR_CONFIG_AUTH]');
        expect(stderr).toContain('server.auth.tokens: ["${VIGIL_TOKEN}"]');
        expect(stderr).toContain('server.auth.open: true');
      }
      expect(stdout).toBe('');
      // a tool that serves no API reads the same file
      expect(
        await run(
          'replay',
          '--config',
          f,
          '--audit',
          join(dir, 'a.jsonl'),
          join(root, 'fixtures/recordings/healthy-canary.jsonl.gz'),
        ),
      ).toBe(0);
    });

    it('serve without --config takes the token from VIGIL_TOKEN, or refuses naming it', async () => {
      expect(await run('serve')).toBe(2);
      expect(stderr).toContain(
        '<defaults> server.auth.tokens: without --config the control API takes its bearer token from VIGIL_TOKEN, which is not set',
      );
    });

    it('server.auth.open: true is valid, and said out loud', async () => {
      expect(await run('validate', file('server:\n  auth: { open: true }\n'))).toBe(0);
      expect(stdout).toContain('control API: OPEN to anyone who can reach it (server.auth.open: true)');
      expect(stdout).toMatch(/warning: server\.auth\.open is true: .*ANYONE .*RESUME rolled-back versions/);
    });
  });

  it('validate refuses an acting detector that is not anytime-valid, naming the metric and both fixes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-anytime-'));
    try {
      const f = join(dir, 'vigil.yaml');
      const config = (extra: string) =>
        [
          'server: { auth: { tokens: ["cli-token"] } }',
          'analysis:',
          '  metrics:',
          '    - { name: error-rate, detector: error-rate-sequential }',
          `    - { name: latency-kayenta, detector: kayenta-mann-whitney, options: { measure: latency-mean }${extra} }`,
          '',
        ].join('\n');
      writeFileSync(f, config(''));
      expect(await run('validate', f)).toBe(2);
      expect(stderr).toContain(
        `${f}:5:7 analysis.metrics[1]: metric "latency-kayenta" acts (shadow is not true) with detector kayenta-mann-whitney, which is not anytime-valid: its false alarms grow with the number of looks, so alpha no longer bounds the false rollbacks [VIGIL_ERR_CONFIG_NOT_ANYTIME_VALID]\n` +
          '    fix: set shadow: true to compare verdicts during a migration, or acknowledgeNotAnytimeValid: true to let it act knowing its false alarms grow with the number of looks; see docs/detectors.md#kayenta-mann-whitney\n',
      );
      expect(stdout).toBe('');

      writeFileSync(f, config(', shadow: true'));
      expect(await run('validate', f)).toBe(0);
      expect(stdout).toContain('over 1 acting metric(s) [error-rate, latency-kayenta (shadow)]');
      stdout = '';
      writeFileSync(f, config(', acknowledgeNotAnytimeValid: true'));
      expect(await run('validate', f)).toBe(0);
      expect(stdout).toContain('over 2 acting metric(s) [error-rate, latency-kayenta]');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--help explains every command; unknown commands exit 2', async () => {
    expect(await run('--help')).toBe(0);
    for (const c of ['serve', 'validate', 'replay', 'demo', 'status', 'decisions', 'report'])
      expect(stdout).toContain(c);
    expect(await run('replay', '--help')).toBe(0);
    expect(stdout).toContain('--format');
    expect(await run('frobnicate')).toBe(2);
  });

  describe('replay', () => {
    const recording = join(root, 'fixtures/recordings/healthy-canary.jsonl.gz');
    const recordingConfig = join(root, 'fixtures/recordings/vigil-backtest.yaml');
    /** Runs in a fresh empty working directory; returns what is in it afterwards. */
    async function inEmptyCwd(fn: () => Promise<void>): Promise<string[]> {
      const cwd = process.cwd();
      const dir = mkdtempSync(join(tmpdir(), 'vigil-replay-cwd-'));
      process.chdir(dir);
      try {
        await fn();
        return readdirSync(dir);
      } finally {
        process.chdir(cwd);
        rmSync(dir, { recursive: true, force: true });
      }
    }

    it('writes its audit log into a new temporary directory, prints its path, and leaves the cwd alone', async () => {
      const left = await inEmptyCwd(async () => {
        expect(await run('replay', '--config', recordingConfig, recording)).toBe(0);
      });
      expect(left).toEqual([]);
      expect(stdout).toContain('"outcome":"promote"');
      const m = /^vigil replay: audit log written to (.+)\n$/m.exec(stderr);
      expect(m, stderr).not.toBeNull();
      const audit = m![1]!;
      expect(audit.startsWith(join(tmpdir(), 'vigil-replay-'))).toBe(true);
      expect(audit.endsWith('/audit.jsonl')).toBe(true);
      expect(readFileSync(audit, 'utf8')).toContain('"outcome":"promote"');
      rmSync(join(audit, '..'), { recursive: true, force: true });
    });

    it('--audit names the file; without --config it runs on the embedded default', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vigil-replay-named-'));
      try {
        const audit = join(dir, 'named.jsonl');
        expect(await run('replay', '--config', recordingConfig, '--audit', audit, recording)).toBe(0);
        expect(existsSync(audit)).toBe(true);
        expect(stderr).toContain(`vigil replay: audit log written to ${audit}\n`);
        stdout = '';
        stderr = '';
        const left = await inEmptyCwd(async () => {
          expect(await run('replay', '--format', 'text', recording)).toBe(0);
        });
        expect(left).toEqual([]);
        expect(stdout).toMatch(/^summary: \{"type":"summary","files":1,/m);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('without a recording is a usage error', async () => {
      expect(await run('replay')).toBe(2);
      expect(stderr).toContain("missing required argument 'files'");
    });
  });

  it('--version and -V print the version of package.json and exit 0', async () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(await run('--version')).toBe(0);
    expect(stdout).toBe(`${version}\n`);
    stdout = '';
    expect(await run('-V')).toBe(0);
    expect(stdout).toBe(`${version}\n`);
    expect(stderr).toBe('');
  });

  it('the installed bin runs the built CLI (npm install builds it through `prepare`)', () => {
    expect(existsSync(join(root, 'dist/src/cli.js')), 'dist/ is missing: run `npm run build`').toBe(true);
    const r = spawnSync(process.execPath, [join(root, 'bin/vigil.js'), '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: vigil');
    const v = spawnSync(process.execPath, [join(root, 'bin/vigil.js'), '--version'], { encoding: 'utf8' });
    expect(v.status).toBe(0);
    expect(v.stdout).toMatch(/^\d+\.\d+\.\d+\S*\n$/);
    expect(v.stdout).not.toContain('unknown');
  });
});

/** A stand-in for the agent's API: answers /api/v1/analyses with `status` and `body`, or never (`hang`). */
function fakeApi(o: { status?: number; body?: unknown; hang?: boolean } = {}): Promise<HttpPeer> {
  return HttpPeer.start(() =>
    o.hang
      ? 'hang'
      : {
          status: o.status ?? 200,
          body: JSON.stringify(o.body ?? { analyses: [] }),
          headers: { 'content-type': 'application/json' },
        },
  );
}

describe('vigil decisions', () => {
  it('lists the recent decisions from /api/v1/decisions, one line each, with the token sent', async () => {
    const api = await fakeApi({
      body: {
        decisions: [
          {
            id: 'd-1f2e',
            analysis: 'cart:2',
            outcome: 'rollback',
            look: 7,
            eventTimeUnixMs: 1_767_225_670_000,
            reason: 'canary is worse: error-rate 5x',
          },
        ],
      },
    });
    try {
      expect(await run('decisions', '--api', api.url, '--token', 'r3ad')).toBe(0);
      expect(api.requests[0]!.path).toBe('/api/v1/decisions');
      expect(api.requests[0]!.headers.authorization).toBe('Bearer r3ad');
      expect(stdout).toBe(
        'd-1f2e  cart:2  rollback  look 7  2026-01-01T00:01:10.000Z  — canary is worse: error-rate 5x\n',
      );
    } finally {
      await api.close();
    }
  });

  it('an agent that refuses: one line naming the decisions URL, exit 1', async () => {
    const api = await fakeApi({ status: 403 });
    try {
      expect(await run('decisions', '--api', api.url)).toBe(1);
      expect(stderr).toBe(
        `vigil decisions: ${api.url}/api/v1/decisions: HTTP 403: the API needs a bearer token; pass --token <token> or set VIGIL_TOKEN\n`,
      );
    } finally {
      await api.close();
    }
  });
});

describe('vigil status', () => {
  const SECRET = 'sekret-token-4f1c';
  afterEach(() => {
    delete process.env.VIGIL_TOKEN;
  });

  it('without an agent: ONE line naming the URL and the reason, exit 1, no stack trace', async () => {
    const api = await fakeApi();
    await api.close(); // the port is now closed
    expect(await run('status', '--api', api.url)).toBe(1);
    expect(stderr).toBe(
      `vigil status: ${api.url}/api/v1/analyses: connection refused (ECONNREFUSED): is \`vigil serve\` running there? (point at it with --api or --config)\n`,
    );
  });

  it('gives up after --timeout', async () => {
    const api = await fakeApi({ hang: true });
    try {
      expect(await run('status', '--api', api.url, '--timeout', '200')).toBe(1);
      expect(stderr).toBe(`vigil status: ${api.url}/api/v1/analyses: no answer within 200 ms (--timeout)\n`);
    } finally {
      await api.close();
    }
  });

  it('a 401 says to pass --token or VIGIL_TOKEN', async () => {
    const api = await fakeApi({ status: 401, body: { error: 'unauthorized' } });
    try {
      expect(await run('status', '--api', api.url)).toBe(1);
      expect(stderr).toContain('HTTP 401: the API needs a bearer token; pass --token <token> or set VIGIL_TOKEN');
      expect(stderr.split('\n').filter(Boolean)).toHaveLength(1);
    } finally {
      await api.close();
    }
  });

  it('sends VIGIL_TOKEN, read when it runs, and never prints it (not even as the default in --help)', async () => {
    process.env.VIGIL_TOKEN = SECRET;
    expect(await run('status', '--help')).toBe(0);
    expect(stdout).toContain('(default: $VIGIL_TOKEN)');
    expect(stdout).not.toContain(SECRET);
    const api = await fakeApi({ status: 403 });
    try {
      expect(await run('status', '--api', api.url)).toBe(1);
      expect(api.requests[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
      expect(stderr).toContain('the token was refused');
      expect(stdout + stderr).not.toContain(SECRET);
    } finally {
      await api.close();
    }
  });

  it('--config takes the API host and port from server.api (0.0.0.0 → 127.0.0.1); --api overrides it', async () => {
    const api = await fakeApi({
      body: {
        analyses: [
          {
            id: 'checkout:v2',
            phase: 'running',
            look: 3,
            why: 'collecting',
            totals: { canary: { requests: 40 }, baseline: { requests: 400 } },
          },
        ],
      },
    });
    const dir = mkdtempSync(join(tmpdir(), 'vigil-status-'));
    try {
      const file = join(dir, 'vigil.yaml');
      // the agent's secrets are not needed to find its address
      writeFileSync(
        file,
        `server:\n  api: { host: 0.0.0.0, port: ${api.port} }\nnotifiers:\n  - { name: ops, type: slack, options: { webhookUrl: "\${SLACK_URL}" } }\n`,
      );
      expect(await run('status', '--config', file)).toBe(0);
      expect(stdout).toBe('checkout:v2  running  look 3  canary 40 / baseline 400 requests  — collecting\n');
      stdout = '';
      const closed = await fakeApi();
      await closed.close();
      expect(await run('status', '--config', file, '--api', closed.url)).toBe(1);
      expect(stderr).toContain(`${closed.url}/api/v1/analyses: connection refused`);
      expect(await run('status', '--api', 'localhost:8080')).toBe(2);
      expect(stderr).toContain('--api must be an http(s) URL');
      const unset = join(dir, 'unset.yaml');
      writeFileSync(unset, 'server:\n  api: { port: "${VIGIL_TEST_UNSET_API_PORT}" }\n');
      expect(await run('status', '--config', unset)).toBe(2);
      expect(stderr).toContain('server.api.port: environment variable VIGIL_TEST_UNSET_API_PORT is not set');
    } finally {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a wildcard listen address means this machine', () => {
    expect(localApiUrl({ host: '0.0.0.0', port: 8080 })).toBe('http://127.0.0.1:8080');
    expect(localApiUrl({ host: '::', port: 9000 })).toBe('http://[::1]:9000');
    expect(localApiUrl({ host: 'fd00::7', port: 80 })).toBe('http://[fd00::7]:80');
    expect(localApiUrl({ host: 'vigil.internal', port: 8080, publicUrl: 'https://vigil.example.com' })).toBe(
      'http://vigil.internal:8080',
    );
  });

  it('names the reason of a network failure from the error cause', () => {
    const failed = (cause: unknown) => new TypeError('fetch failed', { cause });
    expect(
      fetchFailureReason(
        failed(Object.assign(new Error('getaddrinfo ENOTFOUND vigil.internal'), { code: 'ENOTFOUND' })),
        5000,
      ),
    ).toBe('unknown host (ENOTFOUND)');
    expect(
      fetchFailureReason(
        failed(
          Object.assign(new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })]), {
            code: undefined,
          }),
        ),
        5000,
      ),
    ).toBe('connection refused (ECONNREFUSED)');
    expect(fetchFailureReason(new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 5000)).toBe(
      'no answer within 5000 ms (--timeout)',
    );
  });
});

/**
 * Lines of help text that were broken early: B continues A's paragraph (same column: A's text or A's
 * item description), yet B's first word would have fitted on A. Greedy wrapping never does that; a hard
 * "\n" inside a description that commander re-wraps does ("…/metrics\n(:8080).\nWithout…").
 */
function raggedLines(text: string, width: number): string[] {
  const lines = text.split('\n');
  const indent = (l: string) => /^ */.exec(l)![0].length;
  const bad: string[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    const a = lines[i]!;
    const b = lines[i + 1]!;
    if (!a.trim() || !b.trim() || a.trimEnd().endsWith('\\')) continue;
    if (/^[$#-]/.test(b.trim())) continue; // a new example, comment or option
    const item = /^( *\S+(?: \S+)*? {2,})\S/.exec(a);
    const column = item ? item[1]!.length : indent(a);
    if (indent(b) !== column) continue;
    const firstWord = b.trim().split(' ')[0]!;
    if (a.length + 1 + firstWord.length <= width) bad.push(`${a}⏎${b}`);
  }
  return bad;
}

describe('help', () => {
  const COMMANDS = [
    [],
    ['serve'],
    ['validate'],
    ['replay'],
    ['backtest'],
    ['demo'],
    ['connectors'],
    ['connectors', 'test'],
    ['status'],
    ['report'],
  ];
  afterEach(() => {
    delete process.env.COLUMNS;
  });

  it.each([80, 60])(
    'at width %i: no line is longer, none is broken early, every command has examples',
    async (width) => {
      process.env.COLUMNS = String(width);
      for (const cmd of COMMANDS) {
        stdout = '';
        expect(await run(...cmd, '--help')).toBe(0);
        const long = stdout.split('\n').filter((l) => l.length > width);
        expect(long, `vigil ${cmd.join(' ')} --help`).toEqual([]);
        expect(raggedLines(stdout, width), `vigil ${cmd.join(' ')} --help`).toEqual([]);
        expect(stdout, `vigil ${cmd.join(' ')} --help`).toMatch(/\nExamples:\n( {2}[#$] .*\n)+/);
      }
    },
  );

  it('the ragged-line check catches a hard line break re-wrapped by commander', () => {
    const before =
      'Run the agent: OTLP/HTTP receiver (:4318), control API, dashboard and /metrics\n(:8080).\nWithout --config it runs on the embedded default (in-process queue, no Redis, no\nrollback plan).';
    expect(raggedLines(before, 80)).toHaveLength(1);
  });

  it('vigil --help lists one-line summaries; serve --help names the three ports and that --config is optional', async () => {
    expect(await run('--help')).toBe(0);
    const commands = stdout.slice(stdout.indexOf('Commands:'), stdout.indexOf('\n\n', stdout.indexOf('Commands:')));
    expect(commands).toContain('Run the agent: OTLP in; decisions, rollbacks');
    expect(commands).not.toContain('4317');
    stdout = '';
    expect(await run('serve', '--help')).toBe(0);
    const flat = stdout.replace(/\s+/g, ' ');
    expect(flat).toContain('4317 for OTLP/gRPC');
    expect(flat).toContain('4318 for OTLP/HTTP');
    expect(flat).toContain('8080 for the control API, the dashboard and Prometheus /metrics');
    expect(flat).toContain('--config is optional');
  });

  it('wraps the text after the help: prose at its indentation, items under their description, examples with " \\"', () => {
    expect(wrapHelpText('  one two three four five six', 16)).toBe('  one two three\n  four five six');
    expect(wrapHelpText('  error=F   the canary fails F times as often', 30)).toBe(
      '  error=F   the canary fails F\n            times as often',
    );
    expect(wrapHelpText('  $ vigil backtest --config vigil.yaml --trials 500 a.jsonl', 40)).toBe(
      '  $ vigil backtest --config vigil.yaml \\\n      --trials 500 a.jsonl',
    );
    expect(wrapHelpText('  # a comment that is long enough', 20)).toBe('  # a comment that\n  # is long enough');
  });

  it('bad usage is ONE line naming the command, exit 2', async () => {
    for (const [args, line] of [
      [['frobnicate'], "vigil: unknown command 'frobnicate' (see vigil --help)"],
      [['status', '--frob'], "vigil status: unknown option '--frob' (see vigil status --help)"],
      [['connectors'], 'vigil connectors: missing command: test (see vigil connectors --help)'],
      [
        ['demo', '--requests', 'many'],
        "vigil demo: option '--requests <n>' argument 'many' is invalid. --requests must be a positive integer number of requests (see vigil demo --help)",
      ],
      [['validate'], "vigil validate: missing required argument 'file' (see vigil validate --help)"],
    ] as const) {
      stderr = '';
      expect(await run(...args)).toBe(2);
      expect(stderr).toBe(`${line}\n`);
    }
  });
});
