/**
 * The nginx connector against a REAL nginx (Debian package): a non-root-friendly configuration in a temp
 * directory (pid, error_log and temp paths inside it, `daemon off` as a child process, 127.0.0.1 on a free
 * port) proxying to two local backends that answer their names.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type NginxOptions, nginxTrafficFactory } from '../../../../connectors/traffic/nginx.js';
import type { VigilError } from '../../../../src/errors.js';
import { connectorConformance } from '../../../helpers/connectors/conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../../helpers/connectors/fixtures.js';
import {
  type NamedBackend,
  type PeerProcess,
  findBinary,
  freePort,
  namedBackend,
  startPeer,
  tally,
  whoAnswers,
} from './proxy-peers.js';

interface Nginx {
  dir: string;
  bin: string;
  conf: string;
  include: string;
  other: string;
  url: string;
  splitUrl: string;
  baseline: NamedBackend;
  canary: NamedBackend;
  process: PeerProcess;
  upstreamFile(): string;
  /** Old workers that exited so far: one per completed reload (worker_processes 1). */
  reloadsDone(): number;
  waitForReloads(n: number): Promise<void>;
  close(): Promise<void>;
}

async function startNginx(): Promise<Nginx> {
  const bin = findBinary('nginx');
  const dir = mkdtempSync(join(tmpdir(), 'vigil-nginx-'));
  const [baseline, canary, port, splitPort] = [
    await namedBackend('baseline'),
    await namedBackend('canary'),
    await freePort(),
    await freePort(),
  ];
  const include = join(dir, 'checkout-upstream.conf');
  const other = join(dir, 'other.conf');
  const conf = join(dir, 'nginx.conf');
  mkdirSync(join(dir, 'tmp'));
  const upstreamFile = () =>
    [
      '# managed by the deploy pipeline; Vigil rewrites it on rollback',
      'upstream checkout {',
      `    server 127.0.0.1:${baseline.port} weight=1 max_fails=0;  # baseline`,
      `    server 127.0.0.1:${canary.port} weight=1 max_fails=0;  # canary`,
      '}',
      `upstream checkout_stable { server 127.0.0.1:${baseline.port}; }`,
      `upstream checkout_canary { server 127.0.0.1:${canary.port}; }`,
      'split_clients "${request_id}" $checkout_pool {',
      '    50%   checkout_canary;',
      '    *     checkout_stable;',
      '}',
      '',
    ].join('\n');
  writeFileSync(include, upstreamFile());
  writeFileSync(other, "# other teams' settings\n");
  writeFileSync(
    conf,
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} notice;`,
      'events { worker_connections 64; }',
      'http {',
      '    access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${join(dir, 'tmp', t)};`),
      `    include ${include};`,
      `    include ${other};`,
      `    server { listen 127.0.0.1:${port}; location / { proxy_pass http://checkout; } }`,
      `    server { listen 127.0.0.1:${splitPort}; location / { proxy_pass http://$checkout_pool; } }`,
      '}',
      '',
    ].join('\n'),
  );
  const url = `http://127.0.0.1:${port}/`;
  const proc = await startPeer(bin, ['-c', conf, '-e', join(dir, 'error.log')], async () =>
    ['baseline', 'canary'].includes(await whoAnswers(url)),
  );
  const log = () => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const reloadsDone = () => (log().match(/worker process \d+ exited with code/g) ?? []).length;
  return {
    dir,
    bin,
    conf,
    include,
    other,
    url,
    splitUrl: `http://127.0.0.1:${splitPort}/`,
    baseline,
    canary,
    process: proc,
    upstreamFile,
    reloadsDone,
    async waitForReloads(n) {
      const deadline = Date.now() + 10_000;
      while (reloadsDone() < n) {
        if (Date.now() > deadline) throw new Error(`nginx did not finish ${n} reloads:\n${log()}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async close() {
      await proc.stop();
      await Promise.all([baseline.close(), canary.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function connector(n: Nginx, extra: Partial<NginxOptions> = {}) {
  return asPlan(
    nginxTrafficFactory.create(
      'edge',
      nginxTrafficFactory.parse({
        includePath: n.include,
        upstream: 'checkout',
        baselineServer: `127.0.0.1:${n.baseline.port}`,
        canaryServer: `127.0.0.1:${n.canary.port}`,
        nginxBinary: n.bin,
        config: n.conf,
        ...extra,
      }),
      deps,
    ),
  );
}

let conformancePeer: Nginx | undefined;
connectorConformance('nginx', (t) => connector(conformancePeer!, { timeoutMs: t.timeoutMs }), {
  stateful: async () => {
    const n = await startNginx();
    conformancePeer = n;
    return {
      rollOut: () => Promise.resolve(writeFileSync(n.include, n.upstreamFile())),
      snapshot: () => Promise.resolve(readFileSync(n.include, 'utf8')),
      close: () => n.close(),
    };
  },
});

describe('nginx against a real nginx', () => {
  let n: Nginx;
  beforeAll(async () => {
    n = await startNginx();
  });
  afterAll(() => n.close());
  beforeEach(() => {
    writeFileSync(n.include, n.upstreamFile());
    writeFileSync(n.other, "# other teams' settings\n");
  });

  it('upstream form: before, both backends get traffic; after apply and reload, every request reaches the baseline', async () => {
    const before = await tally(n.url, 20);
    expect(before.baseline).toBeGreaterThan(0);
    expect(before.canary).toBeGreaterThan(0);

    const original = n.upstreamFile();
    const reloads = n.reloadsDone();
    const c = connector(n);
    const res = await c.apply(actionContext(rollbackDecision()));
    expect(res).toEqual({
      changed: true,
      detail: `rewrote ${n.include}: server 127.0.0.1:${n.canary.port} in upstream checkout: add down; ${n.bin} -t -q -c ${n.conf} passed; reloaded with ${n.bin} -s reload -c ${n.conf}`,
    });
    // Only the canary's server line changed, by exactly " down" before its ";".
    expect(readFileSync(n.include, 'utf8')).toBe(
      original.replace(
        `server 127.0.0.1:${n.canary.port} weight=1 max_fails=0;`,
        `server 127.0.0.1:${n.canary.port} weight=1 max_fails=0 down;`,
      ),
    );
    await n.waitForReloads(reloads + 1);
    const canaryHits = n.canary.hits;
    expect(await tally(n.url, 60)).toEqual({ baseline: 60 });
    expect(n.canary.hits).toBe(canaryHits);

    const rewritten = readFileSync(n.include, 'utf8');
    const again = await c.apply(actionContext(rollbackDecision()));
    expect(again.changed).toBe(false);
    expect(again.detail).toBe(
      `${n.include} already sends all traffic to the baseline (upstream checkout: server 127.0.0.1:${n.baseline.port} weight=1 max_fails=0; server 127.0.0.1:${n.canary.port} weight=1 max_fails=0 down)`,
    );
    expect(readFileSync(n.include, 'utf8')).toBe(rewritten);
  });

  it('split_clients form: the canary bucket yields the baseline upstream, and only the baseline answers', async () => {
    const before = await tally(n.splitUrl, 30);
    expect(before.canary).toBeGreaterThan(0);
    const reloads = n.reloadsDone();
    const c = connector(n, {
      upstream: undefined,
      baselineServer: undefined,
      canaryServer: undefined,
      variable: '$checkout_pool',
      baselineValue: 'checkout_stable',
      canaryValue: 'checkout_canary',
    });
    const res = await c.apply(actionContext(rollbackDecision()));
    expect(res.detail).toMatch(/^rewrote .*: split_clients \$checkout_pool: 50% checkout_canary → checkout_stable; /);
    expect(readFileSync(n.include, 'utf8')).toContain('    50%   checkout_stable;\n    *     checkout_stable;');
    await n.waitForReloads(reloads + 1);
    expect(await tally(n.splitUrl, 50)).toEqual({ baseline: 50 });
    expect((await c.apply(actionContext(rollbackDecision()))).changed).toBe(false);
  });

  it('dry run leaves the file untouched and reloads nothing', async () => {
    const reloads = n.reloadsDone();
    const res = await connector(n).apply(actionContext(rollbackDecision(), { dryRun: true }));
    expect(res).toEqual({
      changed: false,
      detail: `dry-run: would rewrite ${n.include}: server 127.0.0.1:${n.canary.port} in upstream checkout: add down; then ${n.bin} -t -q -c ${n.conf} and ${n.bin} -s reload -c ${n.conf}`,
    });
    expect(readFileSync(n.include, 'utf8')).toBe(n.upstreamFile());
    const probe = await tally(n.url, 20);
    expect(probe.canary).toBeGreaterThan(0);
    expect(n.reloadsDone()).toBe(reloads);
  });

  it('restores the previous file and fails permanently when nginx -t rejects the configuration', async () => {
    writeFileSync(n.other, 'bogus_directive on;\n');
    const err = (await connector(n)
      .apply(actionContext(rollbackDecision()))
      .catch((e: unknown) => e)) as VigilError;
    expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
    expect(err.message).toMatch(
      /-t -q -c .* rejected the rewritten .*: .*unknown directive "bogus_directive".*; the previous .* is restored$/s,
    );
    expect(readFileSync(n.include, 'utf8')).toBe(n.upstreamFile());
  });

  it('restores the previous file and fails retryably when the reload fails', async () => {
    const reloadCommand = [process.execPath, '-e', 'console.error("nginx.pid: no such file"); process.exit(1)'];
    const err = (await connector(n, { reloadCommand })
      .apply(actionContext(rollbackDecision()))
      .catch((e: unknown) => e)) as VigilError;
    expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', true]);
    expect(err.message).toMatch(/ failed: nginx\.pid: no such file; the previous .* is restored$/);
    expect(readFileSync(n.include, 'utf8')).toBe(n.upstreamFile());
  });

  it('restores the previous file when nginx cannot even be started (permanent)', async () => {
    const err = (await connector(n, {
      nginxBinary: join(n.dir, 'no-such-nginx'),
      reloadCommand: [n.bin, '-s', 'reload', '-c', n.conf],
    })
      .apply(actionContext(rollbackDecision()))
      .catch((e: unknown) => e)) as VigilError;
    expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
    expect(err.message).toMatch(/cannot run .*no-such-nginx: ENOENT/);
    expect(readFileSync(n.include, 'utf8')).toBe(n.upstreamFile());
  });

  it('health check: the named servers exist and nginx -t passes', async () => {
    const ctx = actionContext(rollbackDecision());
    await expect(connector(n).healthCheck!({ logger: ctx.logger, signal: ctx.signal })).resolves.toBeUndefined();
    await expect(
      connector(n, { canaryServer: '127.0.0.1:1' }).healthCheck!({ logger: ctx.logger, signal: ctx.signal }),
    ).rejects.toThrow(/upstream checkout has no "server 127\.0\.0\.1:1" \(the canary\)/);
    writeFileSync(n.other, 'bogus_directive on;\n');
    await expect(connector(n).healthCheck!({ logger: ctx.logger, signal: ctx.signal })).rejects.toThrow(
      /unknown directive/,
    );
  });
});
