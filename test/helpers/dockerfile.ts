/**
 * A small Dockerfile parser for the image test (test/e2e/image.test.ts): stages and the instructions the
 * project's Dockerfile uses. Anything else is REJECTED with the line number, so an instruction added to the
 * Dockerfile is never silently skipped by the test that reproduces the build (test/helpers/dockerfile-run.ts).
 * Also the .dockerignore matcher (Docker's rules: patterns relative to the context root, `*`, `?`, `**`,
 * `[...]`, `!` exceptions, the last matching pattern wins, a pattern that matches a directory excludes
 * everything below it).
 */

/** Exec form `["node", "app.js"]` or shell form `node app.js` (run with `/bin/sh -c`). */
export type CommandForm = { exec: string[] } | { shell: string };

export type Instruction =
  | { kind: 'WORKDIR'; line: number; path: string }
  | { kind: 'COPY'; line: number; from?: string; sources: string[]; dest: string }
  | { kind: 'RUN'; line: number; command: CommandForm }
  | { kind: 'ENV'; line: number; vars: [string, string][] }
  | { kind: 'USER'; line: number; user: string }
  | { kind: 'EXPOSE'; line: number; ports: number[] }
  | { kind: 'STOPSIGNAL'; line: number; signal: string }
  | { kind: 'HEALTHCHECK'; line: number; options: Record<string, string>; command: CommandForm | null }
  | { kind: 'ENTRYPOINT'; line: number; command: CommandForm }
  | { kind: 'CMD'; line: number; command: CommandForm };

export interface Stage {
  index: number;
  /** `FROM image AS name`. */
  name?: string;
  image: string;
  line: number;
  instructions: Instruction[];
}

export class DockerfileError extends Error {
  constructor(line: number, message: string) {
    super(`Dockerfile line ${line}: ${message}`);
    this.name = 'DockerfileError';
  }
}

const NOT_UNDERSTOOD =
  "is not understood by the image test's Dockerfile runner (test/helpers/dockerfile.ts): teach it there, so the test keeps reproducing the whole build instead of skipping a step";

/** Logical lines: comments and blank lines dropped, `\` continuations joined (comment lines inside a continuation are dropped too, as Docker does). */
function logicalLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let current: { line: number; text: string } | null = null;
  text.split(/\r?\n/).forEach((raw, i) => {
    const trimmed = raw.trim();
    if (/^#\s*escape\s*=/i.test(trimmed) && out.length === 0 && current === null) {
      throw new DockerfileError(i + 1, `the "escape" parser directive ${NOT_UNDERSTOOD}`);
    }
    if (trimmed.startsWith('#') || (trimmed === '' && current === null)) return;
    if (trimmed === '') return; // an empty line inside a continuation
    const continued = /\\\s*$/.test(raw);
    const part = continued ? raw.replace(/\\\s*$/, '') : raw;
    if (current === null) current = { line: i + 1, text: part.trim() };
    else current.text += ` ${part.trim()}`;
    if (!continued) {
      out.push(current);
      current = null;
    }
  });
  if (current !== null) out.push(current);
  return out;
}

function commandForm(args: string, line: number): CommandForm {
  if (args.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(args);
    } catch {
      throw new DockerfileError(line, `exec form is not a JSON array of strings: ${args}`);
    }
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((a) => typeof a === 'string')) {
      throw new DockerfileError(line, `exec form is not a non-empty JSON array of strings: ${args}`);
    }
    return { exec: parsed };
  }
  if (args === '') throw new DockerfileError(line, 'a command is missing');
  return { shell: args };
}

/** Splits `--name=value` flags off the front of the arguments. */
function flags(words: string[], allowed: readonly string[], line: number, instruction: string): Record<string, string> {
  const out: Record<string, string> = {};
  while (words[0]?.startsWith('--')) {
    const word = words.shift()!;
    const m = /^--([a-z-]+)=(.*)$/.exec(word);
    if (!m || !allowed.includes(m[1]!))
      throw new DockerfileError(line, `${instruction} flag ${word.replace(/=.*/, '')} ${NOT_UNDERSTOOD}`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

function noVariables(value: string, line: number, instruction: string): string {
  if (value.includes('$'))
    throw new DockerfileError(line, `variable substitution in ${instruction} (${value}) ${NOT_UNDERSTOOD}`);
  return value;
}

/** `ENV a=1 b="two words"` or the legacy `ENV a one value`. */
function envVars(args: string, line: number): [string, string][] {
  noVariables(args, line, 'ENV');
  const legacy = /^([A-Za-z_][A-Za-z0-9_]*)\s+([^=].*)$/.exec(args);
  if (legacy && !/^[A-Za-z_][A-Za-z0-9_]*=/.test(args)) return [[legacy[1]!, legacy[2]!]];
  const out: [string, string][] = [];
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|'[^']*'|(?:[^\s"'\\]|\\.)*)/y;
  let rest = args.trim();
  while (rest !== '') {
    re.lastIndex = 0;
    const m = re.exec(rest);
    if (!m) throw new DockerfileError(line, `ENV ${args}: not name=value pairs`);
    const raw = m[2]!;
    const value = raw.startsWith('"')
      ? raw.slice(1, -1).replace(/\\(.)/g, '$1')
      : raw.startsWith("'")
        ? raw.slice(1, -1)
        : raw.replace(/\\(.)/g, '$1');
    out.push([m[1]!, value]);
    rest = rest.slice(m[0].length).trim();
  }
  return out;
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const { line, text: l } of logicalLines(text)) {
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    const keyword = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (keyword === 'FROM') {
      const words = args.split(/\s+/);
      flags(words, [], line, 'FROM');
      const [image, as, name, ...extra] = words;
      if (
        image === undefined ||
        image === '' ||
        extra.length > 0 ||
        (as !== undefined && (as.toUpperCase() !== 'AS' || name === undefined))
      ) {
        throw new DockerfileError(line, `FROM ${args}: expected "FROM image [AS name]"`);
      }
      noVariables(image, line, 'FROM');
      stages.push({ index: stages.length, image, line, instructions: [], ...(name !== undefined ? { name } : {}) });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) throw new DockerfileError(line, `${keyword} before the first FROM ${NOT_UNDERSTOOD}`);
    const push = (i: Instruction) => stage.instructions.push(i);
    switch (keyword) {
      case 'WORKDIR':
        push({ kind: 'WORKDIR', line, path: noVariables(args, line, 'WORKDIR') });
        break;
      case 'COPY': {
        let words: string[];
        const f: Record<string, string> = {};
        if (args.includes('[')) {
          const lead = /^((?:--\S+\s+)*)(\[.*\])$/.exec(args);
          if (!lead) throw new DockerfileError(line, `COPY ${args}: expected flags then a JSON array`);
          Object.assign(
            f,
            flags(lead[1]!.trim().split(/\s+/).filter(Boolean), ['from', 'chown', 'chmod'], line, 'COPY'),
          );
          const form = commandForm(lead[2]!, line);
          words = 'exec' in form ? form.exec : [];
        } else {
          words = args.split(/\s+/);
          Object.assign(f, flags(words, ['from', 'chown', 'chmod'], line, 'COPY'));
        }
        if (words.length < 2)
          throw new DockerfileError(line, `COPY ${args}: expected at least one source and a destination`);
        for (const w of words) {
          noVariables(w, line, 'COPY');
          if (/[*?[\]]/.test(w)) throw new DockerfileError(line, `COPY wildcards (${w}) ${NOT_UNDERSTOOD}`);
        }
        const dest = words.pop()!;
        if (words.length > 1 && !dest.endsWith('/'))
          throw new DockerfileError(
            line,
            `COPY with several sources needs a destination ending in "/" (Docker rejects it too)`,
          );
        // --chown/--chmod: ownership and modes are not emulated (USER is not either); the files are copied.
        push({ kind: 'COPY', line, sources: words, dest, ...(f.from !== undefined ? { from: f.from } : {}) });
        break;
      }
      case 'RUN':
        if (args.startsWith('--'))
          throw new DockerfileError(line, `RUN flags (${args.split(/\s+/)[0]}) ${NOT_UNDERSTOOD}`);
        push({ kind: 'RUN', line, command: commandForm(args, line) });
        break;
      case 'ENV':
        push({ kind: 'ENV', line, vars: envVars(args, line) });
        break;
      case 'USER':
        push({ kind: 'USER', line, user: args });
        break;
      case 'EXPOSE':
        push({
          kind: 'EXPOSE',
          line,
          ports: args.split(/\s+/).map((p) => {
            const pm = /^(\d+)(?:\/tcp)?$/.exec(p);
            if (!pm) throw new DockerfileError(line, `EXPOSE ${p} (only TCP port numbers) ${NOT_UNDERSTOOD}`);
            return Number(pm[1]);
          }),
        });
        break;
      case 'STOPSIGNAL':
        push({
          kind: 'STOPSIGNAL',
          line,
          signal: /^\d+$/.test(args) ? args : args.toUpperCase().replace(/^(?!SIG)/, 'SIG'),
        });
        break;
      case 'HEALTHCHECK': {
        if (args.toUpperCase() === 'NONE') {
          push({ kind: 'HEALTHCHECK', line, options: {}, command: null });
          break;
        }
        const hm = /^((?:--\S+\s+)*)CMD\s+(.*)$/i.exec(args);
        if (!hm)
          throw new DockerfileError(
            line,
            `HEALTHCHECK ${args}: expected "HEALTHCHECK [--option=value ...] CMD command" or "HEALTHCHECK NONE"`,
          );
        const options = flags(
          hm[1]!.trim().split(/\s+/).filter(Boolean),
          ['interval', 'timeout', 'start-period', 'start-interval', 'retries'],
          line,
          'HEALTHCHECK',
        );
        push({ kind: 'HEALTHCHECK', line, options, command: commandForm(hm[2]!.trim(), line) });
        break;
      }
      case 'ENTRYPOINT':
      case 'CMD':
        push({ kind: keyword, line, command: commandForm(args, line) });
        break;
      default:
        throw new DockerfileError(line, `instruction ${keyword} ${NOT_UNDERSTOOD}`);
    }
  }
  if (stages.length === 0) throw new DockerfileError(1, 'no FROM: not a Dockerfile');
  return stages;
}

/** Docker durations as HEALTHCHECK options write them: 30s, 1m30s, 500ms. */
export function parseDockerDuration(value: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let ms = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(value)) !== null) {
    ms += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    end = re.lastIndex;
  }
  if (end !== value.length || value === '') throw new Error(`"${value}" is not a Docker duration`);
  return ms;
}

function patternRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      if (pattern[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 1);
      if (close < 0) throw new Error(`.dockerignore pattern ${pattern}: unclosed [`);
      re += `[${pattern
        .slice(i + 1, close)
        .replace(/^[!^]/, '^')
        .replace(/\\/g, '\\\\')}]`;
      i = close;
    } else if (c === '\\' && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export interface DockerIgnore {
  /** Is this context path (posix, relative to the context root) excluded? */
  ignores(relPath: string): boolean;
  /** Could something below this excluded directory be re-included by a `!` pattern? */
  hasExceptions: boolean;
}

export function parseDockerignore(text: string): DockerIgnore {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const cleaned = (negate ? l.slice(1).trim() : l)
        .replace(/^\/+/, '')
        .replace(/\/+$/, '')
        .replace(/(^|\/)\.(?=\/|$)/g, '')
        .replace(/\/{2,}/g, '/');
      return { negate, re: patternRegex(cleaned === '' ? '.' : cleaned) };
    });
  return {
    hasExceptions: rules.some((r) => r.negate),
    ignores(relPath: string) {
      const parts = relPath.split('/').filter((p) => p !== '' && p !== '.');
      const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
      let ignored = false;
      for (const r of rules) if (prefixes.some((p) => r.re.test(p))) ignored = !r.negate;
      return ignored;
    },
  };
}
