/**
 * Runs a Dockerfile's build WITHOUT a Docker engine, for the image test (test/e2e/image.test.ts): every
 * stage gets its own directory standing for its filesystem root (container path /app is <root>/app), and
 * its instructions run in order, as written:
 *
 * - WORKDIR creates the directory (as Docker does) and is where RUN runs; ENV applies to the later RUNs
 *   and to the image's process; USER and COPY --chown/--chmod are recorded, not emulated (the test runs
 *   as whoever runs the tests).
 * - COPY copies from the build context (honouring .dockerignore, refusing what it excludes as Docker
 *   does) or, with --from, from an earlier stage's root; a source directory's CONTENTS go to the
 *   destination, symlinks are copied as links.
 * - RUN runs with `/bin/sh -c` in the mapped WORKDIR. The host is not a container, so a RUN command must
 *   be a `&&` chain of known programs (RUN_PROGRAMS) without other shell syntax, and every absolute path
 *   in it is mapped into the stage's root; `chown` is replaced by a shim that only checks its paths
 *   exist. Anything else fails the build with a message saying what to teach this runner.
 * - The base image is not emulated: RUN and the image's process use the host's node and npm. npm uses
 *   the host's npm cache and registry settings (HOME, npm_config_cache, npm_config_registry), stated in
 *   `buildEnv`.
 */
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, posix, relative, sep } from 'node:path';
import {
  DockerfileError,
  parseDockerfile,
  parseDockerignore,
  type CommandForm,
  type DockerIgnore,
  type Instruction,
  type Stage,
} from './dockerfile.js';

export const RUN_PROGRAMS = ['npm', 'node', 'mkdir', 'chown', 'chmod', 'cp', 'mv', 'rm', 'ln', 'touch'] as const;

export interface StageResult {
  stage: Stage;
  /** The directory standing for this stage's filesystem root. */
  root: string;
  /** Container path of the current WORKDIR. */
  workdir: string;
  env: Record<string, string>;
  user?: string;
  expose: number[];
  stopSignal?: string;
  entrypoint?: CommandForm;
  cmd?: CommandForm;
  healthcheck?: { options: Record<string, string>; command: CommandForm | null };
}

export interface StepTiming {
  stage: string;
  line: number;
  instruction: string;
  ms: number;
}

export interface BuiltImage {
  stages: StageResult[];
  /** The last stage: the image. */
  image: StageResult;
  steps: StepTiming[];
}

/** The host path of a container path of a stage (relative paths are relative to its WORKDIR). */
export function hostPath(stage: StageResult, containerPath: string): string {
  const abs = posix.resolve(stage.workdir, containerPath);
  return join(stage.root, ...abs.split('/').filter(Boolean));
}

/**
 * The environment of RUN steps: the host's, without what the test runner or an enclosing `npm test` put
 * there (NODE_ENV=test, NODE_OPTIONS, VITEST_*, npm_lifecycle_*, npm_package_*, npm's prefixes ...), which
 * a `docker build` would not have; the npm cache and registry are kept and named explicitly.
 */
export function buildEnv(host: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(host)) {
    if (v === undefined) continue;
    if (/^(NODE_ENV|NODE_OPTIONS|NODE_PATH|INIT_CWD|VITEST.*|TEST|npm_.*)$/i.test(k)) continue;
    env[k] = v;
  }
  env.npm_config_cache = host.npm_config_cache ?? host.NPM_CONFIG_CACHE ?? join(homedir(), '.npm');
  const registry = host.npm_config_registry ?? host.NPM_CONFIG_REGISTRY;
  if (registry !== undefined) env.npm_config_registry = registry;
  return env;
}

function label(s: Stage): string {
  return s.name ?? `stage ${s.index}`;
}

function show(i: Instruction): string {
  switch (i.kind) {
    case 'COPY':
      return `COPY ${i.from !== undefined ? `--from=${i.from} ` : ''}${i.sources.join(' ')} ${i.dest}`;
    case 'RUN':
      return `RUN ${'exec' in i.command ? JSON.stringify(i.command.exec) : i.command.shell}`;
    case 'WORKDIR':
      return `WORKDIR ${i.path}`;
    default:
      return i.kind;
  }
}

function copyInto(src: string, dest: string, destIsDir: boolean, filter?: (source: string) => boolean): void {
  const target = destIsDir ? join(dest, basename(src)) : dest;
  if (lstatSync(src).isDirectory()) {
    // a directory's contents are copied, not the directory itself
    mkdirSync(dest, { recursive: true });
    cpSync(src, dest, { recursive: true, verbatimSymlinks: true, force: true, ...(filter ? { filter } : {}) });
  } else {
    mkdirSync(dirname(target), { recursive: true });
    cpSync(src, target, { verbatimSymlinks: true, force: true });
  }
}

/** `/x/y` and `--opt=/x/y` → the same path under the stage root. */
function mapPathWord(word: string, root: string): string {
  return word.replace(
    /^((?:--[a-z-]+=)?)(\/.*)$/,
    (_m, flag: string, p: string) => flag + join(root, ...p.split('/').filter(Boolean)),
  );
}

/** Splits a shell-form RUN into its `&&` chain and maps absolute paths into the stage root; refuses the rest. */
export function mapRunCommand(shell: string, line: number, root: string): string {
  if (/[;|`$<>()'"\\\n{}*?]/.test(shell.replace(/&&/g, ''))) {
    throw new DockerfileError(
      line,
      `RUN ${shell}: only a "&&" chain of plain commands (no quotes, pipes, redirections, variables, globs or subshells) is understood by the image test's runner (test/helpers/dockerfile-run.ts)`,
    );
  }
  return shell
    .split('&&')
    .map((part) => {
      const words = part.trim().split(/\s+/);
      if (!(RUN_PROGRAMS as readonly string[]).includes(words[0] ?? '')) {
        throw new DockerfileError(
          line,
          `RUN ${shell}: the program "${words[0]}" is not one the image test's runner knows how to run on the host (${RUN_PROGRAMS.join(', ')}); teach test/helpers/dockerfile-run.ts`,
        );
      }
      return words.map((w) => mapPathWord(w, root)).join(' ');
    })
    .join(' && ');
}

function run(
  argv: string[],
  opts: { cwd: string; env: Record<string, string>; timeoutMs: number; what: string },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${opts.what}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `${opts.what} failed (${signal ?? `exit ${code}`}${signal === 'SIGKILL' ? `, over ${opts.timeoutMs} ms` : ''}):\n${output.split('\n').slice(-40).join('\n')}`,
          ),
        );
    });
  });
}

export async function buildDockerfile(opts: {
  dockerfile: string;
  context: string;
  /** An empty directory: each stage's root is made under it. */
  workDir: string;
  /** Per RUN step. */
  runTimeoutMs?: number;
  log?: (line: string) => void;
}): Promise<BuiltImage> {
  const stages = parseDockerfile(readFileSync(opts.dockerfile, 'utf8'));
  const ignoreFile = join(opts.context, '.dockerignore');
  const ignore: DockerIgnore = parseDockerignore(existsSync(ignoreFile) ? readFileSync(ignoreFile, 'utf8') : '');
  const shims = join(opts.workDir, '.shims');
  mkdirSync(shims, { recursive: true });
  // USER is not emulated, so ownership is not either: chown only checks that its paths exist.
  writeFileSync(
    join(shims, 'chown'),
    '#!/bin/sh\nfor a in "$@"; do case "$a" in -*) ;; *:*) ;; *) [ -e "$a" ] || { echo "chown: $a: no such file or directory" >&2; exit 1; } ;; esac; done\n',
  );
  chmodSync(join(shims, 'chown'), 0o755);
  const hostEnv = buildEnv();
  const results: StageResult[] = [];
  const steps: StepTiming[] = [];

  for (const stage of stages) {
    const root = join(opts.workDir, `stage-${stage.index}${stage.name !== undefined ? `-${stage.name}` : ''}`);
    const parent = results.find((r) => r.stage.name !== undefined && r.stage.name === stage.image);
    if (parent) cpSync(parent.root, root, { recursive: true, verbatimSymlinks: true });
    else mkdirSync(root, { recursive: true });
    const st: StageResult = parent
      ? { ...parent, stage, root, env: { ...parent.env }, expose: [...parent.expose] }
      : { stage, root, workdir: '/', env: {}, expose: [] };
    results.push(st);
    opts.log?.(`FROM ${stage.image}${stage.name !== undefined ? ` AS ${stage.name}` : ''} → ${root}`);

    for (const i of stage.instructions) {
      const t0 = performance.now();
      switch (i.kind) {
        case 'WORKDIR':
          st.workdir = posix.resolve(st.workdir, i.path);
          mkdirSync(hostPath(st, '.'), { recursive: true });
          break;
        case 'ENV':
          for (const [k, v] of i.vars) st.env[k] = v;
          break;
        case 'USER':
          st.user = i.user;
          break;
        case 'EXPOSE':
          st.expose.push(...i.ports);
          break;
        case 'STOPSIGNAL':
          st.stopSignal = i.signal;
          break;
        case 'ENTRYPOINT':
          st.entrypoint = i.command;
          delete st.cmd; // Docker: setting ENTRYPOINT resets a CMD inherited from the base
          break;
        case 'CMD':
          st.cmd = i.command;
          break;
        case 'HEALTHCHECK':
          st.healthcheck = { options: i.options, command: i.command };
          break;
        case 'COPY': {
          const dest = hostPath(st, i.dest);
          const destIsDir =
            i.dest.endsWith('/') || i.dest === '.' || (existsSync(dest) && lstatSync(dest).isDirectory());
          for (const source of i.sources) {
            if (i.from !== undefined) {
              const from = results.find((r) => r.stage.name === i.from || String(r.stage.index) === i.from);
              if (!from || from === st)
                throw new DockerfileError(
                  i.line,
                  `COPY --from=${i.from}: no earlier stage has that name (copying from an external image ${"is not understood by the image test's runner"})`,
                );
              const src = join(from.root, ...posix.resolve('/', source).split('/').filter(Boolean));
              if (!existsSync(src))
                throw new DockerfileError(i.line, `COPY --from=${i.from} ${source}: not found in that stage (${src})`);
              copyInto(src, dest, destIsDir);
            } else {
              const rel = posix.normalize(source).replace(/^\/+/, '');
              if (rel.startsWith('..')) throw new DockerfileError(i.line, `COPY ${source}: outside the build context`);
              const src = join(opts.context, ...rel.split('/').filter((p) => p !== '' && p !== '.'));
              if (!existsSync(src) || (rel !== '' && rel !== '.' && ignore.ignores(rel))) {
                throw new DockerfileError(
                  i.line,
                  `COPY ${source}: not found in the build context${existsSync(src) ? ' (excluded by .dockerignore)' : ''}`,
                );
              }
              const filter = (p: string) => {
                const r = relative(opts.context, p).split(sep).join('/');
                if (r === '' || !ignore.ignores(r)) return true;
                return ignore.hasExceptions && lstatSync(p).isDirectory();
              };
              copyInto(src, dest, destIsDir, filter);
            }
          }
          break;
        }
        case 'RUN': {
          const cwd = hostPath(st, '.');
          mkdirSync(cwd, { recursive: true });
          const env = {
            ...hostEnv,
            ...st.env,
            PATH: `${shims}:${dirname(process.execPath)}:${hostEnv.PATH ?? '/usr/bin:/bin'}`,
          };
          let argv: string[];
          if ('exec' in i.command) {
            if (!(RUN_PROGRAMS as readonly string[]).includes(i.command.exec[0]!)) {
              throw new DockerfileError(
                i.line,
                `RUN ${JSON.stringify(i.command.exec)}: "${i.command.exec[0]}" is not a program the image test's runner knows (${RUN_PROGRAMS.join(', ')})`,
              );
            }
            argv = [i.command.exec[0]!, ...i.command.exec.slice(1).map((a) => mapPathWord(a, st.root))];
          } else {
            argv = ['/bin/sh', '-c', mapRunCommand(i.command.shell, i.line, st.root)];
          }
          await run(argv, {
            cwd,
            env,
            timeoutMs: opts.runTimeoutMs ?? 240_000,
            what: `Dockerfile line ${i.line} (${label(stage)}): ${show(i)}`,
          });
          break;
        }
      }
      const ms = performance.now() - t0;
      if (i.kind === 'COPY' || i.kind === 'RUN') {
        steps.push({ stage: label(stage), line: i.line, instruction: show(i), ms });
        opts.log?.(`  ${show(i)}  (${(ms / 1000).toFixed(1)} s)`);
      }
    }
  }
  return { stages: results, image: results.at(-1)!, steps };
}

/**
 * The image's process as `docker run IMAGE [args]` would start it: ENTRYPOINT + CMD (or `args` instead of
 * CMD), absolute paths mapped into the image's root, `node` the host's node, cwd the mapped WORKDIR and the
 * environment ONLY the image's ENV plus PATH (no HOME, NODE_OPTIONS, NODE_PATH or test-runner variables).
 */
export function imageProcess(
  image: StageResult,
  args?: string[],
): { argv: string[]; cwd: string; env: Record<string, string> } {
  const exec = (c: CommandForm | undefined): string[] =>
    c === undefined ? [] : 'exec' in c ? c.exec : ['/bin/sh', '-c', c.shell];
  const argv = [...exec(image.entrypoint), ...(args ?? exec(image.cmd))].map((a) =>
    a.startsWith('/') && a !== '/bin/sh' ? hostPath(image, a) : a,
  );
  if (argv[0] === 'node') argv[0] = process.execPath;
  return {
    argv,
    cwd: hostPath(image, '.'),
    env: { PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, ...image.env },
  };
}
