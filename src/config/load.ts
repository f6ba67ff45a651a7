/**
 * Config loading: YAML → ${ENV} substitution → schema validation → semantic checks (registries) → freeze.
 * Every problem is reported with the file, line, key, what is wrong and how to fix it; all problems are
 * collected, not only the first.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import type { ConnectorFactory, DetectorFactory } from '../contracts/index.js';
import { isVigilError, VigilError, type ErrorCode } from '../errors.js';
import { configSchema, type VigilConfig } from './schema.js';

export interface ConfigIssue {
  code: ErrorCode;
  file: string;
  line?: number;
  column?: number;
  /** Dotted path, e.g. `analysis.metrics[1].detector`; '' for the whole file. */
  key: string;
  problem: string;
  fix: string;
}

export interface Registries {
  detectors: ReadonlyMap<string, DetectorFactory>;
  planConnectors: ReadonlyMap<string, ConnectorFactory>;
  notifiers: ReadonlyMap<string, ConnectorFactory>;
}

export interface LoadedConfig {
  config: Readonly<VigilConfig>;
  /** sha256 (first 16 hex) of the config as written, BEFORE ${ENV} substitution: secrets never enter it. */
  hash: string;
  /** Where it came from ('<defaults>' for the embedded default). */
  file: string;
  /** Connector options as parsed by each connector's own schema, by connector name. */
  connectorOptions: ReadonlyMap<string, unknown>;
  warnings: string[];
}

export class ConfigError extends VigilError {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    const first = issues[0];
    super(first?.code ?? 'VIGIL_ERR_CONFIG_INVALID', [], { details: { issues } });
    this.name = 'ConfigError';
    this.message = formatIssues(issues);
    this.issues = issues;
  }
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  const n = issues.length;
  const lines = [`${n} problem${n === 1 ? '' : 's'} in the config:`];
  for (const i of issues) {
    const where = `${i.file}${i.line ? `:${i.line}:${i.column ?? 1}` : ''}`;
    lines.push(`  ${where} ${i.key || '(file)'}: ${i.problem} [${i.code}]`, `    fix: ${i.fix}`);
  }
  return lines.join('\n');
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}/g;

type Path = (string | number)[];

function keyOf(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s;
}

/** Replaces ${VAR} and ${VAR:-default} in every string scalar; an unset VAR without default is an issue. */
function substituteEnv(value: unknown, path: Path, env: NodeJS.ProcessEnv, missing: { path: Path; name: string }[]): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, varName: string, hasDefault: string | undefined, def: string | undefined) => {
      const v = env[varName];
      if (v !== undefined) return v;
      if (hasDefault !== undefined) return def ?? '';
      missing.push({ path, name: varName });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, [...path, i], env, missing));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, [...path, k], env, missing)]));
  }
  return value;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

const OPTIONAL_KEYS: Record<string, string[]> = {
  'server.api': ['publicUrl'],
  rollouts: ['plan', 'canaryVersion', 'expectedCanaryShare', 'baseline'],
};

/** Keys the schema knows at a path, from the defaults (plus the optional ones without defaults). */
function knownKeys(path: readonly PropertyKey[]): string[] {
  const defaults: unknown = configSchema.parse({});
  let node: unknown = defaults;
  const named = path.filter((p) => typeof p !== 'number').map(String);
  for (const p of named) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[p] : undefined;
  const keys = node && typeof node === 'object' && !Array.isArray(node) ? Object.keys(node) : [];
  if (named[0] === 'analysis' && named[1] === 'metrics') keys.push('name', 'detector', 'options', 'shadow', 'weight');
  if (named[0] === 'connectors' || named[0] === 'notifiers') keys.push('name', 'type', 'options');
  return [...keys, ...(OPTIONAL_KEYS[named.join('.')] ?? [])];
}

function fixFor(issue: z.core.$ZodIssue): string {
  const params = (issue as { params?: { fix?: string } }).params;
  if (params?.fix) return params.fix;
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? `add the key (a ${issue.expected})`
        : `write a ${issue.expected} here${issue.expected === 'array' ? ' (a YAML list: [a, b] or "- a" lines)' : ''}`;
    case 'too_big':
      return `use a value ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}`;
    case 'too_small':
      return issue.origin === 'array' || issue.origin === 'string'
        ? `give at least ${String(issue.minimum)} item(s)`
        : `use a value ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}`;
    case 'invalid_value':
      return `use one of: ${issue.values.map((v) => String(v)).join(', ')}`;
    case 'unrecognized_keys': {
      const known = knownKeys(issue.path);
      const hints = issue.keys.map((k) => {
        const c = closest(k, known);
        return c ? `"${k}" → did you mean "${c}"?` : `remove "${k}"`;
      });
      return `${hints.join('; ')} (known keys here: ${known.join(', ')})`;
    }
    case 'invalid_format':
      return `write a valid ${issue.format}`;
    default:
      return 'see the configuration reference in README.md';
  }
}

/** Line/column of the YAML node at a path (or its nearest existing parent). */
function locate(doc: Document, lc: LineCounter, path: readonly PropertyKey[]): { line?: number; column?: number } {
  for (let n = path.length; n >= 0; n--) {
    const p = path.slice(0, n) as (string | number)[];
    const node = (p.length === 0 ? doc.contents : doc.getIn(p, true)) as Node | null | undefined;
    const range = node && (isScalar(node) || isMap(node) || isSeq(node)) ? node.range : undefined;
    if (range) {
      const pos = lc.linePos(range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return {};
}

/**
 * Parses and validates config text. `file` is used in messages only. Throws ConfigError with every issue.
 */
export function parseConfig(
  text: string,
  file: string,
  registries: Registries,
  env: NodeJS.ProcessEnv = process.env,
): LoadedConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = e.pos ? lc.linePos(e.pos[0]) : undefined;
        return {
          code: 'VIGIL_ERR_CONFIG_YAML' as const,
          file,
          line: pos?.line,
          column: pos?.col,
          key: '',
          problem: e.message.split('\n')[0] ?? e.message,
          fix: 'fix the YAML syntax at that line (indentation, quotes, a missing ":" or a duplicate key)',
        };
      }),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ code: 'VIGIL_ERR_CONFIG_INVALID', file, key: '', problem: 'the file is not a YAML mapping', fix: 'start from the example in README.md' }]);
  }
  const issues: ConfigIssue[] = [];
  const at = (path: readonly PropertyKey[]) => ({ file, key: keyOf(path), ...locate(doc, lc, path) });

  const missing: { path: Path; name: string }[] = [];
  const substituted = substituteEnv(raw, [], env, missing);
  for (const m of missing) {
    issues.push({
      code: 'VIGIL_ERR_CONFIG_ENV_MISSING',
      ...at(m.path),
      problem: `environment variable ${m.name} is not set`,
      fix: `export ${m.name}=… before starting Vigil, or write \${${m.name}:-} to allow it to be empty`,
    });
  }

  const parsed = configSchema.safeParse(substituted);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.code === 'unrecognized_keys' && issue.keys[0] ? [...issue.path, issue.keys[0]] : issue.path;
      issues.push({ code: 'VIGIL_ERR_CONFIG_INVALID', ...at(path), problem: issue.message, fix: fixFor(issue) });
    }
    throw new ConfigError(issues);
  }
  const config = parsed.data;
  const warnings: string[] = [];

  // Names are unique per section; plans reference existing connectors; types are known.
  const connectorOptions = new Map<string, unknown>();
  const checkSection = (section: 'connectors' | 'notifiers', registry: ReadonlyMap<string, ConnectorFactory>) => {
    const seen = new Set<string>();
    config[section].forEach((c, i) => {
      if (seen.has(c.name) || (section === 'notifiers' && connectorOptions.has(c.name))) {
        issues.push({ code: 'VIGIL_ERR_CONFIG_DUPLICATE_NAME', ...at([section, i, 'name']), problem: `name "${c.name}" is used twice`, fix: 'give every connector and notifier its own name' });
      }
      seen.add(c.name);
      const factory = registry.get(c.type);
      if (!factory) {
        issues.push({ code: 'VIGIL_ERR_CONFIG_UNKNOWN_TYPE', ...at([section, i, 'type']), problem: `unknown ${section === 'connectors' ? 'connector' : 'notifier'} type "${c.type}"`, fix: `use one of: ${[...registry.keys()].join(', ')}` });
        return;
      }
      try {
        connectorOptions.set(c.name, factory.parse(c.options));
      } catch (e) {
        issues.push({ code: isVigilError(e) ? e.code : 'VIGIL_ERR_CONFIG_CONNECTOR_OPTIONS', ...at([section, i, 'options']), problem: `${c.type} "${c.name}": ${e instanceof Error ? e.message : String(e)}`, fix: `see the ${c.type} connector's options in README.md` });
      }
    });
  };
  checkSection('connectors', registries.planConnectors);
  checkSection('notifiers', registries.notifiers);

  const planConnectorNames = new Set(config.connectors.map((c) => c.name));
  const checkPlan = (plan: readonly string[], path: Path) => {
    plan.forEach((n, i) => {
      if (!planConnectorNames.has(n)) {
        const c = closest(n, [...planConnectorNames]);
        issues.push({ code: 'VIGIL_ERR_CONFIG_UNKNOWN_CONNECTOR', ...at([...path, i]), problem: `plan names connector "${n}", which is not defined under connectors:`, fix: c ? `did you mean "${c}"?` : `define it under connectors: (name: ${n}, type: …) or remove it from the plan` });
      }
    });
  };
  checkPlan(config.plan, ['plan']);
  config.rollouts.forEach((r, i) => r.plan && checkPlan(r.plan, ['rollouts', i, 'plan']));

  const metricNames = new Set<string>();
  config.analysis.metrics.forEach((m, i) => {
    if (metricNames.has(m.name)) {
      issues.push({ code: 'VIGIL_ERR_CONFIG_DUPLICATE_NAME', ...at(['analysis', 'metrics', i, 'name']), problem: `metric name "${m.name}" is used twice`, fix: 'give every metric its own name' });
    }
    metricNames.add(m.name);
    const factory = registries.detectors.get(m.detector);
    if (!factory) {
      issues.push({ code: 'VIGIL_ERR_CONFIG_UNKNOWN_TYPE', ...at(['analysis', 'metrics', i, 'detector']), problem: `unknown detector "${m.detector}"`, fix: `use one of: ${[...registries.detectors.keys()].join(', ')}` });
      return;
    }
    try {
      factory.create(m.name, m.options, { minSamples: config.analysis.minSamples });
    } catch (e) {
      issues.push({ code: isVigilError(e) ? e.code : 'VIGIL_ERR_DETECTOR_OPTIONS', ...at(['analysis', 'metrics', i, 'options']), problem: `${m.detector}: ${e instanceof Error ? e.message : String(e)}`, fix: `see the ${m.detector} options in README.md` });
    }
  });
  if (config.analysis.metrics.every((m) => m.shadow)) {
    issues.push({ code: 'VIGIL_ERR_CONFIG_INVALID', ...at(['analysis', 'metrics']), problem: 'every metric is shadow: nothing could ever roll back', fix: 'set shadow: false on at least one metric' });
  }
  if (config.analysis.maxDuration < config.analysis.interval) {
    issues.push({ code: 'VIGIL_ERR_CONFIG_INVALID', ...at(['analysis', 'maxDuration']), problem: 'maxDuration is shorter than one look interval', fix: 'make analysis.maxDuration at least analysis.interval (typically 30m vs 10s)' });
  }

  if (issues.length > 0) throw new ConfigError(issues);

  config.server.auth.tokens = config.server.auth.tokens.filter((t) => t.length > 0);
  if (config.server.auth.tokens.length === 0) warnings.push('server.auth.tokens is empty: the control API is open to anyone who can reach it');
  if (config.queue.redis === '') config.queue.redis = null;
  if (config.plan.length === 0 && config.rollouts.every((r) => !r.plan?.length)) {
    warnings.push('no rollback plan is configured: decisions are recorded and notified, nothing is rolled back');
  }

  return {
    config: deepFreeze(config),
    hash: createHash('sha256').update(canonical(raw)).digest('hex').slice(0, 16),
    file,
    connectorOptions,
    warnings,
  };
}

/** Reads and validates a config file. */
export function loadConfigFile(file: string, registries: Registries, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([{ code: 'VIGIL_ERR_CONFIG_NOT_FOUND', file, key: '', problem: `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, fix: 'check the path given to --config' }]);
  }
  return parseConfig(text, file, registries, env);
}

export interface ApiAddress {
  host: string;
  port: number;
  publicUrl?: string;
}

/**
 * Only `server.api` of a config file (for `vigil status`): the rest of the file is not validated, so a
 * shell without the agent's secrets in its environment can still read where the API listens.
 */
export function readApiAddress(file: string, env: NodeJS.ProcessEnv = process.env): ApiAddress {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([{ code: 'VIGIL_ERR_CONFIG_NOT_FOUND', file, key: '', problem: `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, fix: 'check the path given to --config' }]);
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const path = ['server', 'api'];
  const all: unknown = doc.errors.length === 0 ? doc.toJS() : undefined;
  const server: unknown = all && typeof all === 'object' ? (all as Record<string, unknown>).server : undefined;
  const node: unknown = server && typeof server === 'object' ? (server as Record<string, unknown>).api : undefined;
  const missing: { path: Path; name: string }[] = [];
  const api = substituteEnv(node ?? {}, path, env, missing);
  const schema = configSchema.shape.server.unwrap().shape.api.unwrap();
  const parsed = schema.safeParse(api);
  if (doc.errors.length > 0 || missing.length > 0 || !parsed.success) {
    const first = missing[0]?.path ?? (parsed.success ? path : [...path, ...parsed.error.issues[0]!.path.map((p) => (typeof p === 'symbol' ? String(p) : p))]);
    const problem = doc.errors.length > 0
      ? 'the file is not valid YAML'
      : missing[0] ? `environment variable ${missing[0].name} is not set` : `server.api is invalid: ${parsed.success ? '' : parsed.error.issues[0]!.message}`;
    throw new ConfigError([{ code: 'VIGIL_ERR_CONFIG_INVALID', file, key: keyOf(first), ...locate(doc, lc, first), problem, fix: `run \`vigil validate ${file}\`, or give the API URL with --api` }]);
  }
  return parsed.data;
}

/** The embedded default: no file, every key at its default. */
export function defaultConfig(registries: Registries): LoadedConfig {
  return { ...parseConfig('{}', '<defaults>', registries, {}), file: '<defaults>' };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
