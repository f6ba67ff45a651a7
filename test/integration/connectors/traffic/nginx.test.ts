/**
 * The nginx connector against a REAL nginx (Debian package, `startNginx` in proxy-peers.ts): a non-root-friendly
 * configuration in a temp directory proxying to two local backends that answer their names.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type NginxOptions, nginxTrafficFactory } from '../../../../connectors/traffic/nginx.js';
import type { VigilError } from '../../../../src/errors.js';
import { connectorConformance } from '../../../helpers/connectors/conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../../helpers/connectors/fixtures.js';
import { type Nginx, fitsShare, startNginx, tally } from './proxy-peers.js';

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

  // the same nginx: each test starts from the upstream file and the other teams' settings (beforeEach above)
  describe('setCanaryShare', () => {
    const split = (c: Nginx) =>
      connector(c, {
        upstream: undefined,
        baselineServer: undefined,
        canaryServer: undefined,
        variable: '$checkout_pool',
        baselineValue: 'checkout_stable',
        canaryValue: 'checkout_canary',
      });

    /** Sets a share, waits for nginx's reload, and sends 200 requests through it. */
    async function step(c: ReturnType<typeof connector>, share: number, url: string) {
      const reloads = n.reloadsDone();
      const res = await c.setCanaryShare!(share, actionContext(rollbackDecision()));
      expect(res.changed).toBe(true);
      await n.waitForReloads(reloads + 1);
      const t = await tally(url, 200);
      observed.push(`${url === n.url ? 'upstream' : 'split_clients'} ${share}%: ${t.canary ?? 0}/200`);
      expect(fitsShare(t.canary ?? 0, 200, share), JSON.stringify(t)).toBe(true);
      return res;
    }

    it('upstream form: 5 → 25 → 100 rewrites weight= and the canary gets that share of the traffic', async () => {
      const c = connector(n);
      const b = `server 127.0.0.1:${n.baseline.port}`;
      const k = `server 127.0.0.1:${n.canary.port}`;
      const first = await step(c, 5, n.url);
      expect(first.detail).toMatch(/^canary share 5% \(was 50%\): rewrote /);
      expect(readFileSync(n.include, 'utf8')).toContain(
        `${b} weight=95 max_fails=0;  # baseline\n    ${k} weight=5 max_fails=0;`,
      );
      await step(c, 25, n.url);
      expect(readFileSync(n.include, 'utf8')).toContain(
        `${b} weight=75 max_fails=0;  # baseline\n    ${k} weight=25 max_fails=0;`,
      );
      const full = await step(c, 100, n.url);
      expect(full.detail).toMatch(/^canary share 100% \(was 25%\): /);
      expect(readFileSync(n.include, 'utf8')).toContain(`${b} weight=75 max_fails=0 down;`);
      // back from 100%: the baseline's down goes again
      await step(c, 2.5, n.url);
      expect(readFileSync(n.include, 'utf8')).toContain(
        `${b} weight=195 max_fails=0;  # baseline\n    ${k} weight=5 max_fails=0;`,
      );
    });

    it('split_clients form: 5 → 25 → 100 rewrites the percentage and the canary gets that share', async () => {
      const c = split(n);
      const first = await step(c, 5, n.splitUrl);
      expect(first.detail).toMatch(
        /^canary share 5% \(was 50%\): rewrote .*: split_clients \$checkout_pool: checkout_canary bucket 50% → 5%;/,
      );
      expect(readFileSync(n.include, 'utf8')).toContain('    5%   checkout_canary;\n    *     checkout_stable;');
      await step(c, 25, n.splitUrl);
      expect(readFileSync(n.include, 'utf8')).toContain('    25%   checkout_canary;\n    *     checkout_stable;');
      await step(c, 100, n.splitUrl);
      expect(readFileSync(n.include, 'utf8')).toContain('    100%   checkout_canary;\n    *     checkout_stable;');
    });

    it('the same share twice writes and reloads nothing; a dry run writes nothing and says whether it would change', async () => {
      for (const c of [connector(n), split(n)]) {
        writeFileSync(n.include, n.upstreamFile());
        const reloads = n.reloadsDone();
        const dry = await c.setCanaryShare!(25, actionContext(rollbackDecision(), { dryRun: true }));
        expect(dry.changed).toBe(true);
        expect(dry.detail).toMatch(/^dry-run: canary share 25% \(was 50%\): would rewrite /);
        expect(readFileSync(n.include, 'utf8')).toBe(n.upstreamFile());
        expect((await c.setCanaryShare!(25, actionContext(rollbackDecision()))).changed).toBe(true);
        await n.waitForReloads(reloads + 1);
        const after = readFileSync(n.include, 'utf8');
        const again = await c.setCanaryShare!(25, actionContext(rollbackDecision()));
        expect(again.changed).toBe(false);
        expect(again.detail).toMatch(/^canary share 25% \(was 25%\): .* already has it/);
        const dryAgain = await c.setCanaryShare!(25, actionContext(rollbackDecision(), { dryRun: true }));
        expect(dryAgain.changed).toBe(false);
        expect(readFileSync(n.include, 'utf8')).toBe(after);
        expect(n.reloadsDone()).toBe(reloads + 1);
      }
    });

    it('setCanaryShare(0) leaves exactly the file apply leaves, and apply after it changes nothing', async () => {
      for (const make of [() => connector(n), () => split(n)]) {
        writeFileSync(n.include, n.upstreamFile());
        await make().setCanaryShare!(25, actionContext(rollbackDecision()));
        const at25 = readFileSync(n.include, 'utf8');
        await make().apply(actionContext(rollbackDecision()));
        const applied = readFileSync(n.include, 'utf8');
        writeFileSync(n.include, at25);
        const zero = await make().setCanaryShare!(0, actionContext(rollbackDecision()));
        expect(zero.detail).toMatch(/^canary share 0% \(was 25%\): /);
        expect(readFileSync(n.include, 'utf8')).toBe(applied);
        expect((await make().apply(actionContext(rollbackDecision()))).changed).toBe(false);
        expect((await make().setCanaryShare!(0, actionContext(rollbackDecision()))).changed).toBe(false);
      }
      // nginx may merge reload signals that come in quick succession: wait until the last file is live
      await expect.poll(() => tally(n.splitUrl, 20), { timeout: 10_000 }).toEqual({ baseline: 20 });
    });

    it('rejects a share outside 0–100 or not finite, permanently, before reading anything', async () => {
      for (const bad of [-1, 100.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        const err = (await connector(n).setCanaryShare!(bad, actionContext(rollbackDecision())).catch(
          (e: unknown) => e,
        )) as VigilError;
        expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
      }
      expect(readFileSync(n.include, 'utf8')).toBe(n.upstreamFile());
    });
  });
});

const observed: string[] = [];
afterAll(() => {
  console.info(`nginx observed canary answers: ${observed.join('; ')}`);
});
