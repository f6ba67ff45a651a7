/**
 * The config's JSON Schema (schema/vigil.schema.json, `npm run schema`), generated from the ONE zod schema
 * (./schema.ts) so editors complete and check vigil.yaml with the rules Vigil applies at load.
 *
 * It describes the YAML as written, before ${ENV} substitution (io "input": keys with defaults are optional,
 * durations are strings or numbers). Zod gives the structure, bounds, enums, defaults, strictness and the
 * `.meta({ description })` texts; this module adds what zod cannot say on its own:
 * - durations: the transform is invisible to JSON Schema, so their string form gets the grammar of
 *   parseDuration (DURATION_PATTERN) and their number form (milliseconds) the key's bounds (DURATION_BOUNDS);
 *   a string out of bounds (`0s` for analysis.interval) is caught at load only;
 * - case-insensitive regexes (`/…/i`): JSON Schema patterns have no flags, so the pattern is rewritten to
 *   accept both cases (caseInsensitivePattern);
 * - ${ENV} references: a string whose schema constrains its content (enum, pattern, format) also accepts any
 *   string holding a ${VAR} or ${VAR:-default} reference, whose value is known (and checked) only at load;
 * - the names Vigil knows for `analysis.metrics[].detector`, `connectors[].type` and `notifiers[].type`,
 *   as enums, from the plug-in names the caller passes (pluginNames(BUILTIN_REGISTRIES)): the schema
 *   itself knows no registry, the generator script and its test do.
 * What it cannot say (cross references, unique names, per-type options, env variables that must be set)
 * is checked at load only: test/unit/config/json-schema.test.ts lists those invalid fixtures.
 */
import { z } from 'zod';
import type { Registries } from './load.js';
import { configSchema, DURATION_BOUNDS } from './schema.js';

/** Where the schema is published; the `$id` of the document. */
export const SCHEMA_ID = 'https://raw.githubusercontent.com/vigil-dev/vigil/main/schema/vigil.schema.json';

/** Draft-07: what the YAML language server (VS Code YAML, Neovim, Helix…) and JetBrains IDEs support fully. */
export const SCHEMA_DIALECT = 'http://json-schema.org/draft-07/schema#';

/** The string form of a duration, as parseDuration (./duration.ts) reads it: `500ms`, `10s`, `1h30m`, `2d`. */
export const DURATION_PATTERN = String.raw`^\s*(\d+(\.\d+)?(ms|s|m|h|d))+\s*$`;

/** A ${VAR} or ${VAR:-default} reference anywhere in a string, as src/config/load.ts substitutes it. */
export const ENV_REFERENCE_PATTERN = String.raw`\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}`;

const ENV_REFERENCE_DEF = 'envReference';
const ENV_REFERENCE_REF = `#/definitions/${ENV_REFERENCE_DEF}`;

/** The names of the built-in plug-ins, enumerated where the config names one. */
export interface PluginNames {
  detectors: readonly string[];
  connectors: readonly string[];
  notifiers: readonly string[];
}

/** Plug-in names of a registry set, sorted (the schema does not change when registration order does). */
export function pluginNames(registries: Registries): PluginNames {
  const sorted = (m: ReadonlyMap<string, unknown>) => [...m.keys()].sort();
  return {
    detectors: sorted(registries.detectors),
    connectors: sorted(registries.planConnectors),
    notifiers: sorted(registries.notifiers),
  };
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The JSON Schema of vigil.yaml. `plugins` become the enums of detector and connector/notifier types
 * (pass pluginNames(BUILTIN_REGISTRIES)).
 */
export function configJsonSchema(plugins: PluginNames): Json {
  const generated = z.toJSONSchema(configSchema, {
    target: 'draft-07',
    io: 'input',
    // Everything in the config is representable; a new construct that is not must be handled here.
    unrepresentable: 'throw',
    override: ({ zodSchema, jsonSchema }) => {
      const json = jsonSchema as Json;
      if (isDuration(zodSchema)) {
        const bounds = DURATION_BOUNDS.get(zodSchema);
        if (!bounds) throw new Error('config JSON Schema: a duration without bounds (schema.ts `duration`)');
        delete json.type;
        json.anyOf = [
          { type: 'string', pattern: DURATION_PATTERN },
          { type: 'number', minimum: bounds.min, maximum: bounds.max },
        ];
      } else if (zodSchema instanceof z.ZodString) {
        rewriteFlaggedRegexes(zodSchema, json);
      }
    },
  });
  // A copy: zod may share one object between places (connectors and notifiers items) that differ below.
  const body = structuredClone(generated) as Json;
  delete body.$schema;
  const { title, description, ...rest } = body;

  setEnum(
    rest,
    ['properties', 'analysis', 'properties', 'metrics', 'items', 'properties', 'detector'],
    plugins.detectors,
  );
  setEnum(rest, ['properties', 'connectors', 'items', 'properties', 'type'], plugins.connectors);
  setEnum(rest, ['properties', 'notifiers', 'items', 'properties', 'type'], plugins.notifiers);
  allowEnvReferences(rest);

  return {
    $schema: SCHEMA_DIALECT,
    $id: SCHEMA_ID,
    title,
    description,
    ...rest,
    definitions: {
      ...(isObject(rest.definitions) ? rest.definitions : {}),
      [ENV_REFERENCE_DEF]: {
        description:
          'A ${VAR} or ${VAR:-default} reference: its value is known, and checked, when Vigil loads the config.',
        type: 'string',
        pattern: ENV_REFERENCE_PATTERN,
      },
    },
  };
}

/** The document as written to schema/vigil.schema.json: 2-space JSON and a final newline. */
export function formatJsonSchema(schema: Json): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

/** The duration helper of schema.ts: union(string, number) with a default, piped into a transform. */
function isDuration(schema: unknown): boolean {
  if (!(schema instanceof z.ZodPipe) || !(schema.def.out instanceof z.ZodTransform)) return false;
  let input: unknown = schema.def.in;
  while (input instanceof z.ZodDefault) input = input.def.innerType;
  if (!(input instanceof z.ZodUnion)) return false;
  const options = input.def.options as readonly unknown[];
  return (
    options.length === 2 &&
    options.some((o) => o instanceof z.ZodString) &&
    options.some((o) => o instanceof z.ZodNumber)
  );
}

/** JSON Schema patterns have no flags: `i` is rewritten into the pattern, other flags are refused. */
function rewriteFlaggedRegexes(schema: z.ZodString, json: Json): void {
  for (const check of schema.def.checks ?? []) {
    const def = check._zod.def as { check: string; format?: string; pattern?: RegExp };
    if (def.check !== 'string_format' || def.format !== 'regex' || !def.pattern?.flags) continue;
    const { source, flags } = def.pattern;
    if (flags.replace(/[iu]/g, '') !== '')
      throw new Error(`config JSON Schema: regex /${source}/${flags}: only the i and u flags can be expressed`);
    if (!flags.includes('i')) continue;
    const rewritten = caseInsensitivePattern(source);
    let found = false;
    const visit = (node: Json) => {
      if (node.pattern === source) [node.pattern, found] = [rewritten, true];
      if (Array.isArray(node.allOf)) for (const s of node.allOf) if (isObject(s)) visit(s);
    };
    visit(json);
    if (!found) throw new Error(`config JSON Schema: regex /${source}/${flags} not found in the generated schema`);
  }
}

const LETTER = /^[a-z]$/i;
const swapCase = (c: string) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase());

/**
 * An ASCII pattern that matches, without the `i` flag, what `source` matches with it: a letter outside a
 * class becomes `[xX]`; a class gets the other case of its letters and letter ranges. Constructs whose
 * case-insensitive meaning this does not model (\u, \x, \p, \k, \c escapes, named groups) are refused.
 */
export function caseInsensitivePattern(source: string): string {
  let out = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '\\') {
      const escaped = source.slice(i, i + 2);
      if (/^\\[uxpPkc]$/.test(escaped))
        throw new Error(`caseInsensitivePattern: ${escaped} in /${source}/i is not supported`);
      out += escaped;
      i += 2;
    } else if (c === '(' && /^\(\?<[A-Za-z]/.test(source.slice(i, i + 4))) {
      throw new Error(`caseInsensitivePattern: named groups in /${source}/i are not supported`);
    } else if (c === '[') {
      let j = i + 1;
      const negated = source[j] === '^';
      if (negated) j++;
      let body = '';
      while (j < source.length && source[j] !== ']') {
        const piece = source[j] === '\\' ? source.slice(j, j + 2) : source[j]!;
        if (/^\\[uxpPkc]$/.test(piece))
          throw new Error(`caseInsensitivePattern: ${piece} in /${source}/i is not supported`);
        body += piece;
        j += piece.length;
      }
      if (j >= source.length) throw new Error(`caseInsensitivePattern: unterminated class in /${source}/i`);
      let extra = '';
      for (let k = 0; k < body.length;) {
        const first = body[k] === '\\' ? body.slice(k, k + 2) : body[k]!;
        const rangeEnd =
          body[k + first.length] === '-' && k + first.length + 1 < body.length
            ? body.slice(k + first.length + 1, k + first.length + 2)
            : undefined;
        if (rangeEnd === undefined) {
          if (LETTER.test(first)) extra += swapCase(first);
          k += first.length;
          continue;
        }
        const sameCaseLetters =
          LETTER.test(first) &&
          LETTER.test(rangeEnd) &&
          (first === first.toLowerCase()) === (rangeEnd === rangeEnd.toLowerCase());
        const noLetters = /^[0-9]$/.test(first) && /^[0-9]$/.test(rangeEnd);
        if (sameCaseLetters) extra += `${swapCase(first)}-${swapCase(rangeEnd)}`;
        else if (!noLetters)
          throw new Error(`caseInsensitivePattern: range ${first}-${rangeEnd} in /${source}/i is not supported`);
        k += first.length + 2;
      }
      // The other case goes first, so a trailing or leading "-" of the class stays a literal "-".
      const lead = body.startsWith('-') ? '-' : '';
      out += `[${negated ? '^' : ''}${lead}${extra}${lead ? body.slice(1) : body}]`;
      i = j + 1;
    } else if (LETTER.test(c)) {
      out += `[${c}${swapCase(c)}]`;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Sets `enum` on the string schema at `path`; anything else there means the config schema moved. */
function setEnum(root: Json, path: readonly string[], values: readonly string[]): void {
  let node: unknown = root;
  for (const key of path) node = isObject(node) ? node[key] : undefined;
  if (!isObject(node) || node.type !== 'string' || node.enum !== undefined) {
    throw new Error(`config JSON Schema: expected a plain string schema at ${path.join('.')}`);
  }
  if (values.length === 0) throw new Error(`config JSON Schema: no names to enumerate at ${path.join('.')}`);
  node.enum = [...values];
}

const CONSTRAINTS = ['enum', 'const', 'pattern', 'format'] as const;
/** Keywords that say what a value is (moved into the branch) rather than describe it (kept on the node). */
const STRING_KEYWORDS = ['type', ...CONSTRAINTS, 'minLength', 'maxLength'] as const;

const isConstrainedString = (s: unknown): s is Json =>
  isObject(s) && s.type === 'string' && CONSTRAINTS.some((k) => k in s);

/**
 * Lets every constrained string also be an ${ENV} reference: `{type: string, enum: [a, b]}` becomes
 * `{anyOf: [{type: string, enum: [a, b]}, {$ref: envReference}]}` (annotations such as description and
 * default stay on the node); an anyOf with a constrained string branch gets the reference as one more
 * branch.
 */
function allowEnvReferences(node: Json): void {
  if (Array.isArray(node.anyOf)) {
    const branches = node.anyOf as unknown[];
    if (branches.some(isConstrainedString)) branches.push({ $ref: ENV_REFERENCE_REF });
    for (const b of branches) if (isObject(b) && !isConstrainedString(b)) allowEnvReferences(b);
  } else if (isConstrainedString(node)) {
    const branch: Json = {};
    for (const k of STRING_KEYWORDS) {
      if (k in node) {
        branch[k] = node[k];
        delete node[k];
      }
    }
    node.anyOf = [branch, { $ref: ENV_REFERENCE_REF }];
  }
  if (isObject(node.properties)) for (const p of Object.values(node.properties)) if (isObject(p)) allowEnvReferences(p);
  if (isObject(node.items)) allowEnvReferences(node.items);
  if (isObject(node.additionalProperties)) allowEnvReferences(node.additionalProperties);
}
