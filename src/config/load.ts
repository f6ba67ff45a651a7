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
import { formatDuration } from './duration.js';
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

/** What ${ENV} substitution saw: unset variables without a default, values used, unset ones that took their default. */
interface EnvUse {
  missing: EnvRef[];
  used: EnvValue[];
  /** ${VAR:-default} with VAR unset: the default was used (a `${VIGIL_TOKEN:-}` left empty is named by these). */
  defaulted: EnvRef[];
}

/**
 * Replaces ${VAR} and ${VAR:-default} in every string scalar; an unset VAR without default is an issue.
 * `seen.used` records each substituted environment value and where, so that messages can hide it.
 */
function substituteEnv(value: unknown, path: Path, env: NodeJS.ProcessEnv, seen: EnvUse): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, varName: string, hasDefault: string | undefined, def: string | undefined) => {
      const v = env[varName];
      if (v !== undefined) {
        seen.used.push({ path, name: varName, value: v });
        return v;
      }
      if (hasDefault !== undefined) {
        seen.defaulted.push({ path, name: varName });
        return def ?? '';
      }
      seen.missing.push({ path, name: varName });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, [...path, i], env, seen));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, [...path, k], env, seen)]));
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
  rollouts: ['plan', 'canaryVersion', 'expectedCanaryShare', 'baseline', 'promote', 'drill'],
};

/** Keys the schema knows at a path, from the defaults (plus the optional ones without defaults). */
function knownKeys(path: readonly PropertyKey[]): string[] {
  let node: unknown = schemaDefaults();
  const named = path.filter((p) => typeof p !== 'number').map(String);
  for (const p of named) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[p] : undefined;
  const keys = node && typeof node === 'object' && !Array.isArray(node) ? Object.keys(node) : [];
  if (named[0] === 'analysis' && named[1] === 'metrics')
    keys.push('name', 'detector', 'options', 'shadow', 'acknowledgeNotAnytimeValid', 'weight', 'source', 'where');
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
    // An empty token is reported by checkAuth, which names the variable that left it empty.
    if (issue.code === 'too_small' && isUnder(path, TOKENS_PATH) && path.length === TOKENS_PATH.length + 1) continue;
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
  checkPromotionVia(substituted, ctx);
  return ctx.connectorOptions;
}

/** A promotion plan's `via` can set a canary share (its factory says so for its options: flagd needs canaryVariant). */
function checkPromotionVia(substituted: Record<string, unknown>, ctx: ConnectorCheck): void {
  const types = new Map<string, string>();
  for (const c of asList(substituted.connectors)) {
    const name = asString(asObject(c)?.name);
    const type = asString(asObject(c)?.type);
    if (name !== undefined && type !== undefined) types.set(name, type);
  }
  asList(substituted.rollouts).forEach((r, i) => {
    const via = asString(asObject(asObject(r)?.promote)?.via);
    const type = via === undefined ? undefined : types.get(via);
    const factory = type === undefined ? undefined : ctx.registries.planConnectors.get(type);
    // an unknown connector or type, or options that did not parse, are reported on their own
    if (via === undefined || factory === undefined || !ctx.connectorOptions.has(via)) return;
    if (factory.setsShare?.(ctx.connectorOptions.get(via)) === true) return;
    const option = { flagd: 'canaryVariant', launchdarkly: 'canaryVariation', flagsmith: 'canaryValue' }[type ?? ''];
    const flagd = option ? `: give it options.${option} (the one that serves the canary)` : '';
    ctx.add(
      'VIGIL_ERR_CONFIG_INVALID',
      ['rollouts', i, 'promote', 'via'],
      `promote.via names connector "${via}" (type ${type}), which cannot set a canary share${flagd}`,
      'use a connector that can: nginx, haproxy, gateway-api, istio, flagd with canaryVariant, unleash, launchdarkly with canaryVariation, flagsmith with canaryValue, or noop of kind traffic or flag (docs/connectors.md "Canary share")',
      CONNECTORS_DOC,
    );
  });
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
  // a promotion plan moves the share through a connector of the same list
  asList(substituted.rollouts).forEach((r, i) => {
    const via = asObject(asObject(r)?.promote)?.via;
    if (typeof via !== 'string' || planConnectorNames.has(via)) return;
    const c = closest(via, [...planConnectorNames]);
    add(
      'VIGIL_ERR_CONFIG_UNKNOWN_CONNECTOR',
      ['rollouts', i, 'promote', 'via'],
      `promote.via names connector "${via}", which is not defined under connectors:`,
      `${c ? `did you mean "${c}"? Otherwise, ` : ''}define it under connectors: (a traffic or flag connector)`,
      CONNECTORS_DOC,
    );
  });
}

/**
 * 2b. Analysis: metric names are unique, detectors are known and build with their options (returned by
 * metric name: the pipeline uses these instances), and not every metric is shadow. `parsed` is the schema's
 * result when the structure is valid.
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
    const factory = registries.detectors.get(detector);
    if (factory) checkAnytimeValid({ i, name, detector, metric: m }, factory, add);
  });
  return detectors;
}

/**
 * An ACTING metric's detector is anytime-valid (its factory says `anytimeValid: true`), or the metric acknowledges
 * that it is not (`acknowledgeNotAnytimeValid: true`): a fixed-horizon test re-run at every look, such as
 * kayenta-mann-whitney, raises more false alarms the more looks it takes, so alpha no longer bounds the false
 * rollbacks. A factory that does not say `true` (a plug-in without the key) is taken as not anytime-valid.
 * Shadow metrics never act: they need no acknowledgement.
 */
function checkAnytimeValid(
  entry: { i: number; name: string | undefined; detector: string; metric: Record<string, unknown> },
  factory: DetectorFactory,
  add: AddIssue,
): void {
  const { shadow, acknowledgeNotAnytimeValid: acknowledged } = entry.metric;
  if (factory.anytimeValid === true || shadow === true || acknowledged === true) return;
  // a value that is not a boolean: the schema reported it
  if (![shadow, acknowledged].every((v) => v === undefined || typeof v === 'boolean')) return;
  const { i, name, detector } = entry;
  const who = name === undefined ? 'this metric' : `metric "${name}"`;
  const declared = factory.anytimeValid === false;
  add(
    'VIGIL_ERR_CONFIG_NOT_ANYTIME_VALID',
    ['analysis', 'metrics', i],
    declared
      ? `${who} acts (shadow is not true) with detector ${detector}, which is not anytime-valid: its false alarms grow with the number of looks, so alpha no longer bounds the false rollbacks`
      : `${who} acts (shadow is not true) with detector ${detector}, which does not declare itself anytime-valid (its factory has no anytimeValid: true), so alpha may not bound its false rollbacks`,
    declared
      ? 'set shadow: true to compare verdicts during a migration, or acknowledgeNotAnytimeValid: true to let it act knowing its false alarms grow with the number of looks'
      : `set shadow: true to trial it, or acknowledgeNotAnytimeValid: true to let it act knowing its false alarms may grow with the number of looks; if ${detector} is anytime-valid, declare anytimeValid: true on its factory instead`,
    docForDetector(detector),
  );
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

type NumericKey<T> = { [K in keyof T]: T[K] extends number ? K : never }[keyof T] & string;
type NumericSection = 'analysis' | 'limits' | 'ingest' | 'actions' | 'state' | 'queue';

/**
 * A number or duration as the agent would use it: from the parsed config, or, when another part of the file
 * is invalid, this key alone parsed as written (its default when absent). Undefined when the key itself is
 * invalid: the schema reported it, and the checks across keys skip it.
 */
function settingOf<S extends NumericSection>(
  substituted: Record<string, unknown>,
  parsed: VigilConfig | undefined,
  section: S,
  key: NumericKey<VigilConfig[S]>,
): number | undefined {
  if (parsed) return parsed[section][key] as number;
  const written = substituted[section];
  if (written !== undefined && !asObject(written)) return undefined;
  const sectionSchema = configSchema.shape[section] as unknown as { unwrap(): { shape: Record<string, z.ZodType> } };
  const r = sectionSchema.unwrap().shape[key]?.safeParse(asObject(written)?.[key]);
  return r?.success && typeof r.data === 'number' ? r.data : undefined;
}

/** The longest wait between two attempts of a job (`actions.backoff` doubled per attempt) may be at most this. */
export const MAX_RETRY_WAIT_MS = 3_600_000;
/** `analysis.baselineHistory` keeps at most this many looks of a service's baseline. */
export const MAX_BASELINE_LOOKS = 1000;

/**
 * 2c. The numbers and durations against each other: each alone is in its range (the schema), these say what no
 * range can. O(1).
 */
function checkSettings(substituted: Record<string, unknown>, parsed: VigilConfig | undefined, add: AddIssue): void {
  const at = <S extends NumericSection>(section: S, key: NumericKey<VigilConfig[S]>) =>
    settingOf(substituted, parsed, section, key);
  const fmt = formatDuration;
  const interval = at('analysis', 'interval');
  const maxDuration = at('analysis', 'maxDuration');
  const lateness = at('analysis', 'allowedLateness');
  const silence = at('analysis', 'silenceTimeout');
  const sourceIdle = at('analysis', 'sourceIdleTimeout');
  const history = at('analysis', 'baselineHistory');
  const invalid = (path: Path, problem: string, fix: string) =>
    add('VIGIL_ERR_CONFIG_INVALID', path, problem, fix, docForKey(path));

  if (interval !== undefined && maxDuration !== undefined && maxDuration <= interval) {
    invalid(
      ['analysis', 'maxDuration'],
      `maxDuration (${fmt(maxDuration)}) is not longer than one look interval (${fmt(interval)}): the analysis would end before its first look`,
      'make analysis.maxDuration longer than analysis.interval (typically 30m vs 10s)',
    );
  }
  if (lateness !== undefined && maxDuration !== undefined && lateness >= maxDuration) {
    invalid(
      ['analysis', 'allowedLateness'],
      `allowedLateness (${fmt(lateness)}) is not shorter than maxDuration (${fmt(maxDuration)}): no look could close before the analysis ends`,
      'make analysis.allowedLateness the spread of a cohort’s exports (5s with the OTel SDK), well below analysis.maxDuration',
    );
  }
  if (silence !== undefined && interval !== undefined && silence < interval) {
    invalid(
      ['analysis', 'silenceTimeout'],
      `silenceTimeout (${fmt(silence)}) is shorter than one look interval (${fmt(interval)}): a canary would be abandoned between two of its looks`,
      'make analysis.silenceTimeout at least analysis.interval (typically 5m vs 10s)',
    );
  }
  if (history !== undefined && interval !== undefined && history > MAX_BASELINE_LOOKS * interval) {
    invalid(
      ['analysis', 'baselineHistory'],
      `baselineHistory (${fmt(history)}) holds ${Math.ceil(history / interval)} looks of ${fmt(interval)} per service, more than ${MAX_BASELINE_LOOKS}`,
      `keep analysis.baselineHistory at most ${MAX_BASELINE_LOOKS} look intervals (${fmt(MAX_BASELINE_LOOKS * interval)} here), or lengthen analysis.interval`,
    );
  }
  const serviceIdle = at('limits', 'serviceIdleTimeout');
  const floor = Math.max(interval ?? 0, sourceIdle ?? 0);
  if (serviceIdle !== undefined && interval !== undefined && sourceIdle !== undefined && serviceIdle < floor) {
    invalid(
      ['limits', 'serviceIdleTimeout'],
      `serviceIdleTimeout (${fmt(serviceIdle)}) is shorter than ${floor === interval ? `one look interval (${fmt(interval)})` : `analysis.sourceIdleTimeout (${fmt(sourceIdle)})`}: a service whose telemetry pauses that long would be forgotten with its running analyses`,
      `make limits.serviceIdleTimeout at least ${fmt(floor)} (typically 1h)`,
    );
  }
  const stormWindow = at('actions', 'stormWindow');
  if (stormWindow !== undefined && interval !== undefined && stormWindow < interval) {
    invalid(
      ['actions', 'stormWindow'],
      `stormWindow (${fmt(stormWindow)}) is shorter than one look interval (${fmt(interval)}): the storm guard could never count two rollbacks`,
      'make actions.stormWindow at least analysis.interval (typically 1h)',
    );
  }
  const attempts = at('actions', 'attempts');
  const backoff = at('actions', 'backoff');
  if (attempts !== undefined && backoff !== undefined && attempts >= 2) {
    const lastWait = backoff * 2 ** (attempts - 2);
    if (lastWait > MAX_RETRY_WAIT_MS) {
      invalid(
        ['actions', 'attempts'],
        `with backoff ${fmt(backoff)} doubled per attempt, attempt ${attempts} would wait ${fmt(lastWait)} after the one before: a rollback step retried that late is no rollback`,
        `lower actions.attempts or actions.backoff until backoff * 2^(attempts-2) is at most ${fmt(MAX_RETRY_WAIT_MS)} (the default: 5 attempts, 1s)`,
      );
    }
  }
  checkPorts(substituted, parsed, add);
  checkCluster(substituted, parsed, add);
}

/** `cluster.enabled` needs the one Redis the replicas share (`queue.redis`); with BullMQ, a plan step ends before its
 *  job's lock. */
function checkCluster(substituted: Record<string, unknown>, parsed: VigilConfig | undefined, add: AddIssue): void {
  const enabled = parsed ? parsed.cluster.enabled : asObject(substituted.cluster)?.enabled === true;
  const redis = parsed ? parsed.queue.redis : asObject(substituted.queue)?.redis;
  const bullmq = typeof redis === 'string' && redis !== '';
  const stepTimeout = settingOf(substituted, parsed, 'actions', 'stepTimeout');
  const jobLock = settingOf(substituted, parsed, 'queue', 'jobLock');
  // the embedded queue has no lock: only BullMQ takes a long step for stalled
  if (bullmq && stepTimeout !== undefined && jobLock !== undefined && stepTimeout >= jobLock) {
    add(
      'VIGIL_ERR_CONFIG_INVALID',
      ['actions', 'stepTimeout'],
      `stepTimeout (${formatDuration(stepTimeout)}) is not shorter than queue.jobLock (${formatDuration(jobLock)}): a slow step would be taken for stalled and run twice at once`,
      'keep actions.stepTimeout below queue.jobLock (defaults: 20s and 30s)',
      docForKey(['actions', 'stepTimeout']),
    );
  }
  if (enabled && !bullmq) {
    add(
      'VIGIL_ERR_CONFIG_INVALID',
      ['cluster', 'enabled'],
      'cluster.enabled needs queue.redis: the replicas share their leases, checkpoints and decisions through one Redis',
      'set queue.redis to the Redis every replica uses (redis://host:6379), or set cluster.enabled to false',
      docForKey(['cluster', 'enabled']),
    );
  }
}

const LISTENERS = ['otlpHttp', 'otlpGrpc', 'api'] as const;
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);

/** No two listeners on the same port of the same address (a wildcard host shares every address); port 0 is any. */
function checkPorts(substituted: Record<string, unknown>, parsed: VigilConfig | undefined, add: AddIssue): void {
  const defaults = schemaDefaults().server;
  const server = asObject(substituted.server);
  const seen: { name: string; host: string; port: number }[] = [];
  for (const name of LISTENERS) {
    const written = asObject(server?.[name]);
    const host = parsed ? parsed.server[name].host : (written?.host ?? defaults[name].host);
    const port = parsed ? parsed.server[name].port : (written?.port ?? defaults[name].port);
    if (typeof host !== 'string' || typeof port !== 'number' || !Number.isInteger(port) || port <= 0) continue;
    const clash = seen.find(
      (o) => o.port === port && (o.host === host || WILDCARD_HOSTS.has(o.host) || WILDCARD_HOSTS.has(host)),
    );
    if (clash) {
      add(
        'VIGIL_ERR_CONFIG_INVALID',
        ['server', name, 'port'],
        `port ${port} is also server.${clash.name}.port on ${clash.host === host ? host : 'an overlapping address'}: the second listener could not start`,
        `give server.${name} a port of its own (defaults: otlpGrpc 4317, otlpHttp 4318, api 8080)`,
        CONFIG_DOC,
      );
    }
    seen.push({ name, host, port });
  }
}

/** 2d. Rollouts: one entry per service (a second one would be ignored without a word). */
function checkRollouts(substituted: Record<string, unknown>, add: AddIssue): void {
  const seen = new Set<string>();
  asList(substituted.rollouts).forEach((r, i) => {
    const service = asString(asObject(r)?.service);
    if (service === undefined) return;
    if (seen.has(service)) {
      add(
        'VIGIL_ERR_CONFIG_DUPLICATE_NAME',
        ['rollouts', i, 'service'],
        `service "${service}" has a second rollouts entry, which would be ignored`,
        `merge the entries of "${service}" into one`,
        CONFIG_DOC,
      );
    }
    seen.add(service);
  });
}

const TOKENS_PATH: Path = ['server', 'auth', 'tokens'];
const OPEN_INSTEAD = 'to open the API on purpose, remove the tokens and set server.auth.open: true';
/** What a bearer token may hold: visible ASCII, no spaces (RFC 6750's b64token is a subset). */
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

/**
 * 2e. The control API's authentication: every token is non-empty and can travel in an Authorization header;
 * `open: true` goes without tokens; and, for `vigil serve` (`serving`), the API has tokens or says out loud
 * that it is open. A token's value is never shown; a token left empty by `${VAR:-}` names VAR.
 */
function checkAuth(substituted: Record<string, unknown>, env: EnvUse, serving: boolean, add: AddIssue): void {
  const auth = asObject(asObject(substituted.server)?.auth);
  const written = auth?.tokens;
  if (written !== undefined && !Array.isArray(written)) return; // the schema reported it
  const tokens = asList(written);
  const doc = CONFIG_DOC;
  const names = new Set<string>();
  tokens.forEach((written, i) => {
    // a plain token, or the `token` of a scoped one `{ name, token, scopes }`
    const scoped = asObject(written);
    const t = scoped ? scoped.token : written;
    const name = scoped?.name;
    if (typeof name === 'string' && names.has(name))
      add(
        'VIGIL_ERR_CONFIG_DUPLICATE_NAME',
        [...TOKENS_PATH, i, 'name'],
        `token name ${name} is used twice: the audit log could not tell who acted`,
        'give each token a name of its own',
        doc,
      );
    if (typeof name === 'string') names.add(name);
    if (typeof t !== 'string') return; // the schema reported it
    const path: Path = scoped ? [...TOKENS_PATH, i, 'token'] : [...TOKENS_PATH, i];
    const here = (r: EnvRef) => r.path.length === path.length && isUnder(r.path, path);
    if (t.trim() === '') {
      const defaulted = env.defaulted.find(here);
      const empty = env.used.find((u) => here(u) && u.value.trim() === '');
      if (defaulted)
        add(
          'VIGIL_ERR_CONFIG_ENV_MISSING',
          path,
          `environment variable ${defaulted.name} is not set, and its default after ":-" is empty: the token would be empty`,
          `export ${defaulted.name}=<a long random token> before starting Vigil, and write \${${defaulted.name}} (an empty token never opens the API; ${OPEN_INSTEAD})`,
          doc,
        );
      else
        add(
          'VIGIL_ERR_CONFIG_AUTH',
          path,
          empty ? `environment variable ${empty.name} is empty: the token would be empty` : 'the token is empty',
          `${empty ? `set ${empty.name} to a long random token` : 'write a long random token as an ${ENV} reference, e.g. "${VIGIL_TOKEN}", or remove the entry'} (an empty token never opens the API; ${OPEN_INSTEAD})`,
          doc,
        );
    } else if (!TOKEN_CHARS.test(t)) {
      add(
        'VIGIL_ERR_CONFIG_AUTH',
        path,
        'the token holds a space, a line break or a non-ASCII character: no Authorization header could carry it, so it would never match',
        'use visible ASCII characters only, e.g. `openssl rand -hex 32`; a token read from a file often keeps its trailing newline',
        doc,
      );
    }
  });
  const open = auth?.open;
  if (open === true && tokens.length > 0) {
    add(
      'VIGIL_ERR_CONFIG_AUTH',
      ['server', 'auth', 'open'],
      'server.auth.open is true, and server.auth.tokens lists tokens: the API cannot be both open and protected',
      'remove open: true to require the tokens, or remove the tokens to open the API on purpose',
      doc,
    );
  }
  if (serving && tokens.length === 0 && open !== true && (open === undefined || typeof open === 'boolean')) {
    add(
      'VIGIL_ERR_CONFIG_AUTH',
      written === undefined ? ['server', 'auth'] : TOKENS_PATH,
      'the control API has no bearer token: anyone who can reach it could read every analysis and decision and resume rolled-back versions',
      'add server.auth.tokens: ["${VIGIL_TOKEN}"] and export VIGIL_TOKEN=<a long random token> (e.g. `openssl rand -hex 32`), or set server.auth.open: true to open the API on purpose (warned at start)',
      doc,
    );
  }
}

/** The warning `vigil validate` prints and `vigil serve` logs at start for `server.auth.open: true`. */
export const OPEN_API_WARNING =
  'server.auth.open is true: the control API and the dashboard need no token, so ANYONE who can reach them can read every analysis and decision and RESUME rolled-back versions; set server.auth.tokens to protect them';

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

/** Normalises a valid config in place (an empty Redis URL is none); returns the warnings. */
function normalise(config: VigilConfig): string[] {
  const warnings: string[] = [];
  if (config.server.auth.open) warnings.push(OPEN_API_WARNING);
  const { silenceTimeout, maxDuration } = config.analysis;
  if (silenceTimeout >= maxDuration)
    warnings.push(
      `analysis.silenceTimeout (${formatDuration(silenceTimeout)}) is not shorter than analysis.maxDuration (${formatDuration(maxDuration)}): a canary that goes silent can be promoted at maxDuration instead of abandoned`,
    );
  if (config.queue.redis === '') config.queue.redis = null;
  if (config.plan.length === 0 && config.rollouts.every((r) => !r.plan?.length)) {
    warnings.push('no rollback plan is configured: decisions are recorded and notified, nothing is rolled back');
  }
  return warnings;
}

export interface ParseOptions {
  /**
   * Checked for `vigil serve` (and `vigil validate`, which checks as serve loads): the control API must have
   * bearer tokens or `server.auth.open: true`. Tools that serve no API (replay, backtest, connectors test) and
   * agents built in tests leave it off; an agent without either answers 401 on /api/* (src/http/api-app.ts).
   */
  serving?: boolean;
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
  opts: ParseOptions = {},
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

  const seen: EnvUse = { missing: [], used: [], defaulted: [] };
  const { missing, used } = seen;
  const substituted = substituteEnv(raw, [], env, seen) as Record<string, unknown>;
  for (const m of missing) {
    add(
      'VIGIL_ERR_CONFIG_ENV_MISSING',
      m.path,
      `environment variable ${m.name} is not set`,
      isUnder(m.path, TOKENS_PATH)
        ? `export ${m.name}=<a long random token> before starting Vigil (an empty token is refused, never an open API; ${OPEN_INSTEAD})`
        : `export ${m.name}=… before starting Vigil, or write \${${m.name}:-} to allow it to be empty`,
      CONFIG_DOC,
    );
  }

  const parsed = configSchema.safeParse(substituted, { reportInput: true });
  if (!parsed.success) checkStructure(parsed.error.issues, raw, used, add);
  // 2. Semantics, on every part that can be read (so one run reports everything): names are unique per
  // section, types are known, options parse, plans reference existing connectors, detectors build.
  const connectorOptions = checkConnectors(substituted, registries, add);
  const detectors = checkAnalysis(substituted, parsed.success ? parsed.data : undefined, registries, add);
  checkSettings(substituted, parsed.success ? parsed.data : undefined, add);
  checkRollouts(substituted, add);
  checkAuth(substituted, seen, opts.serving === true, add);
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
  opts: ParseOptions = {},
): LoadedConfig {
  const text = readConfigText(file);
  return parseConfig(text, file, registries, env, opts);
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
  const seen: EnvUse = { missing: [], used: [], defaulted: [] };
  const { missing, used } = seen;
  const api = substituteEnv(node ?? {}, path, env, seen);
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

/**
 * The embedded default for `vigil serve` without --config: every key at its default, and the control API's
 * bearer token from VIGIL_TOKEN (`vigil status` sends the same variable).
 */
export const EMBEDDED_SERVE_CONFIG = 'server: { auth: { tokens: ["${VIGIL_TOKEN}"] } }\n';

/**
 * The embedded default: no file, every key at its default. With `serving` (vigil serve without --config), the
 * API's token comes from VIGIL_TOKEN in `env`; unset or empty, a ConfigError says how to set it or open the API.
 */
export function defaultConfig(
  registries: Registries,
  opts: ParseOptions & { env?: NodeJS.ProcessEnv } = {},
): LoadedConfig {
  if (!opts.serving) return { ...parseConfig('{}', '<defaults>', registries, {}), file: '<defaults>' };
  const token = (opts.env ?? process.env).VIGIL_TOKEN;
  if (!token) {
    throw new ConfigError([
      {
        code: 'VIGIL_ERR_CONFIG_AUTH',
        file: '<defaults>',
        key: 'server.auth.tokens',
        problem: `without --config the control API takes its bearer token from VIGIL_TOKEN, which is ${token === undefined ? 'not set' : 'empty'}`,
        fix: `export VIGIL_TOKEN=<a long random token> (e.g. \`openssl rand -hex 32\`; vigil status sends it too), or pass --config with server.auth.tokens, or with server.auth.open: true to open the API on purpose; see ${CONFIG_DOC}`,
      },
    ]);
  }
  return parseConfig(EMBEDDED_SERVE_CONFIG, '<defaults>', registries, { VIGIL_TOKEN: token }, { serving: true });
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
