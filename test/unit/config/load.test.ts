import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, defaultConfig, loadConfigFile, parseConfig } from '../../../src/config/load.js';
import { BUILTIN_REGISTRIES } from '../../../src/registries.js';

const dir = join(import.meta.dirname, '../../../fixtures/config');

function problems(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseConfig(text, 'x.yaml', BUILTIN_REGISTRIES, env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}
const invalid = readdirSync(join(dir, 'invalid')).filter((f) => f.endsWith('.yaml'));

describe('invalid configs (fixtures/config/invalid/<ERROR_CODE>--case.yaml)', () => {
  it('has a fixture for every config error code', () => {
    const codes = new Set(invalid.map((f) => f.split('--')[0]));
    for (const c of [
      'VIGIL_ERR_CONFIG_YAML',
      'VIGIL_ERR_CONFIG_INVALID',
      'VIGIL_ERR_CONFIG_ENV_MISSING',
      'VIGIL_ERR_CONFIG_UNKNOWN_TYPE',
      'VIGIL_ERR_CONFIG_UNKNOWN_CONNECTOR',
      'VIGIL_ERR_CONFIG_DUPLICATE_NAME',
      'VIGIL_ERR_CONFIG_CONNECTOR_OPTIONS',
      'VIGIL_ERR_DETECTOR_OPTIONS',
    ]) {
      expect(codes).toContain(c);
    }
  });

  it.each(invalid)('%s is refused with its code, file, key and fix', (name) => {
    const file = join(dir, 'invalid', name);
    const code = name.split('--')[0];
    const expectKey = /# expect-key: (.+)/.exec(readFileSync(file, 'utf8'))?.[1]?.trim();
    let err: unknown;
    try {
      loadConfigFile(file, BUILTIN_REGISTRIES, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const ce = err as ConfigError;
    expect(ce.code).toBe(code);
    expect(ce.issues.map((i) => i.code)).toContain(code);
    const issue = ce.issues.find((i) => i.code === code)!;
    expect(issue.file).toBe(file);
    expect(issue.key || '(file)').toBe(expectKey);
    expect(issue.fix.length).toBeGreaterThan(5);
    expect(ce.message).toContain(file);
    expect(ce.message).toContain('fix:');
    if (issue.key) expect(issue.line).toBeGreaterThan(1);
  });
});

describe('config loading', () => {
  it('accepts the valid fixtures', () => {
    for (const f of readdirSync(join(dir, 'valid'))) {
      const loaded = loadConfigFile(join(dir, 'valid', f), BUILTIN_REGISTRIES, {});
      expect(loaded.config.analysis.alpha).toBe(0.05);
      expect(Object.isFrozen(loaded.config.analysis)).toBe(true);
    }
  });

  it('applies documented defaults', () => {
    const { config } = defaultConfig(BUILTIN_REGISTRIES);
    expect(config.server.otlpHttp.port).toBe(4318);
    expect(config.server.api.port).toBe(8080);
    expect(config.analysis.interval).toBe(10_000);
    expect(config.analysis.maxDuration).toBe(30 * 60_000);
    expect(config.analysis.minSamples).toBe(25);
    expect(config.queue.redis).toBeNull();
    expect(config.cohorts.attribute).toBe('vigil.cohort');
    expect(config.analysis.metrics.map((m) => m.detector)).toEqual([
      'error-rate-sequential',
      'latency-sequential',
      'latency-quantile',
    ]);
    expect(config.actions.mode).toBe('enforce');
  });

  it('substitutes ${ENV} and ${ENV:-default}; the hash never sees the secret', () => {
    const text =
      'queue: { redis: "${R:-}" }\nconnectors:\n  - { name: h, type: webhook, options: { url: "http://127.0.0.1:1/x", secret: "${S}" } }\nplan: [h]\n';
    const a = parseConfig(text, 'a.yaml', BUILTIN_REGISTRIES, { S: 'one' });
    const b = parseConfig(text, 'a.yaml', BUILTIN_REGISTRIES, { S: 'two' });
    expect(a.config.queue.redis).toBeNull();
    expect(a.config.connectors[0]!.options.secret).toBe('one');
    expect(a.hash).toBe(b.hash);
    const c = parseConfig(text.replace('[h]', '[ h ]\nanalysis: { alpha: 0.01 }'), 'a.yaml', BUILTIN_REGISTRIES, {
      S: 'one',
    });
    expect(c.hash).not.toBe(a.hash);
  });

  it('reports every problem at once, with a did-you-mean', () => {
    try {
      parseConfig('analysis:\n  alpah: 0.05\n  interval: 3 parsecs\n', 'x.yaml', BUILTIN_REGISTRIES, {});
      expect.unreachable();
    } catch (e) {
      const ce = e as ConfigError;
      expect(ce.issues).toHaveLength(2);
      expect(ce.message).toContain('did you mean "alpha"');
      expect(ce.message).toMatch(/x\.yaml:2:\d+ analysis\.alpah/);
    }
  });

  it('reports structural AND semantic problems in one run', () => {
    const ce = problems(
      [
        'analysis:',
        '  minSamples: twenty-five',
        '  metrics:',
        '    - { name: err, detector: error-rate-sequentail }',
        'plan: [kill-flag, nope]',
        'connectors:',
        '  - { name: kill-flag, type: webhok }',
        '  - { name: hook, type: webhook, optons: {} }',
      ].join('\n'),
    );
    expect(ce.issues.map((i) => `${i.key} ${i.code}`)).toEqual([
      'analysis.minSamples VIGIL_ERR_CONFIG_INVALID',
      'analysis.metrics[0].detector VIGIL_ERR_CONFIG_UNKNOWN_TYPE',
      'plan[1] VIGIL_ERR_CONFIG_UNKNOWN_CONNECTOR',
      'connectors[0].type VIGIL_ERR_CONFIG_UNKNOWN_TYPE',
      'connectors[1].options VIGIL_ERR_CONFIG_CONNECTOR_OPTIONS', // without options, url is missing
      'connectors[1].optons VIGIL_ERR_CONFIG_INVALID',
    ]);
    expect(ce.issues[1]!.fix).toContain('did you mean "error-rate-sequential"?');
    expect(ce.issues[3]!.fix).toContain('did you mean "webhook"?');
    expect(ce.issues[5]!.fix).toContain('did you mean "options"?');
  });

  it('says what a wrong value is, and tells a missing key from a wrong type', () => {
    const wrong = problems('analysis:\n  minSamples: twenty-five\n').issues[0]!;
    expect(wrong.problem).toBe("expected a number, got 'twenty-five'");
    expect(wrong.fix).toMatch(/^write a number here; see README\.md#configuration$/);
    const missing = problems('connectors:\n  - { name: hook }\n').issues[0]!;
    expect(missing.key).toBe('connectors[0].type');
    expect(missing.problem).toBe('"type" is missing (a string is required here)');
    expect(missing.fix).toMatch(/^add type: a string; see /);
    const enumIssue = problems('actions: { mode: dryrun }\n').issues[0]!;
    expect(enumIssue.problem).toBe("expected one of enforce, dry-run, got 'dryrun'");
    expect(enumIssue.fix).toContain('did you mean "dry-run"?');
    expect(problems('analysis: { alpha: 2 }\n').issues[0]!.problem).toBe('must be less than 1, got 2');
    expect(problems('connectors:\n  - { name: a, type: slack }\n').issues[0]!.fix).toContain(
      '"slack" is a notifier type: move this entry under notifiers:',
    );
  });

  it('an unset variable is ONE problem, not also one about the empty value it leaves', () => {
    const ce = problems(
      [
        'server: { api: { publicUrl: "${PUBLIC_URL}" } }',
        'plan: ["${FIRST_STEP}"]',
        'connectors:',
        '  - { name: hook, type: webhook, options: { url: "${HOOK_URL}" } }',
        '  - { name: hook2, type: webhook, options: { url: "${HOOK_URL}", timeoutMs: soon } }',
      ].join('\n'),
    );
    expect(ce.issues.map((i) => `${i.key}: ${i.problem}`)).toEqual([
      'server.api.publicUrl: environment variable PUBLIC_URL is not set',
      'plan[0]: environment variable FIRST_STEP is not set',
      'connectors[0].options.url: environment variable HOOK_URL is not set',
      // another mistake in the same options is still reported, without the one the variable caused
      'connectors[1].options: webhook "hook2": connector options are invalid: webhook: options.timeoutMs must be an integer number of milliseconds',
      'connectors[1].options.url: environment variable HOOK_URL is not set',
    ]);
  });

  it('never prints a value that came from the environment', () => {
    const SECRET = 'xoxb-S3CRET-value-42';
    const text = [
      'server:',
      '  api: { port: "${S}", publicUrl: "${S}" }',
      'analysis:',
      '  interval: "${S}"',
      '  metrics:',
      '    - { name: m, detector: "${S}" }',
      '    - { name: l, detector: latency-sequential, options: { tolerance: "${S}" } }',
      'actions: { mode: "${S}" }',
      'plan: ["${S}"]',
      'connectors:',
      '  - { name: a, type: webhook, options: { url: "${S}", secret: "${S}", timeoutMs: "${S}" } }',
      '  - { name: b, type: "${S}" }',
      'notifiers:',
      '  - { name: d, type: slack, options: { webhookUrl: "http://hooks.example.com/services/${S}" } }',
      '  - { name: e, type: pagerduty, options: { routingKey: "${S}" } }',
    ].join('\n');
    const ce = problems(text, { S: SECRET });
    expect(ce.issues.length).toBeGreaterThanOrEqual(10);
    expect(ce.message).not.toContain(SECRET);
    expect(ce.message).not.toContain('S3CRET');
    expect(JSON.stringify(ce.details)).not.toContain(SECRET);
    expect(ce.message).toContain("server.api.port: expected a number, got '${S}', a string");
    expect(ce.message).toContain('analysis.interval: "${S}" is not a duration');
    // a short value is hidden near its own key too
    const short = problems('analysis: { interval: "${D}" }\n', { D: 'abc' });
    expect(short.message).not.toContain('abc');
  });

  it('a missing file names the path', () => {
    expect(() => loadConfigFile('/nonexistent/vigil.yaml', BUILTIN_REGISTRIES)).toThrow(
      /\/nonexistent\/vigil\.yaml.*\n.*fix: check the path/,
    );
  });

  it('warns when the API is open and when no plan is configured', () => {
    const { warnings } = defaultConfig(BUILTIN_REGISTRIES);
    expect(warnings.join('\n')).toMatch(/auth\.tokens is empty/);
    expect(warnings.join('\n')).toMatch(/no rollback plan/);
  });
});
