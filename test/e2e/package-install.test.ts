/**
 * Installing Vigil as a package, as the README tells a new user: `npm pack` (or the git URL) into another
 * project, then `npx --no-install vigil`. `npx vigil` outside such a project would fetch an unrelated npm
 * package called `vigil`; `--no-install` refuses instead. The install must not warn about engines on the
 * Node.js the README promises (package.json `overrides` do not reach a consumer, direct pins do).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'vigil-pkg-'));
const npm = (args: string[], cwd: string) =>
  spawnSync('npm', [...args, '--no-audit', '--no-fund'], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_loglevel: 'warn' },
  });

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('vigil installed as a package into another project', () => {
  it('packs, installs without engine warnings, and runs through npx --no-install', () => {
    // --ignore-scripts: dist/ is built by npm ci's `prepare`; rebuilding it here would race the other tests that run it.
    const packed = npm(['pack', '--ignore-scripts', '--pack-destination', work], root);
    expect(packed.status, packed.stderr).toBe(0);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    expect(tarball).toMatch(/^vigil-\d+\.\d+\.\d+\.tgz$/);

    const project = join(work, 'ops-project');
    execFileSync('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'ops-project', private: true }));
    const installed = npm(['install', join(work, tarball!)], project);
    expect(installed.status, installed.stderr).toBe(0);
    expect(installed.stderr).not.toContain('EBADENGINE');

    const version = spawnSync('npx', ['--no-install', 'vigil', '--version'], { cwd: project, encoding: 'utf8' });
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);

    const help = spawnSync('npx', ['--no-install', 'vigil', 'serve', '--help'], { cwd: project, encoding: 'utf8' });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('4318');
  }, 180_000);

  it('npx --no-install vigil outside such a project refuses instead of fetching another package', () => {
    const elsewhere = mkdtempSync(join(work, 'elsewhere-'));
    const r = spawnSync('npx', ['--no-install', 'vigil', '--version'], { cwd: elsewhere, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toMatch(/^\d+\.\d+\.\d+$/m);
  }, 60_000);
});
