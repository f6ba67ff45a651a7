/**
 * The Dockerfile parser and runner rules behind the image test (test/e2e/image.test.ts): what they
 * understand, and that they refuse the rest instead of skipping it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDockerDuration, parseDockerfile, parseDockerignore } from '../../helpers/dockerfile.js';
import { buildEnv, mapRunCommand } from '../../helpers/dockerfile-run.js';

describe('parseDockerfile', () => {
  it("reads the project's Dockerfile: a build stage and a runtime stage", () => {
    const stages = parseDockerfile(readFileSync(new URL('../../../Dockerfile', import.meta.url), 'utf8'));
    expect(stages.map((s) => s.name ?? s.image)).toEqual(['build', 'node:20-bookworm-slim']);
    expect(stages[1]!.instructions.find((i) => i.kind === 'COPY')).toMatchObject({
      from: 'build',
      sources: ['/app/node_modules'],
      dest: './node_modules',
    });
    expect(stages[1]!.instructions.find((i) => i.kind === 'ENTRYPOINT')).toMatchObject({
      command: { exec: ['node', '/app/bin/vigil.js'] },
    });
  });

  it('joins continuation lines, drops comments, reads both ENV forms, exec and shell forms', () => {
    const [stage] = parseDockerfile(
      [
        '# syntax=docker/dockerfile:1',
        'FROM node:20 AS b',
        'RUN npm ci \\',
        '# a comment inside the continuation',
        '    --ignore-scripts',
        'ENV A=1 B="two words" C=x\\ y',
        'ENV LEGACY some value',
        'HEALTHCHECK --interval=30s --timeout=3s CMD ["node", "-e", "1"]',
        'CMD serve',
      ].join('\n'),
    );
    expect(stage!.instructions).toEqual([
      { kind: 'RUN', line: 3, command: { shell: 'npm ci --ignore-scripts' } },
      {
        kind: 'ENV',
        line: 6,
        vars: [
          ['A', '1'],
          ['B', 'two words'],
          ['C', 'x y'],
        ],
      },
      { kind: 'ENV', line: 7, vars: [['LEGACY', 'some value']] },
      {
        kind: 'HEALTHCHECK',
        line: 8,
        options: { interval: '30s', timeout: '3s' },
        command: { exec: ['node', '-e', '1'] },
      },
      { kind: 'CMD', line: 9, command: { shell: 'serve' } },
    ]);
  });

  it.each([
    ['ARG V=1', /line 2: instruction ARG is not understood/],
    ['ADD x.tgz /app/', /line 2: instruction ADD is not understood/],
    ['VOLUME /data', /line 2: instruction VOLUME is not understood/],
    ['COPY --link src ./src', /COPY flag --link is not understood/],
    ['COPY src/*.ts ./src/', /COPY wildcards/],
    ['COPY a b ./dir', /several sources/],
    ['WORKDIR $HOME', /variable substitution in WORKDIR/],
    ['RUN --mount=type=cache,target=/root/.npm npm ci', /RUN flags/],
  ])('refuses %s', (instruction, message) => {
    expect(() => parseDockerfile(`FROM node:20\n${instruction}\n`)).toThrow(message);
  });

  it('refuses anything before FROM', () => {
    expect(() => parseDockerfile('ARG BASE=node:20\nFROM $BASE\n')).toThrow(/line 1: ARG before the first FROM/);
  });

  it('reads Docker durations', () => {
    expect(parseDockerDuration('3s')).toBe(3000);
    expect(parseDockerDuration('1m30s')).toBe(90_000);
    expect(() => parseDockerDuration('3')).toThrow();
  });
});

describe('RUN on the host', () => {
  it('maps absolute paths into the stage root and refuses unknown programs and shell syntax', () => {
    expect(mapRunCommand('mkdir -p /var/lib/vigil && chown node:node /var/lib/vigil', 1, '/tmp/r')).toBe(
      'mkdir -p /tmp/r/var/lib/vigil && chown node:node /tmp/r/var/lib/vigil',
    );
    expect(mapRunCommand('npm ci --prefix=/app', 1, '/tmp/r')).toBe('npm ci --prefix=/tmp/r/app');
    expect(() => mapRunCommand('apt-get install -y curl', 4, '/tmp/r')).toThrow(/line 4: .*"apt-get" is not one/);
    expect(() => mapRunCommand('npm ci || cat npm-debug.log', 4, '/tmp/r')).toThrow(/only a "&&" chain/);
    expect(() => mapRunCommand('mkdir "/data"', 4, '/tmp/r')).toThrow(/only a "&&" chain/);
  });

  it('runs npm without what the test runner or an enclosing npm put in the environment', () => {
    const env = buildEnv({
      PATH: '/bin',
      HOME: '/home/u',
      NODE_ENV: 'test',
      NODE_OPTIONS: '--import tsx',
      VITEST_POOL_ID: '1',
      npm_lifecycle_event: 'test',
      npm_config_local_prefix: '/repo',
      npm_config_registry: 'https://r.example/',
    });
    expect(env).toEqual({
      PATH: '/bin',
      HOME: '/home/u',
      npm_config_cache: expect.stringContaining('.npm') as string,
      npm_config_registry: 'https://r.example/',
    });
  });
});

describe('parseDockerignore', () => {
  const ignore = parseDockerignore('# comment\nnode_modules\n/dist/\n**/*.log\ndocs/*\n!docs/keep.md\n');
  it.each([
    ['node_modules', true],
    ['node_modules/x/index.js', true],
    ['src/node_modules', false],
    ['dist/src/cli.js', true],
    ['a/b/c.log', true],
    ['x.log', true],
    ['docs/a.md', true],
    ['docs/keep.md', false],
    ['src/cli.ts', false],
    ['package.json', false],
  ])('%s ignored: %s', (path, ignored) => {
    expect(ignore.ignores(path)).toBe(ignored);
  });
});
