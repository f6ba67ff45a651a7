/**
 * The install on any machine: package-lock.json must be complete for EVERY platform (npm ci on macOS or arm
 * refuses a lock that lacks its optional binaries, even though it never downloads other platforms' ones),
 * and every locked package must run on the oldest Node.js that package.json, the README, the image and CI
 * promise. Both were broken once: msgpackr-extract's darwin/win32 entries were missing (the image could not
 * be built) and cookie@2 (via light-my-request) declared Node >= 22.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');
const read = (f: string) => readFileSync(join(root, f), 'utf8');

interface LockEntry {
  version?: string;
  optional?: boolean;
  engines?: { node?: string } | string[];
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}
const lock = JSON.parse(read('package-lock.json')) as { lockfileVersion: number; packages: Record<string, LockEntry> };
const pkg = JSON.parse(read('package.json')) as { engines: { node: string }; overrides?: Record<string, string> };

/** Where node (and npm) resolve `dep` required from the package at `from`: nearest node_modules up the tree. */
function resolveIn(from: string, dep: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base ? `${base}/` : ''}node_modules/${dep}`;
    if (lock.packages[candidate]) return candidate;
    if (!base) return undefined;
    const i = base.lastIndexOf('/node_modules/');
    base = i < 0 ? '' : base.slice(0, i);
  }
}

describe('package-lock.json', () => {
  it('is a v3 lock', () => {
    expect(lock.lockfileVersion).toBe(3);
  });

  it('lists every optional dependency of every package, whatever platform it is for (npm ci needs them all)', () => {
    const missing: string[] = [];
    let checked = 0;
    for (const [path, entry] of Object.entries(lock.packages)) {
      for (const dep of Object.keys(entry.optionalDependencies ?? {})) {
        checked++;
        if (!resolveIn(path, dep)) missing.push(`${path || '(root)'} → ${dep}`);
      }
    }
    expect(checked).toBeGreaterThan(50); // esbuild alone has two dozen platform binaries
    expect(
      missing,
      'run `npm install` on a machine whose registry serves every platform, or write the entries from `npm view <pkg>@<version> dist.integrity os cpu`',
    ).toEqual([]);
  });

  it('lists msgpackr-extract for every platform it ships (the entry whose absence broke npm ci)', () => {
    for (const p of ['darwin-arm64', 'darwin-x64', 'linux-arm', 'linux-arm64', 'linux-x64', 'win32-x64']) {
      const e = lock.packages[`node_modules/@msgpackr-extract/msgpackr-extract-${p}`];
      expect(e, p).toBeDefined();
      expect(e!.optional).toBe(true);
    }
  });

  it('holds no package whose engines exclude the oldest Node.js that package.json accepts', () => {
    const oldest = semver.minVersion(pkg.engines.node)!.version;
    expect(oldest).toBe('20.19.0');
    const excluded = Object.entries(lock.packages)
      .filter(
        ([, e]) =>
          e.engines && !Array.isArray(e.engines) && e.engines.node && !semver.satisfies(oldest, e.engines.node),
      )
      .map(([p, e]) => `${p}@${e.version} needs node ${(e.engines as { node: string }).node}`);
    expect(excluded).toEqual([]);
  });

  it("pins light-my-request to a line whose cookie runs on Node 20, and fastify's range accepts it", () => {
    // The override holds this tree; the direct dependency holds a project that installs Vigil (overrides
    // of a dependency are ignored there), where npm dedupes fastify's ^6 onto it.
    expect(pkg.overrides?.['light-my-request']).toBe('6.6.0');
    expect((pkg as unknown as { dependencies: Record<string, string> }).dependencies['light-my-request']).toBe('6.6.0');
    const fastifyRange = lock.packages['node_modules/fastify']!.dependencies!['light-my-request']!;
    expect(semver.satisfies('6.6.0', fastifyRange)).toBe(true);
    const lmr = resolveIn('node_modules/fastify', 'light-my-request')!;
    expect(lock.packages[lmr]!.version).toBe('6.6.0');
    expect(semver.satisfies(lock.packages[resolveIn(lmr, 'cookie')!]!.version!, '1.x')).toBe(true);
  });
});

describe('one Node.js version everywhere', () => {
  const major = semver.minVersion(pkg.engines.node)!.major;

  it('the image builds and runs on the same major as engines', () => {
    const froms = [...read('Dockerfile').matchAll(/^FROM\s+node:(\d+)[^\s]*/gm)].map((m) => Number(m[1]));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f).toBe(major);
  });

  it('the README promises the same minimum as engines', () => {
    expect(read('README.md')).toContain(
      `Node.js >= ${semver.minVersion(pkg.engines.node)!.major}.${semver.minVersion(pkg.engines.node)!.minor}`,
    );
  });

  it('the test command refuses an older Node.js with the same minimum', () => {
    expect(read('scripts/test.sh')).toContain(
      `maj < ${major} || (maj === ${major} && min < ${semver.minVersion(pkg.engines.node)!.minor})`,
    );
  });
});

describe('the one test command', () => {
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;

  it('npm test installs or starts the peers, then runs vitest; CI runs exactly the README command', () => {
    expect(scripts.test).toBe('bash scripts/test.sh');
    const testSh = read('scripts/test.sh');
    for (const peer of ['redis-server', 'nginx', 'haproxy', 'postgresql']) expect(testSh).toContain(peer);
    expect(testSh).toMatch(/exec node_modules\/\.bin\/vitest run "\$@"/);
    const readmeTest = /^```sh\n(?:.*\n)*?(npm test)\s+#/m.exec(read('README.md'));
    expect(readmeTest?.[1]).toBe('npm test');
    const ci = read('.ci/run');
    expect(ci).toMatch(/^npm test$/m);
    expect(ci).toMatch(/^npm ci\b/m);
  });
});

describe('the licence', () => {
  it('LICENSE holds the Apache License 2.0 that package.json declares, and the package ships it', () => {
    const manifest = JSON.parse(read('package.json')) as { license: string; files: string[] };
    expect(manifest.license).toBe('Apache-2.0');
    expect(manifest.files).toContain('LICENSE');
    const text = read('LICENSE');
    expect(text).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
    expect(text).toContain('TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION');
    expect(text).toContain('END OF TERMS AND CONDITIONS');
  });
});
