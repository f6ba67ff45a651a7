import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { parseDuration } from '../../../src/config/duration.js';
import {
  caseInsensitivePattern,
  DURATION_PATTERN,
  ENV_REFERENCE_PATTERN,
  SCHEMA_DIALECT,
  SCHEMA_ID,
} from '../../../src/config/json-schema.js';
import { ConfigError, parseConfig } from '../../../src/config/load.js';
import { BUILTIN_REGISTRIES } from '../../../src/registries.js';
import { generatedSchemaText, SCHEMA_FILE } from '../../helpers/generate-schema.js';

const root = join(import.meta.dirname, '../../..');
const EXAMPLE = join(root, 'examples/vigil.yaml');
const fixtures = join(root, 'fixtures/config');

/** What the example needs in the environment (its ${VAR} references without a default). */
const EXAMPLE_ENV = {
  VIGIL_TOKEN: 'example-token',
  DEPLOY_HOOK_SECRET: 'example-secret',
  UNLEASH_ADMIN_TOKEN: 'example-unleash-token',
  SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T000/B000/XXXX',
};

const checkedIn: unknown = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8'));

/** Ajv as strict as it gets; `uri` is checked the way the zod schema checks server.api.publicUrl. Union types
 *  (`type: [string, number, boolean]`, a `where:` value) are plain draft-07, which strict mode asks to allow. */
function compile(schema: unknown): ValidateFunction {
  const ajv = new Ajv({
    strict: true,
    allowUnionTypes: true,
    allErrors: true,
    formats: { uri: (s: string) => z.string().url().safeParse(s).success },
  });
  return ajv.compile(schema as object);
}
const validate = compile(checkedIn);

/** The YAML as Vigil reads it, ${ENV} references untouched; undefined for a YAML syntax error. */
function rawYaml(text: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true });
  return doc.errors.length > 0 ? undefined : ((doc.toJS() as unknown) ?? {});
}

function schemaErrors(text: string): string[] {
  const ok = validate(rawYaml(text));
  return ok ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}

function vigilAccepts(text: string, env: NodeJS.ProcessEnv = {}): boolean {
  try {
    parseConfig(text, 'case.yaml', BUILTIN_REGISTRIES, env);
    return true;
  } catch (e) {
    if (e instanceof ConfigError) return false;
    throw e;
  }
}

/** Every subschema of a JSON Schema with its path (properties, items, anyOf branches). */
function* walk(node: unknown, path = ''): Generator<[string, Record<string, unknown>]> {
  if (typeof node !== 'object' || node === null) return;
  const n = node as Record<string, unknown>;
  yield [path, n];
  for (const [k, v] of Object.entries((n.properties ?? {}) as Record<string, unknown>))
    yield* walk(v, path ? `${path}.${k}` : k);
  if (n.items) yield* walk(n.items, `${path}[]`);
  if (Array.isArray(n.anyOf)) for (const [i, b] of n.anyOf.entries()) yield* walk(b, `${path}|${i}`);
}

describe('schema/vigil.schema.json', () => {
  it('is up to date with the zod schema and the built-in plug-ins', () => {
    expect(SCHEMA_FILE).toBe(join(root, 'schema/vigil.schema.json'));
    const generated = generatedSchemaText();
    expect(checkedIn, 'schema/vigil.schema.json is out of date: run `npm run schema`').toEqual(JSON.parse(generated));
    expect(
      readFileSync(SCHEMA_FILE, 'utf8'),
      'schema/vigil.schema.json is not formatted as generated: run `npm run schema`',
    ).toBe(generated);
  });

  it('is a valid draft-07 schema that Ajv compiles in strict mode', () => {
    const ajv = new Ajv({ strict: true, allowUnionTypes: true });
    expect(ajv.validateSchema(checkedIn as object), ajv.errorsText()).toBe(true);
    expect(() => compile(checkedIn)).not.toThrow();
    expect(checkedIn).toMatchObject({
      $schema: SCHEMA_DIALECT,
      $id: SCHEMA_ID,
      title: 'Vigil configuration',
      type: 'object',
      additionalProperties: false,
    });
    expect(SCHEMA_DIALECT).toBe('http://json-schema.org/draft-07/schema#');
    expect(SCHEMA_ID.endsWith('/schema/vigil.schema.json')).toBe(true);
  });

  it('documents every key (editors show the descriptions on hover) and closes every object', () => {
    const undocumented: string[] = [];
    const open: string[] = [];
    for (const [path, node] of walk(checkedIn)) {
      if (path && !path.includes('|') && !path.endsWith('[]') && typeof node.description !== 'string')
        undocumented.push(path);
      // Connector, notifier and detector options are free-form: each plug-in checks its own at load. A `where:` is
      // a map of attribute names (any) to values: open by design, its values typed.
      const free = path.endsWith('.options') || path.endsWith('.where');
      if (node.type === 'object' && node.additionalProperties !== false && !free) open.push(path);
    }
    expect(undocumented).toEqual([]);
    expect(open).toEqual([]);
  });

  it('enumerates exactly the built-in detectors, connectors and notifiers', () => {
    const enumAt = (path: string) => {
      const node = [...walk(checkedIn)].find(([p]) => p === `${path}|0`)?.[1];
      return node?.enum;
    };
    const names = (m: ReadonlyMap<string, unknown>) => [...m.keys()].sort();
    expect(enumAt('analysis.metrics[].detector')).toEqual(names(BUILTIN_REGISTRIES.detectors));
    expect(enumAt('connectors[].type')).toEqual(names(BUILTIN_REGISTRIES.planConnectors));
    expect(enumAt('notifiers[].type')).toEqual(names(BUILTIN_REGISTRIES.notifiers));
  });

  it('gives every duration key the duration grammar', () => {
    const durations = [...walk(checkedIn)]
      .filter(([, n]) => n.pattern === DURATION_PATTERN)
      .map(([p]) => p.replace(/\|\d+$/, ''));
    expect(durations).toEqual([
      'server.shutdownTimeout',
      'queue.jobLock',
      'cluster.leaseTtl',
      'cluster.handoverQuiet',
      'analysis.interval',
      'analysis.maxDuration',
      'analysis.allowedLateness',
      'analysis.sourceIdleTimeout',
      'analysis.maxClockSkew',
      'analysis.baselineHistory',
      'analysis.silenceTimeout',
      'limits.serviceIdleTimeout',
      'limits.finishedRetention',
      'ingest.retryAfter',
      'ingest.headersTimeout',
      'ingest.bodyTimeout',
      'ingest.idleTimeout',
      'ingest.dedupHorizon',
      'rollouts[].drill.every',
      'actions.stepTimeout',
      'actions.backoff',
      'actions.stormWindow',
      'state.checkpointInterval',
    ]);
  });

  it('gives the number form (milliseconds) of every duration a minimum and a maximum', () => {
    const unbounded = [...walk(checkedIn)]
      .filter(([p, n]) => p.endsWith('|1') && n.type === 'number')
      .filter(([, n]) => typeof n.minimum !== 'number' || typeof n.maximum !== 'number' || n.maximum <= n.minimum)
      .map(([p]) => p);
    expect(unbounded).toEqual([]);
    const interval = [...walk(checkedIn)].find(([p]) => p === 'analysis.interval|1')?.[1];
    expect(interval).toMatchObject({ minimum: 1000, maximum: 3_600_000 });
  });
});

describe('examples/vigil.yaml', () => {
  const text = readFileSync(EXAMPLE, 'utf8');

  it('points its yaml-language-server modeline at the schema file', () => {
    const modeline = /^# yaml-language-server: \$schema=(\S+)\n/.exec(text);
    expect(modeline, 'the first line must be the yaml-language-server modeline').not.toBeNull();
    const target = resolve(dirname(EXAMPLE), modeline![1]!);
    expect(target).toBe(SCHEMA_FILE);
    expect(existsSync(target)).toBe(true);
  });

  it('loads in Vigil without problems or warnings', () => {
    const required = [...JSON.stringify(rawYaml(text)).matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]);
    expect(new Set(required)).toEqual(new Set(Object.keys(EXAMPLE_ENV)));
    const loaded = parseConfig(text, EXAMPLE, BUILTIN_REGISTRIES, EXAMPLE_ENV);
    expect(loaded.warnings).toEqual([]);
    expect(loaded.config.rollouts.map((r) => r.baseline)).toEqual(['required', 'none']);
    expect(loaded.config.analysis.metrics.some((m) => m.shadow)).toBe(true);
    expect(loaded.config.analysis.metrics.some((m) => m.detector === 'slo-guard')).toBe(true);
  });

  it('validates against the schema as written (env references unsubstituted)', () => {
    expect(schemaErrors(text)).toEqual([]);
  });
});

describe('the schema agrees with Vigil', () => {
  it.each(readdirSync(join(fixtures, 'valid')))('accepts fixtures/config/valid/%s', (name) => {
    expect(schemaErrors(readFileSync(join(fixtures, 'valid', name), 'utf8'))).toEqual([]);
  });

  const rejected: [string, string][] = [
    ['an unknown top-level key', 'bogus: 1\n'],
    ['an unknown nested key', 'analysis: { bogus: 1 }\n'],
    ['a typo of a nested key', 'analysis: { minSamles: 30 }\n'],
    ['a string where a number is required', 'analysis: { minSamples: twenty-five }\n'],
    ['a fraction where an integer is required', 'analysis: { minSamples: 2.5 }\n'],
    ['a number out of range', 'server: { otlpHttp: { port: 70000 } }\n'],
    ['an exclusive bound', 'analysis: { alpha: 1 }\n'],
    ['a bad enum value', 'actions: { mode: yolo }\n'],
    ['a bad duration string', 'analysis: { interval: 10 seconds }\n'],
    ['a duration without a unit', 'actions: { backoff: "10" }\n'],
    ['a negative duration', 'actions: { backoff: -1 }\n'],
    ['a duration in milliseconds below its minimum', 'analysis: { interval: 0 }\n'],
    ['a duration in milliseconds above its maximum', 'state: { checkpointInterval: 7200000 }\n'],
    ['alpha above 0.5', 'analysis: { alpha: 0.6 }\n'],
    ['an empty token', 'server: { auth: { tokens: [""] } }\n'],
    ['a bad name', 'connectors: [{ name: "kill flag", type: noop }]\n'],
    ['a connector type used as a notifier', 'notifiers: [{ name: ld, type: launchdarkly }]\n'],
    ['an unknown detector', 'analysis: { metrics: [{ name: x, detector: nope }] }\n'],
    ['a metric without a detector', 'analysis: { metrics: [{ name: x }] }\n'],
    ['an empty metric list', 'analysis: { metrics: [] }\n'],
    ['a rollout without a service', 'rollouts: [{ plan: [] }]\n'],
    ['a list where a mapping is required', 'server: [a]\n'],
    ['a mapping where a list is required', 'plan: { a: 1 }\n'],
    ['a file that is not a mapping', '- a\n- b\n'],
  ];
  it.each(rejected)('rejects %s, as Vigil does', (_label, text) => {
    expect(vigilAccepts(text)).toBe(false);
    expect(schemaErrors(text)).not.toEqual([]);
  });

  const accepted: [string, string, NodeJS.ProcessEnv][] = [
    ['a compound duration with spaces around', 'analysis: { maxDuration: " 1h30m " }\n', {}],
    ['a duration in milliseconds', 'analysis: { interval: 2500 }\n', {}],
    ['a fractional duration', 'actions: { backoff: 1.5s }\n', {}],
    ['a mixed-case name', 'connectors: [{ name: Kill-Flag_2, type: noop }]\nplan: [Kill-Flag_2]\n', {}],
    ['an env reference in an enum', 'actions: { mode: "${VIGIL_MODE:-dry-run}" }\n', {}],
    ['an env reference in a duration', 'analysis: { interval: "${LOOK}" }\n', { LOOK: '15s' }],
    [
      'an env reference inside a URL',
      'server: { api: { publicUrl: "https://${HOST}/vigil" } }\n',
      { HOST: 'vigil.example.com' },
    ],
    ['null for a nullable key', 'queue: { redis: null }\ncohorts: { canaryVersion: null }\n', {}],
  ];
  it.each(accepted)('accepts %s, as Vigil does', (_label, text, env) => {
    expect(vigilAccepts(text, env)).toBe(true);
    expect(schemaErrors(text)).toEqual([]);
  });

  /**
   * Invalid fixtures the JSON Schema cannot catch: cross references, uniqueness, rules across list items,
   * each plug-in's own options, and the environment. Vigil reports them at load (`vigil validate`).
   */
  const LOAD_TIME_ONLY = [
    'VIGIL_ERR_CONFIG_AUTH--no-tokens.yaml',
    'VIGIL_ERR_CONFIG_AUTH--open-with-tokens.yaml',
    'VIGIL_ERR_CONFIG_AUTH--token-with-newline.yaml',
    'VIGIL_ERR_CONFIG_CONNECTOR_OPTIONS--slack-missing-url.yaml',
    'VIGIL_ERR_CONFIG_CONNECTOR_OPTIONS--webhook-url.yaml',
    'VIGIL_ERR_CONFIG_DUPLICATE_NAME--connectors.yaml',
    'VIGIL_ERR_CONFIG_DUPLICATE_NAME--rollouts-service.yaml',
    'VIGIL_ERR_CONFIG_ENV_MISSING--token-default-empty.yaml',
    'VIGIL_ERR_CONFIG_ENV_MISSING--webhook-secret.yaml',
    'VIGIL_ERR_CONFIG_INVALID--all-metrics-shadow.yaml',
    // durations written as strings: their range is checked at load (the JSON Schema knows only their grammar)
    'VIGIL_ERR_CONFIG_INVALID--baseline-history-too-many-looks.yaml',
    'VIGIL_ERR_CONFIG_INVALID--checkpoint-interval-too-short.yaml',
    'VIGIL_ERR_CONFIG_INVALID--lateness-not-shorter-than-max-duration.yaml',
    'VIGIL_ERR_CONFIG_INVALID--max-duration-not-longer-than-interval.yaml',
    'VIGIL_ERR_CONFIG_INVALID--port-clash.yaml',
    'VIGIL_ERR_CONFIG_INVALID--retry-wait-too-long.yaml',
    'VIGIL_ERR_CONFIG_INVALID--service-idle-shorter-than-source-idle.yaml',
    'VIGIL_ERR_CONFIG_INVALID--silence-shorter-than-interval.yaml',
    'VIGIL_ERR_CONFIG_INVALID--storm-window-shorter-than-interval.yaml',
    'VIGIL_ERR_CONFIG_INVALID--zero-interval.yaml',
    'VIGIL_ERR_CONFIG_INVALID--rollout-service-too-long.yaml',
    // whether a detector is anytime-valid is its factory's declaration (plug-ins too), not the schema's
    'VIGIL_ERR_CONFIG_NOT_ANYTIME_VALID--kayenta-acting.yaml',
    'VIGIL_ERR_CONFIG_UNKNOWN_CONNECTOR--plan.yaml',
    'VIGIL_ERR_CONFIG_UNKNOWN_CONNECTOR--rollout-plan.yaml',
    'VIGIL_ERR_DETECTOR_OPTIONS--negative-tolerance.yaml',
    'VIGIL_ERR_DETECTOR_OPTIONS--ratio-without-denominator.yaml',
  ];
  const invalid = readdirSync(join(fixtures, 'invalid')).filter((f) => f.endsWith('.yaml'));

  it.each(invalid)('fixtures/config/invalid/%s: rejected by the schema unless it is a load-time check', (name) => {
    const text = readFileSync(join(fixtures, 'invalid', name), 'utf8');
    if (name.startsWith('VIGIL_ERR_CONFIG_YAML--')) {
      expect(rawYaml(text), 'a YAML syntax error: the editor flags it before any schema').toBeUndefined();
      return;
    }
    const errors = schemaErrors(text);
    if (LOAD_TIME_ONLY.includes(name)) {
      expect(errors, `${name} is caught by the schema now: remove it from LOAD_TIME_ONLY`).toEqual([]);
    } else {
      expect(errors, `${name} passes the schema: make the schema catch it, or add it to LOAD_TIME_ONLY`).not.toEqual(
        [],
      );
    }
  });

  it('lists only existing fixtures as load-time checks', () => {
    expect(invalid).toEqual(expect.arrayContaining(LOAD_TIME_ONLY));
  });
});

describe('the patterns the schema adds', () => {
  const durationRe = new RegExp(DURATION_PATTERN, 'u');

  it('DURATION_PATTERN accepts exactly the strings parseDuration reads', () => {
    const unit = fc.constantFrom('1', '0', '5', '.', 'm', 's', 'h', 'd', 'ms', ' ', '\t', 'x', '-');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 10 }), (s) => {
        expect(durationRe.test(s)).toBe(parseDuration(s) !== undefined);
      }),
      { numRuns: 2000 },
    );
    for (const s of ['500ms', '10s', '1h30m', '2d', '1.5s', ' 5m ']) expect(durationRe.test(s)).toBe(true);
    for (const s of ['', '10', '10 s', 'ten seconds', '1.s', '-1s', '1w']) expect(durationRe.test(s)).toBe(false);
  });

  it('caseInsensitivePattern matches, without a flag, what the /i regex matches', () => {
    const sources = ['^[a-z0-9][a-z0-9._-]*$', '^ab[^x-z]c$', '^[-q]+$', '^\\d+[A-F]?$'];
    const unit = fc.constantFrom('a', 'B', 'q', 'Q', 'x', 'X', 'c', 'F', 'f', 'ſ', 'K', '0', '9', '.', '_', '-', ' ');
    for (const source of sources) {
      const original = new RegExp(source, 'i');
      const rewritten = new RegExp(caseInsensitivePattern(source), 'u');
      fc.assert(
        fc.property(fc.string({ unit, maxLength: 6 }), (s) => {
          expect(rewritten.test(s)).toBe(original.test(s));
        }),
        { numRuns: 1000 },
      );
    }
    expect(caseInsensitivePattern('^[a-z0-9][a-z0-9._-]*$')).toBe('^[A-Za-z0-9][A-Za-z0-9._-]*$');
  });

  it('caseInsensitivePattern refuses what it does not model', () => {
    for (const source of ['\\u0041', '(?<n>a)', '[A-z]', '[\\p{L}]', '[a-'])
      expect(() => caseInsensitivePattern(source)).toThrow();
  });

  it('ENV_REFERENCE_PATTERN matches the references Vigil substitutes', () => {
    const envRe = new RegExp(ENV_REFERENCE_PATTERN, 'u');
    for (const s of [
      '${A}',
      '${A:-}',
      '${A:-x y}',
      'pre-${A_1}-post',
      '${_a}',
      '${A}',
      '$A',
      '${1A}',
      '${A-x}',
      '${A:x}',
      '${}',
      '$ {A}',
    ]) {
      const loaded = parseConfig(`audit: { path: ${JSON.stringify(s)} }\n`, 'case.yaml', BUILTIN_REGISTRIES, {
        A: 'zz',
        A_1: 'zz',
        _a: 'zz',
      });
      expect(envRe.test(s), s).toBe(loaded.config.audit.path !== s);
    }
  });
});
