/**
 * Config loading: YAML → ${ENV} substitution → schema validation → semantic checks (registries) → freeze.
 * Every problem is reported with the file, line, key, what is wrong and how to fix it; all problems are
 * collected, not only the first.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import type { ConnectorFactory, Detector, DetectorFactory } from '../contracts/index.js';
import { isVigilError, VigilError, type ErrorCode } from '../errors.js';
import { CONFIG_DOC, CONNECTORS_DOC, DETECTORS_DOC, docForDetector, docForKey, docsForConnector } from './doc-links.js';
import { parseDuration } from './duration.js';
import { configSchema, DEFAULT_METRICS, type VigilConfig } from './schema.js';

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
  /**
   * The detector of each metric (`analysis.metrics[]`), by metric name, built once when the config is checked.
   * Detectors are pure (their state is what `init()` and `look()` return, never held), so one instance serves
   * every analysis of the agent and every trial of a backtest.
   */
  detectors: ReadonlyMap<string, Detector>;
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

interface EnvRef {
  path: Path;
  name: string;
}
/** A value taken from the environment: it may be a secret, so no message may show it. */
interface EnvValue extends EnvRef {
  value: string;
}

/**
 * Replaces ${VAR} and ${VAR:-default} in every string scalar; an unset VAR without default is an issue.
 * `used` records each substituted environment value and where, so that messages can hide it.
 */
function substituteEnv(
  value: unknown,
  path: Path,
  env: NodeJS.ProcessEnv,
  missing: EnvRef[],
  used: EnvValue[] = [],
): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, varName: string, hasDefault: string | undefined, def: string | undefined) => {
      const v = env[varName];
      if (v !== undefined) {
        used.push({ path, name: varName, value: v });
        return v;
      }
      if (hasDefault !== undefined) return def ?? '';
      missing.push({ path, name: varName });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, [...path, i], env, missing, used));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, substituteEnv(v, [...path, k], env, missing, used)]),
    );
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
  let node: unknown = schemaDefaults();
  const named = path.filter((p) => typeof p !== 'number').map(String);
  for (const p of named) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[p] : undefined;
  const keys = node && typeof node === 'object' && !Array.isArray(node) ? Object.keys(node) : [];
  if (named[0] === 'analysis' && named[1] === 'metrics') keys.push('name', 'detector', 'options', 'shadow', 'weight');
  if (named[0] === 'connectors' || named[0] === 'notifiers') keys.push('name', 'type', 'options');
  return [...keys, ...(OPTIONAL_KEYS[named.join('.')] ?? [])];
}

/** "a number", "an integer", "a list" for zod's expected type names. */
function typeName(expected: string): string {
  const name =
    ({ array: 'list', object: 'mapping', record: 'mapping', int: 'integer', nan: 'number' } as Record<string, string>)[
      expected
    ] ?? expected;
  return `${/^[aeiou]/.test(name) ? 'an' : 'a'} ${name}`;
}

/** A value as a message may show it: strings quoted and cut, collections by kind only. */
function showValue(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return typeof v === 'object' ? 'a mapping' : typeof v;
}

const isUnder = (path: readonly PropertyKey[], prefix: readonly PropertyKey[]) =>
  prefix.length <= path.length && prefix.every((p, i) => p === path[i]);

/**
 * Problem and fix of one schema issue. `input` is the value as written when it may be shown; for a value
 * that came from the environment it is the text before substitution (`'${PORT}'`), never the value.
 */
function describeSchemaIssue(
  issue: z.core.$ZodIssue,
  input: { shown?: string; fromEnv: boolean },
): { problem: string; fix: string } {
  const params = (issue as { params?: { fix?: string } }).params;
  const got = input.shown !== undefined ? `, got ${input.shown}` : '';
  const own = (fix: string) => params?.fix ?? fix;
  switch (issue.code) {
    case 'invalid_type': {
      const want = typeName(issue.expected);
      const last = issue.path[issue.path.length - 1];
      if (issue.input === undefined) {
        return {
          problem: `${typeof last === 'string' ? `"${last}"` : 'a value'} is missing (${want} is required here)`,
          fix: own(`add ${typeof last === 'string' ? `${last}: ` : 'it as '}${want}`),
        };
      }
      if (input.fromEnv && typeof issue.input === 'string' && issue.expected !== 'string') {
        return {
          problem: `expected ${want}${got}, a string (an environment value is always a string)`,
          fix: own(`write ${want} here, not a \${VAR}`),
        };
      }
      return {
        problem: `expected ${want}${got}`,
        fix: own(`write ${want} here${issue.expected === 'array' ? ' (a YAML list: [a, b] or "- a" lines)' : ''}`),
      };
    }
    case 'too_big':
      return issue.origin === 'array' || issue.origin === 'string'
        ? {
            problem: `has more than ${String(issue.maximum)} ${issue.origin === 'array' ? 'item(s)' : 'character(s)'}`,
            fix: own(`shorten it to at most ${String(issue.maximum)}`),
          }
        : {
            problem: `must be ${issue.inclusive ? 'at most' : 'less than'} ${String(issue.maximum)}${got}`,
            fix: own(`use a value ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}`),
          };
    case 'too_small':
      return issue.origin === 'array' || issue.origin === 'string'
        ? {
            problem:
              issue.origin === 'string' && Number(issue.minimum) === 1
                ? 'must not be empty'
                : `needs at least ${String(issue.minimum)} ${issue.origin === 'array' ? 'item(s)' : 'character(s)'}`,
            fix: own(`give at least ${String(issue.minimum)} ${issue.origin === 'array' ? 'item(s)' : 'character(s)'}`),
          }
        : {
            problem: `must be ${issue.inclusive ? 'at least' : 'more than'} ${String(issue.minimum)}${got}`,
            fix: own(`use a value ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}`),
          };
    case 'invalid_value': {
      const values = issue.values.map((v) => String(v));
      const c = typeof issue.input === 'string' && !input.fromEnv ? closest(issue.input, values) : undefined;
      return {
        problem: `expected one of ${values.join(', ')}${got}`,
        fix: own(`${c ? `did you mean "${c}"? ` : ''}use one of: ${values.join(', ')}`),
      };
    }
    case 'invalid_format':
      return { problem: `expected a valid ${issue.format}${got}`, fix: own(`write a valid ${issue.format}`) };
    default:
      return { problem: `${issue.message}${issue.code === 'custom' ? '' : got}`, fix: own('correct the value') };
  }
}

/** The problem and fix of an unknown key (zod reports them per mapping: one issue per key here). */
function unknownKey(path: readonly PropertyKey[], key: string): { problem: string; fix: string } {
  const known = knownKeys(path);
  const c = closest(key, known);
  return {
    problem: `unknown key "${key}"`,
    fix: `${c ? `did you mean "${c}"?` : `remove "${key}"`} (known keys here: ${known.join(', ')})`,
  };
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

/** An issue while checking: the path (to filter and redact) and the option paths a connector named. */
interface Pending extends ConfigIssue {
  path: Path;
  /** For an error of a connector's or detector's `options`: what it is about, problem by problem, if known. */
  options?: OptionProblem[];
  /** With `options[].text`: the problem with only some of them is this prefix and their texts joined by "; ". */
  optionsPrefix?: string;
}

const asObject = (v: unknown): Record<string, unknown> | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const asString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const p of path) node = node && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[p] : undefined;
  return node;
}

/** One problem a connector's or detector's options error names: the options it is about, and its text if known. */
interface OptionProblem {
  paths: Path[];
  text?: string;
}

/**
 * The problems a connector's or detector's options error names, from its details (parseOptions: `options`
 * and `problems`, one entry per problem; parseDetectorOptions: `issues`), as absolute paths.
 */
function badOptions(e: unknown, base: Path): OptionProblem[] | undefined {
  if (!isVigilError(e)) return undefined;
  const split = (dotted: string): Path => [
    ...base,
    ...dotted
      .split('.')
      .filter(Boolean)
      .map((k) => (/^\d+$/.test(k) ? Number(k) : k)),
  ];
  const { options, problems, issues } = e.details as { options?: unknown; problems?: unknown; issues?: unknown };
  if (Array.isArray(options) && options.every((o) => typeof o === 'string')) {
    const texts =
      Array.isArray(problems) && problems.length === options.length && problems.every((p) => typeof p === 'string')
        ? problems
        : undefined;
    return options.map((o: string, n) => ({
      paths: o.split(',').map((k) => split(k.trim())),
      ...(texts ? { text: texts[n] } : {}),
    }));
  }
  if (Array.isArray(issues)) {
    return issues.map((i) => ({
      paths: [[...base, ...asList((i as { path?: unknown }).path).map((k) => (typeof k === 'number' ? k : String(k)))]],
    }));
  }
  return undefined;
}

/** Records one issue at a path: where it is in the file, what is wrong, how to fix it and where to read more. */
type AddIssue = (
  code: ErrorCode,
  path: Path,
  problem: string,
  fix: string,
  docs: string | string[],
  extra?: Partial<Pending>,
) => void;

/** The YAML document of config text; a syntax error, or a file that is not a mapping, is a ConfigError. */
function readYaml(text: string, file: string): { doc: Document; lc: LineCounter; raw: unknown } {
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
          fix: `fix the YAML syntax at that line (indentation, quotes, a missing ":" or a duplicate key); see ${CONFIG_DOC}`,
        };
      }),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([
      {
        code: 'VIGIL_ERR_CONFIG_INVALID',
        file,
        key: '',
        problem: 'the file is not a YAML mapping',
        fix: `start from the example in ${CONFIG_DOC}`,
      },
    ]);
  }
  return { doc, lc, raw };
}

/** 1. Structure: every schema issue (reportInput: the value given, to say what was wrong with it). */
function checkStructure(
  issues: readonly z.core.$ZodIssue[],
  raw: unknown,
  used: readonly EnvValue[],
  add: AddIssue,
): void {
  for (const issue of issues) {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) {
        const { problem, fix } = unknownKey(path, k);
        add('VIGIL_ERR_CONFIG_INVALID', [...path, k], problem, fix, docForKey(path));
      }
      continue;
    }
    const fromEnv = used.some((u) => isUnder(u.path, path));
    // A string with an environment value is shown as written (`'${PORT}'`); other values hold none.
    const shown =
      issue.input === undefined
        ? undefined
        : showValue(fromEnv && typeof issue.input === 'string' ? valueAt(raw, path) : issue.input);
    const { problem, fix } = describeSchemaIssue(issue, { shown, fromEnv });
    add('VIGIL_ERR_CONFIG_INVALID', path, problem, fix, docForKey(path));
  }
}

/**
 * 2a. Connectors and notifiers: names are unique, types are known, options parse (returned by name), and
 * the plans name connectors that exist.
 */
function checkConnectors(
  substituted: Record<string, unknown>,
  registries: Registries,
  add: AddIssue,
): Map<string, unknown> {
  const ctx: ConnectorCheck = { registries, add, connectorOptions: new Map<string, unknown>(), allNames: new Set() };
  checkConnectorSection(ctx, 'connectors', asList(substituted.connectors), registries.planConnectors);
  const planConnectorNames = new Set(
    asList(substituted.connectors)
      .map((c) => asString(asObject(c)?.name))
      .filter((n) => n !== undefined),
  );
  checkConnectorSection(ctx, 'notifiers', asList(substituted.notifiers), registries.notifiers);
  checkPlans(substituted, planConnectorNames, add);
  return ctx.connectorOptions;
}

type ConnectorSection = 'connectors' | 'notifiers';

/** What the checks of the connectors and notifiers share, and what they collect. */
interface ConnectorCheck {
  registries: Registries;
  add: AddIssue;
  /** Options as parsed by each connector's own schema, by connector name. */
  connectorOptions: Map<string, unknown>;
  /** Every connector and notifier name seen so far (a notifier may not reuse a connector's name). */
  allNames: Set<string>;
}

/** One section (`connectors:` or `notifiers:`): each entry's name is unique, its type known, its options parse. */
function checkConnectorSection(
  ctx: ConnectorCheck,
  section: ConnectorSection,
  items: unknown[],
  registry: ReadonlyMap<string, ConnectorFactory>,
): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const c = asObject(item);
    if (!c) return;
    const name = asString(c.name);
    const type = asString(c.type);
    if (name !== undefined) {
      if (seen.has(name) || (section === 'notifiers' && ctx.allNames.has(name))) {
        ctx.add(
          'VIGIL_ERR_CONFIG_DUPLICATE_NAME',
          [section, i, 'name'],
          `name "${name}" is used twice`,
          'give every connector and notifier its own name',
          CONNECTORS_DOC,
        );
      }
      seen.add(name);
      ctx.allNames.add(name);
    }
    if (!type) return;
    const factory = registry.get(type);
    if (!factory) {
      unknownConnectorType(ctx, section, i, type, registry);
      return;
    }
    if (c.options !== undefined && !asObject(c.options)) return; // the schema reported it
    parseConnectorOptions(ctx, section, { i, name, type, options: c.options }, factory);
  });
}

/** An entry whose type is not in its section's registry: did you mean, or it belongs in the other section. */
function unknownConnectorType(
  ctx: ConnectorCheck,
  section: ConnectorSection,
  i: number,
  type: string,
  registry: ReadonlyMap<string, ConnectorFactory>,
): void {
  const { registries } = ctx;
  const types = [...registry.keys()];
  const guess = closest(type, types);
  const other =
    section === 'connectors'
      ? registries.notifiers.has(type) && 'notifier'
      : registries.planConnectors.has(type) && 'plan connector';
  const elsewhere = other
    ? `"${type}" is a ${other} type: move this entry under ${section === 'connectors' ? 'notifiers' : 'connectors'}:, or `
    : '';
  ctx.add(
    'VIGIL_ERR_CONFIG_UNKNOWN_TYPE',
    [section, i, 'type'],
    `unknown ${section === 'connectors' ? 'connector' : 'notifier'} type "${type}"`,
    `${elsewhere}${guess ? `did you mean "${guess}"? ` : ''}use one of: ${types.join(', ')}`,
    CONNECTORS_DOC,
  );
}

/** Parses an entry's options with its factory (kept by name), or reports the options its error names. */
function parseConnectorOptions(
  ctx: ConnectorCheck,
  section: ConnectorSection,
  entry: { i: number; name: string | undefined; type: string; options: unknown },
  factory: ConnectorFactory,
): void {
  const { i, name, type } = entry;
  try {
    const options = factory.parse(entry.options ?? {});
    if (name !== undefined) ctx.connectorOptions.set(name, options);
  } catch (e) {
    const who = `${type} "${name ?? `#${i + 1}`}": `;
    const options = badOptions(e, [section, i, 'options']);
    ctx.add(
      isVigilError(e) ? e.code : 'VIGIL_ERR_CONFIG_CONNECTOR_OPTIONS',
      [section, i, 'options'],
      `${who}${e instanceof Error ? e.message : String(e)}`,
      `correct the ${type} options named above`,
      docsForConnector(section, type),
      options
        ? {
            options,
            optionsPrefix: `${who}${new VigilError('VIGIL_ERR_CONFIG_CONNECTOR_OPTIONS', [`${type}: `]).message}`,
          }
        : {},
    );
  }
}

/** The plans (`plan:` and each `rollouts[].plan`) name only connectors defined under `connectors:`. */
function checkPlans(
  substituted: Record<string, unknown>,
  planConnectorNames: ReadonlySet<string>,
  add: AddIssue,
): void {
  const checkPlan = (plan: unknown, path: Path) => {
    asList(plan).forEach((n, i) => {
      if (typeof n !== 'string' || planConnectorNames.has(n)) return;
      const c = closest(n, [...planConnectorNames]);
      add(
        'VIGIL_ERR_CONFIG_UNKNOWN_CONNECTOR',
        [...path, i],
        `plan names connector "${n}", which is not defined under connectors:`,
        `${c ? `did you mean "${c}"? Otherwise, ` : ''}define it under connectors: (name: ${n}, type: …) or remove it from the plan`,
        CONNECTORS_DOC,
      );
    });
  };
  checkPlan(substituted.plan, ['plan']);
  asList(substituted.rollouts).forEach((r, i) => checkPlan(asObject(r)?.plan, ['rollouts', i, 'plan']));
}

/**
 * 2b. Analysis: metric names are unique, detectors are known and build with their options (returned by
 * metric name: the pipeline uses these instances), not every metric is shadow, and maxDuration holds at
 * least one look. `parsed` is the schema's result when the structure is valid.
 */
function checkAnalysis(
  substituted: Record<string, unknown>,
  parsed: VigilConfig | undefined,
  registries: Registries,
  add: AddIssue,
): Map<string, Detector> {
  const defaults = schemaDefaults();
  const analysis = substituted.analysis === undefined ? {} : asObject(substituted.analysis);
  const metrics: unknown[] = analysis
    ? analysis.metrics === undefined
      ? DEFAULT_METRICS
      : asList(analysis.metrics)
    : [];
  const rawMinSamples = analysis?.minSamples;
  const minSamples = parsed
    ? parsed.analysis.minSamples
    : typeof rawMinSamples === 'number' && Number.isInteger(rawMinSamples) && rawMinSamples >= 1
      ? rawMinSamples
      : defaults.analysis.minSamples;
  const detectors = checkMetrics(metrics, minSamples, registries, add);
  if (metrics.length > 0 && metrics.every((m) => asObject(m)?.shadow === true)) {
    add(
      'VIGIL_ERR_CONFIG_INVALID',
      ['analysis', 'metrics'],
      'every metric is shadow: nothing could ever roll back',
      'set shadow: false on at least one metric',
      DETECTORS_DOC,
    );
  }
  checkMaxDuration(analysis, parsed, defaults, add);
  return detectors;
}

/** Each metric: its name is unique and its detector builds (returned by metric name). */
function checkMetrics(
  metrics: readonly unknown[],
  minSamples: number,
  registries: Registries,
  add: AddIssue,
): Map<string, Detector> {
  const metricNames = new Set<string>();
  const detectors = new Map<string, Detector>();
  metrics.forEach((item, i) => {
    const m = asObject(item);
    if (!m) return;
    const name = asString(m.name);
    if (name !== undefined) {
      if (metricNames.has(name))
        add(
          'VIGIL_ERR_CONFIG_DUPLICATE_NAME',
          ['analysis', 'metrics', i, 'name'],
          `metric name "${name}" is used twice`,
          'give every metric its own name',
          DETECTORS_DOC,
        );
      metricNames.add(name);
    }
    const detector = asString(m.detector);
    if (!detector) return;
    buildDetector({ i, name, detector, options: m.options }, minSamples, registries, add, detectors);
  });
  return detectors;
}

/** A metric's detector: its type is known and it builds with the metric's options (kept by metric name). */
function buildDetector(
  metric: { i: number; name: string | undefined; detector: string; options: unknown },
  minSamples: number,
  registries: Registries,
  add: AddIssue,
  detectors: Map<string, Detector>,
): void {
  const { i, name, detector } = metric;
  const factory = registries.detectors.get(detector);
  if (!factory) {
    const types = [...registries.detectors.keys()];
    const guess = closest(detector, types);
    add(
      'VIGIL_ERR_CONFIG_UNKNOWN_TYPE',
      ['analysis', 'metrics', i, 'detector'],
      `unknown detector "${detector}"`,
      `${guess ? `did you mean "${guess}"? ` : ''}use one of: ${types.join(', ')}`,
      DETECTORS_DOC,
    );
    return;
  }
  if (metric.options !== undefined && !asObject(metric.options)) return; // the schema reported it
  try {
    const built = factory.create(name ?? `metrics[${i}]`, metric.options ?? {}, { minSamples });
    if (name !== undefined) detectors.set(name, built);
  } catch (e) {
    const base: Path = ['analysis', 'metrics', i, 'options'];
    add(
      isVigilError(e) ? e.code : 'VIGIL_ERR_DETECTOR_OPTIONS',
      base,
      `${detector}: ${e instanceof Error ? e.message : String(e)}`,
      `correct the ${detector} options named above`,
      docForDetector(detector),
      { options: badOptions(e, base) },
    );
  }
}

/** maxDuration holds at least one look interval (each as parsed, else as written, else the default). */
function checkMaxDuration(
  analysis: Record<string, unknown> | undefined,
  parsed: VigilConfig | undefined,
  defaults: VigilConfig,
  add: AddIssue,
): void {
  const durationAt = (key: 'interval' | 'maxDuration'): number | undefined => {
    if (parsed) return parsed.analysis[key];
    const v = analysis?.[key];
    return v === undefined
      ? defaults.analysis[key]
      : typeof v === 'string' || typeof v === 'number'
        ? parseDuration(v)
        : undefined;
  };
  const interval = durationAt('interval');
  const maxDuration = durationAt('maxDuration');
  if (interval !== undefined && maxDuration !== undefined && maxDuration < interval) {
    add(
      'VIGIL_ERR_CONFIG_INVALID',
      ['analysis', 'maxDuration'],
      'maxDuration is shorter than one look interval',
      'make analysis.maxDuration at least analysis.interval (typically 30m vs 10s)',
      CONFIG_DOC,
    );
  }
}

/**
 * A `rollouts[].service` longer than limits.maxNameLength could never match: the telemetry of such a service
 * is refused where it is decoded (src/ingest/bounded-text.ts).
 */
function checkNameLengths(parsed: VigilConfig | undefined, add: AddIssue): void {
  if (parsed === undefined) return;
  const max = parsed.limits.maxNameLength;
  parsed.rollouts.forEach((r, i) => {
    const bytes = Buffer.byteLength(r.service, 'utf8');
    if (bytes <= max) return;
    add(
      'VIGIL_ERR_CONFIG_INVALID',
      ['rollouts', i, 'service'],
      `service name is ${bytes} bytes long, more than limits.maxNameLength (${max}): telemetry with this service.name is refused`,
      `raise limits.maxNameLength to at least ${bytes}, or name the service as its telemetry does`,
      docForKey(['limits']),
    );
  });
}

/** Normalises a valid config in place (empty tokens dropped, an empty Redis URL is none); returns the warnings. */
function normalise(config: VigilConfig): string[] {
  const warnings: string[] = [];
  config.server.auth.tokens = config.server.auth.tokens.filter((t) => t.length > 0);
  if (config.server.auth.tokens.length === 0)
    warnings.push('server.auth.tokens is empty: the control API is open to anyone who can reach it');
  if (config.queue.redis === '') config.queue.redis = null;
  if (config.plan.length === 0 && config.rollouts.every((r) => !r.plan?.length)) {
    warnings.push('no rollback plan is configured: decisions are recorded and notified, nothing is rolled back');
  }
  return warnings;
}

/**
 * Parses and validates config text. `file` is used in messages only. Throws ConfigError with every issue:
 * the structural (schema) problems AND the semantic ones (registries, cross-references) of every part
 * that could be read, in one run. A value that came from the environment never appears in a message, and
 * an unset variable is one problem, not also a second one about the empty value it left.
 */
export function parseConfig(
  text: string,
  file: string,
  registries: Registries,
  env: NodeJS.ProcessEnv = process.env,
): LoadedConfig {
  const { doc, lc, raw } = readYaml(text, file);
  const issues: Pending[] = [];
  const add: AddIssue = (code, path, problem, fix, docs, extra = {}) => {
    const see = (Array.isArray(docs) ? docs : [docs]).join(' and ');
    issues.push({
      code,
      file,
      key: keyOf(path),
      ...locate(doc, lc, path),
      problem,
      fix: `${fix}; see ${see}`,
      path,
      ...extra,
    });
  };

  const missing: EnvRef[] = [];
  const used: EnvValue[] = [];
  const substituted = substituteEnv(raw, [], env, missing, used) as Record<string, unknown>;
  for (const m of missing) {
    add(
      'VIGIL_ERR_CONFIG_ENV_MISSING',
      m.path,
      `environment variable ${m.name} is not set`,
      `export ${m.name}=… before starting Vigil, or write \${${m.name}:-} to allow it to be empty`,
      CONFIG_DOC,
    );
  }

  const parsed = configSchema.safeParse(substituted, { reportInput: true });
  if (!parsed.success) checkStructure(parsed.error.issues, raw, used, add);
  // 2. Semantics, on every part that can be read (so one run reports everything): names are unique per
  // section, types are known, options parse, plans reference existing connectors, detectors build.
  const connectorOptions = checkConnectors(substituted, registries, add);
  const detectors = checkAnalysis(substituted, parsed.success ? parsed.data : undefined, registries, add);
  checkNameLengths(parsed.success ? parsed.data : undefined, add);

  const reported = finishIssues(issues, missing, used);
  if (reported.length > 0 || !parsed.success) throw new ConfigError(reported);

  const config = parsed.data;
  const warnings = normalise(config);
  return {
    config: deepFreeze(config),
    hash: createHash('sha256').update(canonical(raw)).digest('hex').slice(0, 16),
    file,
    connectorOptions,
    detectors,
    warnings,
  };
}

/**
 * Drops the issues an unset variable caused (at or under its key, or an options error naming only such
 * options), hides every environment value in the texts, and orders the issues as they appear in the file.
 */
function finishIssues(issues: Pending[], missing: readonly EnvRef[], used: readonly EnvValue[]): ConfigIssue[] {
  const fromMissing = (p: Path) => missing.some((m) => isUnder(p, m.path));
  const kept = issues.flatMap((i): Pending[] => {
    if (i.code === 'VIGIL_ERR_CONFIG_ENV_MISSING') return [i];
    if (fromMissing(i.path)) return [];
    const caused = (o: OptionProblem) => o.paths.every(fromMissing);
    if (!i.options?.some(caused)) return [i];
    if (i.options.every(caused)) return [];
    // Some of the problems came from an unset variable: keep the others, when they can be told apart.
    const rest = i.options.filter((o) => !caused(o));
    return i.optionsPrefix !== undefined && rest.every((o) => o.text !== undefined)
      ? [{ ...i, problem: `${i.optionsPrefix}${rest.map((o) => o.text).join('; ')}` }]
      : [i];
  });
  // Longest first, so that a value containing another is replaced whole.
  const secrets = [...used].sort((a, b) => b.value.length - a.value.length);
  const hide = (i: Pending, text: string): string => {
    let out = text;
    for (const u of secrets) {
      // Anywhere for values long enough not to be ordinary words; near their own key for shorter ones.
      const near = isUnder(u.path, i.path) || isUnder(i.path, u.path);
      const ref = `\${${u.name}}`;
      if (near) for (const q of ['"', "'"]) out = out.split(`${q}${u.value}${q}`).join(`${q}${ref}${q}`);
      if (u.value.length >= 8 || (near && u.value.length >= 3)) out = out.split(u.value).join(ref);
    }
    return out;
  };
  return kept
    .map((i, n) => ({ i, n }))
    .sort((a, b) => (a.i.line ?? 0) - (b.i.line ?? 0) || (a.i.column ?? 0) - (b.i.column ?? 0) || a.n - b.n)
    .map(({ i }) => {
      const { path: _path, options: _options, ...issue } = i;
      return { ...issue, problem: hide(i, issue.problem), fix: hide(i, issue.fix) };
    });
}

let defaultsCache: VigilConfig | undefined;
/** Every key at its default (the schema parsed on {}). */
function schemaDefaults(): VigilConfig {
  return (defaultsCache ??= configSchema.parse({}));
}

/** The text of a config file, or a ConfigError that names it. */
function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([
      {
        code: 'VIGIL_ERR_CONFIG_NOT_FOUND',
        file,
        key: '',
        problem: `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
        fix: 'check the path given to --config',
      },
    ]);
  }
}

/** Reads and validates a config file. */
export function loadConfigFile(
  file: string,
  registries: Registries,
  env: NodeJS.ProcessEnv = process.env,
): LoadedConfig {
  const text = readConfigText(file);
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
  const text = readConfigText(file);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const path = ['server', 'api'];
  const all: unknown = doc.errors.length === 0 ? doc.toJS() : undefined;
  const server: unknown = all && typeof all === 'object' ? (all as Record<string, unknown>).server : undefined;
  const node: unknown = server && typeof server === 'object' ? (server as Record<string, unknown>).api : undefined;
  const missing: EnvRef[] = [];
  const used: EnvValue[] = [];
  const api = substituteEnv(node ?? {}, path, env, missing, used);
  const schema = configSchema.shape.server.unwrap().shape.api.unwrap();
  const parsed = schema.safeParse(api, { reportInput: true });
  const fix = `run \`vigil validate ${file}\`, or give the API URL with --api`;
  const issue = (code: ErrorCode, at: Path, problem: string) =>
    new ConfigError([{ code, file, key: keyOf(at), ...locate(doc, lc, at), problem, fix }]);
  if (doc.errors.length > 0) throw issue('VIGIL_ERR_CONFIG_YAML', [], 'the file is not valid YAML');
  if (missing[0])
    throw issue('VIGIL_ERR_CONFIG_ENV_MISSING', missing[0].path, `environment variable ${missing[0].name} is not set`);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    const at: Path = [...path, ...first.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    const fromEnv = used.some((u) => isUnder(u.path, at));
    const shown =
      first.input === undefined
        ? undefined
        : showValue(fromEnv && typeof first.input === 'string' ? valueAt(node, at.slice(2)) : first.input);
    throw issue('VIGIL_ERR_CONFIG_INVALID', at, describeSchemaIssue(first, { shown, fromEnv }).problem);
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
