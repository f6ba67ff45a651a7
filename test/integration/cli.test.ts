import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';

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
    expect(await run('validate', join(fixtures, 'valid/full.yaml'))).toBe(0);
    expect(stdout).toMatch(/full\.yaml: valid \(config hash [0-9a-f]{16}\)/);
    expect(stdout).toContain('plan: notify-hook');
  });

  it('validate names the file, line, key and fix, and exits 2', async () => {
    const file = join(fixtures, 'invalid/VIGIL_ERR_CONFIG_UNKNOWN_CONNECTOR--plan.yaml');
    expect(await run('validate', file)).toBe(2);
    expect(stderr).toContain(`${file}:4:`);
    expect(stderr).toContain('plan[1]');
    expect(stderr).toContain('fix:');
  });

  it('serve refuses an invalid config with exit code 2 before listening', async () => {
    expect(await run('serve', '--config', join(fixtures, 'invalid/VIGIL_ERR_CONFIG_INVALID--alpha-out-of-range.yaml'))).toBe(2);
    expect(stderr).toContain('analysis.alpha');
  });

  it('--help explains every command; unknown commands exit 2', async () => {
    expect(await run('--help')).toBe(0);
    for (const c of ['serve', 'validate', 'replay', 'demo', 'status']) expect(stdout).toContain(c);
    expect(await run('replay', '--help')).toBe(0);
    expect(stdout).toContain('--format');
    expect(await run('frobnicate')).toBe(2);
  });

  it('replay without --config is a usage error', async () => {
    expect(await run('replay', 'x.jsonl')).toBe(2);
    expect(stderr).toContain('--config');
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
