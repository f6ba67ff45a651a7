import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explainDecision } from '../../../connectors/shared/explain.js';
import { KAYENTA_NOT_VALID } from '../../../detectors/kayenta-mann-whitney.js';
import { analysisMetrics, metricAlphas } from '../../../src/analysis/settings.js';
import { ConfigError, defaultConfig, loadConfigFile, parseConfig, type Registries } from '../../../src/config/load.js';
import type { DetectorFactory, MetricVerdict } from '../../../src/contracts/index.js';
import { decide } from '../../../src/decide/engine.js';
import { BUILTIN_REGISTRIES } from '../../../src/registries.js';
import { batch, lookInput } from '../../helpers/detectors.js';

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
      'VIGIL_ERR_CONFIG_AUTH',
      'VIGIL_ERR_CONFIG_NOT_ANYTIME_VALID',
      'VIGIL_ERR_DETECTOR_OPTIONS',
    ]) {
      expect(codes).toContain(c);
    }
  });

  it.each(invalid)('%s is refused with its code, file, key and fix', (name) => {
    const file = join(dir, 'invalid', name);
    const code = name.split('--')[0];
    const text = readFileSync(file, 'utf8');
    const expectKey = /# expect-key: (.+)/.exec(text)?.[1]?.trim();
    // `# serving: true`: refused by vigil serve and vigil validate only (the control API's authentication)
    const serving = /^# serving: true\b/m.test(text);
    let err: unknown;
    try {
      loadConfigFile(file, BUILTIN_REGISTRIES, {}, { serving });
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
    if (serving) expect(() => loadConfigFile(file, BUILTIN_REGISTRIES, {})).not.toThrow();
  });
});

describe('config loading', () => {
  it('accepts the valid fixtures, for vigil serve too', () => {
    for (const f of readdirSync(join(dir, 'valid'))) {
      const loaded = loadConfigFile(
        join(dir, 'valid', f),
        BUILTIN_REGISTRIES,
        { VIGIL_TOKEN: 'fixture-token' },
        {
          serving: true,
        },
      );
      expect(loaded.config.server.auth.tokens).toEqual(['fixture-token']);
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
    expect(problems('analysis: { alpha: 2 }\n').issues[0]!.problem).toBe('must be at most 0.5, got 2');
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

  it('warns when the API is open on purpose and when no plan is configured', () => {
    const { warnings } = parseConfig(
      'server: { auth: { open: true } }\n',
      'x.yaml',
      BUILTIN_REGISTRIES,
      {},
      {
        serving: true,
      },
    );
    expect(warnings.join('\n')).toMatch(/server\.auth\.open is true: .*ANYONE .* RESUME rolled-back versions/);
    expect(warnings.join('\n')).toMatch(/no rollback plan/);
    expect(defaultConfig(BUILTIN_REGISTRIES).warnings.join('\n')).not.toMatch(/auth/);
  });
});

describe('values that would disarm Vigil are refused, each naming its key and the fix', () => {
  const refused: [string, string, string, RegExp][] = [
    ['a zero look interval', 'analysis: { interval: 0s }', 'analysis.interval', /at least 1s, got 0s: no look/],
    ['a negative look interval', 'analysis: { interval: -1s }', 'analysis.interval', /"-1s" is negative/],
    ['a negative duration in ms', 'actions: { backoff: -5 }', 'actions.backoff', /"-5" is negative/],
    ['a zero interval in ms', 'analysis: { interval: 0 }', 'analysis.interval', /at least 1s, got 0 \(ms\)/],
    ['a look interval above 1h', 'analysis: { interval: 2h }', 'analysis.interval', /at most 1h, got 2h/],
    ['alpha above 0.5', 'analysis: { alpha: 0.6 }', 'analysis.alpha', /at most 0\.5/],
    ['alpha 0', 'analysis: { alpha: 0 }', 'analysis.alpha', /more than 0/],
    ['no attempt', 'actions: { attempts: 0 }', 'actions.attempts', /at least 1/],
    ['a zero limit', 'limits: { maxServices: 0 }', 'limits.maxServices', /at least 1/],
    [
      'a weight of 0',
      'analysis: { metrics: [{ name: e, detector: error-rate-sequential, weight: 0 }] }',
      'analysis.metrics[0].weight',
      /at least 0\.001/,
    ],
    ['a 1ms step timeout', 'actions: { stepTimeout: 1ms }', 'actions.stepTimeout', /at least 100ms/],
    ['a 50ms checkpoint interval', 'state: { checkpointInterval: 50ms }', 'state.checkpointInterval', /at least 100ms/],
    ['a zero Retry-After', 'ingest: { retryAfter: 0s }', 'ingest.retryAfter', /at least 1s/],
    [
      'maxDuration equal to the interval',
      'analysis: { interval: 1m, maxDuration: 1m }',
      'analysis.maxDuration',
      /not longer than one look interval/,
    ],
    [
      'a lateness as long as the analysis',
      'analysis: { maxDuration: 5m, allowedLateness: 5m }',
      'analysis.allowedLateness',
      /not shorter than maxDuration/,
    ],
    [
      'a silence timeout shorter than a look',
      'analysis: { interval: 30s, silenceTimeout: 10s }',
      'analysis.silenceTimeout',
      /shorter than one look interval/,
    ],
    [
      'a baseline history of 3600 looks',
      'analysis: { interval: 1s, baselineHistory: 1h }',
      'analysis.baselineHistory',
      /3600 looks/,
    ],
    [
      'a service forgotten before its cohorts are idle',
      'limits: { serviceIdleTimeout: 10s }',
      'limits.serviceIdleTimeout',
      /shorter than analysis\.sourceIdleTimeout \(30s\)/,
    ],
    ['a storm window shorter than a look', 'actions: { stormWindow: 5s }', 'actions.stormWindow', /never count two/],
    ['retries days apart', 'actions: { attempts: 20 }', 'actions.attempts', /would wait 3d/],
    [
      'two tokens under one name',
      'server: { auth: { tokens: [ { name: ci, token: "aaaa", scopes: [read] }, { name: ci, token: "bbbb", scopes: [operate] } ] } }',
      'server.auth.tokens[1].name',
      /token name ci is used twice/,
    ],
    [
      'a scoped token with a space',
      'server: { auth: { tokens: [ { name: ci, token: "a b", scopes: [read] } ] } }',
      'server.auth.tokens[0].token',
      /holds a space/,
    ],
    [
      'a cluster without the Redis its replicas share',
      'cluster: { enabled: true }',
      'cluster.enabled',
      /needs queue\.redis: the replicas share their leases/,
    ],
    [
      'a plan step longer than its job lock',
      'queue: { redis: "redis://127.0.0.1:6379", jobLock: 10s }\nactions: { stepTimeout: 15s }',
      'actions.stepTimeout',
      /not shorter than queue\.jobLock \(10s\)/,
    ],
    [
      'two listeners on one port',
      'server: { otlpGrpc: { port: 8080 } }',
      'server.api.port',
      /also server\.otlpGrpc\.port/,
    ],
    [
      'a second rollouts entry of a service',
      'rollouts: [{ service: a }, { service: a, plan: [] }]',
      'rollouts[1].service',
      /would be ignored/,
    ],
  ];
  it.each(refused)('%s', (_label, text, key, problem) => {
    const ce = problems(`${text}\n`);
    const issue = ce.issues.find((i) => i.key === key);
    expect(issue, ce.message).toBeDefined();
    expect(issue!.problem).toMatch(problem);
    expect(issue!.fix).toMatch(/; see (README\.md|docs\/)/);
  });

  it('checks across keys with what is valid even when another key is not', () => {
    const ce = problems('analysis: { interval: 30s, silenceTimeout: 10s, minSamples: lots }\n');
    expect(ce.issues.map((i) => i.key)).toEqual(['analysis.silenceTimeout', 'analysis.minSamples']);
  });

  it('accepts the edges of each range', () => {
    const edge = [
      'analysis: { interval: 1s, maxDuration: 2s, allowedLateness: 0s, silenceTimeout: 1s, sourceIdleTimeout: 0s, baselineHistory: 1000s, alpha: 0.5 }',
      'limits: { serviceIdleTimeout: 1s, finishedRetention: 0s }',
      'actions: { stepTimeout: 100ms, backoff: 0s, attempts: 50, stormWindow: 1s }',
      'state: { checkpointInterval: 100ms }',
      'ingest: { retryAfter: 1s, dedupHorizon: 0s }',
      'server: { otlpHttp: { port: 0 }, otlpGrpc: { port: 0 }, api: { port: 0 } }',
    ].join('\n');
    expect(() => parseConfig(edge, 'x.yaml', BUILTIN_REGISTRIES, {})).not.toThrow();
    expect(() =>
      parseConfig(
        'server: { api: { host: 127.0.0.1, port: 4318 }, otlpHttp: { host: 10.0.0.1 } }\n',
        'x.yaml',
        BUILTIN_REGISTRIES,
        {},
      ),
    ).not.toThrow(); // the same port on two distinct addresses
  });

  it('warns when a silent canary could be promoted at maxDuration', () => {
    const { warnings } = parseConfig('analysis: { maxDuration: 3m }\n', 'x.yaml', BUILTIN_REGISTRIES, {});
    expect(warnings.join('\n')).toContain(
      'analysis.silenceTimeout (5m) is not shorter than analysis.maxDuration (3m): a canary that goes silent can be promoted',
    );
  });
});

describe('the control API is never open by accident', () => {
  const serving = (text: string, env: NodeJS.ProcessEnv = {}) =>
    parseConfig(text, 'x.yaml', BUILTIN_REGISTRIES, env, { serving: true });
  const refusedWhenServing = (text: string, env: NodeJS.ProcessEnv = {}): ConfigError => {
    try {
      serving(text, env);
    } catch (e) {
      if (e instanceof ConfigError) return e;
      throw e;
    }
    throw new Error('expected a ConfigError');
  };

  it('an empty token is an error, never an open API', () => {
    const issue = problems('server: { auth: { tokens: [""] } }\n').issues[0]!;
    expect(issue).toMatchObject({ code: 'VIGIL_ERR_CONFIG_AUTH', key: 'server.auth.tokens[0]' });
    expect(issue.problem).toBe('the token is empty');
    expect(issue.fix).toContain('server.auth.open: true');
  });

  it('${VIGIL_TOKEN:-} with the variable unset names the variable', () => {
    const ce = problems('server: { auth: { tokens: ["${VIGIL_TOKEN:-}"] } }\n', {});
    expect(ce.issues).toHaveLength(1);
    expect(ce.issues[0]).toMatchObject({ code: 'VIGIL_ERR_CONFIG_ENV_MISSING', key: 'server.auth.tokens[0]' });
    expect(ce.message).toContain('environment variable VIGIL_TOKEN is not set, and its default after ":-" is empty');
    expect(ce.message).toContain('export VIGIL_TOKEN=<a long random token>');
  });

  it('a variable set but empty, or a token with a line break, is named without showing it', () => {
    const empty = problems('server: { auth: { tokens: ["${VIGIL_TOKEN}"] } }\n', { VIGIL_TOKEN: '' });
    expect(empty.issues[0]!.problem).toBe('environment variable VIGIL_TOKEN is empty: the token would be empty');
    const SECRET = 'Tok3n-from-a-file-0123456789';
    const newline = problems('server: { auth: { tokens: ["${VIGIL_TOKEN}"] } }\n', { VIGIL_TOKEN: `${SECRET}\n` });
    expect(newline.issues[0]).toMatchObject({ code: 'VIGIL_ERR_CONFIG_AUTH', key: 'server.auth.tokens[0]' });
    expect(newline.message).toContain('trailing newline');
    expect(newline.message).not.toContain(SECRET);
  });

  it('open and tokens together are refused', () => {
    expect(problems('server: { auth: { tokens: [abc], open: true } }\n').issues[0]).toMatchObject({
      code: 'VIGIL_ERR_CONFIG_AUTH',
      key: 'server.auth.open',
    });
  });

  it('vigil serve refuses no tokens without open: true, naming both fixes; tools that serve no API do not', () => {
    const ce = refusedWhenServing('analysis: { interval: 10s }\n');
    expect(ce.code).toBe('VIGIL_ERR_CONFIG_AUTH');
    expect(ce.issues[0]!.key).toBe('server.auth');
    expect(ce.message).toContain('the control API has no bearer token');
    expect(ce.message).toContain('server.auth.tokens: ["${VIGIL_TOKEN}"]');
    expect(ce.message).toContain('server.auth.open: true');
    expect(() => parseConfig('analysis: { interval: 10s }\n', 'x.yaml', BUILTIN_REGISTRIES, {})).not.toThrow();
  });

  it('open: true is accepted, with the loud warning', () => {
    const loaded = serving('server: { auth: { open: true } }\n');
    expect(loaded.config.server.auth).toEqual({ tokens: [], open: true });
    expect(loaded.warnings[0]).toMatch(/^server\.auth\.open is true: .*ANYONE .*RESUME rolled-back versions/);
  });

  it('the embedded default of vigil serve takes its token from VIGIL_TOKEN, or says how to set it', () => {
    expect(
      defaultConfig(BUILTIN_REGISTRIES, { serving: true, env: { VIGIL_TOKEN: 'tok' } }).config.server.auth,
    ).toEqual({
      tokens: ['tok'],
      open: false,
    });
    for (const env of [{}, { VIGIL_TOKEN: '' }]) {
      let err: unknown;
      try {
        defaultConfig(BUILTIN_REGISTRIES, { serving: true, env });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toMatch(/<defaults> server\.auth\.tokens: without --config .* VIGIL_TOKEN/);
      expect((err as ConfigError).message).toContain('server.auth.open: true');
    }
  });
});

describe('an acting detector that is not anytime-valid is refused unless the metric acknowledges it', () => {
  const KAYENTA = 'kayenta-mann-whitney';
  const config = (extra: string) =>
    [
      'analysis:',
      '  metrics:',
      '    - { name: error-rate, detector: error-rate-sequential }',
      `    - { name: latency-kayenta, detector: ${KAYENTA}, options: { measure: error-rate }${extra} }`,
      '',
    ].join('\n');

  it('acting: refused, naming the file, the metric, what is wrong and both fixes', () => {
    const ce = problems(config(''));
    expect(ce.code).toBe('VIGIL_ERR_CONFIG_NOT_ANYTIME_VALID');
    expect(ce.issues).toHaveLength(1);
    expect(ce.issues[0]).toMatchObject({
      code: 'VIGIL_ERR_CONFIG_NOT_ANYTIME_VALID',
      file: 'x.yaml',
      key: 'analysis.metrics[1]',
      line: 4,
      problem:
        'metric "latency-kayenta" acts (shadow is not true) with detector kayenta-mann-whitney, which is not anytime-valid: its false alarms grow with the number of looks, so alpha no longer bounds the false rollbacks',
      fix: 'set shadow: true to compare verdicts during a migration, or acknowledgeNotAnytimeValid: true to let it act knowing its false alarms grow with the number of looks; see docs/detectors.md#kayenta-mann-whitney',
    });
    expect(ce.message).toContain(
      'x.yaml:4:7 analysis.metrics[1]: metric "latency-kayenta" acts (shadow is not true) with detector kayenta-mann-whitney, which is not anytime-valid',
    );
    // shadow: false written out is acting too; a bad option is reported as well, in the same run
    expect(problems(config(', shadow: false')).code).toBe('VIGIL_ERR_CONFIG_NOT_ANYTIME_VALID');
    expect(problems(config(', weight: 2')).issues.map((i) => i.key)).toEqual(['analysis.metrics[1]']);
    const withBadOption = problems(config('').replace('measure: error-rate', 'measure: p99'));
    expect(withBadOption.issues.map((i) => `${i.key} ${i.code}`)).toEqual([
      'analysis.metrics[1] VIGIL_ERR_CONFIG_NOT_ANYTIME_VALID',
      'analysis.metrics[1].options VIGIL_ERR_DETECTOR_OPTIONS',
    ]);
  });

  it('shadow: accepted as it is (it never acts), without warnings', () => {
    const loaded = parseConfig(config(', shadow: true'), 'x.yaml', BUILTIN_REGISTRIES, {});
    expect(loaded.config.analysis.metrics[1]).toMatchObject({ shadow: true, acknowledgeNotAnytimeValid: false });
    expect(loaded.warnings.filter((w) => w.includes('anytime'))).toEqual([]);
  });

  it('acknowledged: accepted, and it acts: its failure rolls back and the explanation says it is not anytime-valid', () => {
    const loaded = parseConfig(config(', acknowledgeNotAnytimeValid: true'), 'x.yaml', BUILTIN_REGISTRIES, {});
    expect(loaded.config.analysis.metrics[1]).toMatchObject({ shadow: false, acknowledgeNotAnytimeValid: true });
    const metrics = analysisMetrics(loaded);
    expect(metrics.map((m) => [m.name, m.shadow])).toEqual([
      ['error-rate', false],
      ['latency-kayenta', false],
    ]);
    const alphas = metricAlphas({ alpha: loaded.config.analysis.alpha, metrics });
    expect(alphas).toEqual([0.025, 0.025]);

    // the canary fails twice as often at every look: Kayenta says High after its burn-in
    const kayenta = metrics[1]!.detector;
    let state = kayenta.init();
    let verdict: MetricVerdict | undefined;
    for (let look = 1; look <= 8; look++) {
      const r = kayenta.look(state, lookInput(look, batch(1000, 20 + look), batch(1000, 10)), 0.025);
      state = r.state;
      verdict = { ...r.verdict, alpha: alphas[1]!, shadow: false };
    }
    expect(verdict).toMatchObject({ phase: 'fail', anytimeValid: false });
    expect(verdict!.summary).toContain(KAYENTA_NOT_VALID);
    const d = decide(
      {
        analysisId: 'a1',
        service: 'checkout',
        canaryVersion: 'v2',
        baselineVersion: 'v1',
        look: 8,
        atUnixMs: 0,
        elapsedMs: 80_000,
        verdicts: [verdict!],
      },
      {
        maxDurationMs: 1_800_000,
        plan: [],
        dryRun: true,
        configHash: loaded.hash,
        maxRollbacks: 3,
        recentRollbacks: 0,
      },
    );
    expect(d?.outcome).toBe('rollback');
    expect(explainDecision(d!).lines).toContain(
      'Not anytime-valid: latency-kayenta (kayenta-mann-whitney) acts though its false alarms grow with the number of looks (acknowledgeNotAnytimeValid: true): alpha does not bound them, so this rollback may be a false alarm.',
    );
  });

  it('a value that is not a boolean is one schema problem, not also a refusal', () => {
    const ce = problems(config(', acknowledgeNotAnytimeValid: "yes"'));
    expect(ce.issues.map((i) => `${i.key} ${i.code}`)).toEqual([
      'analysis.metrics[1].acknowledgeNotAnytimeValid VIGIL_ERR_CONFIG_INVALID',
    ]);
  });

  it('a typo of the key is an unknown key with a did-you-mean', () => {
    const ce = problems(config(', acknowledgeNotAnytimeVaild: true'));
    const typo = ce.issues.find((i) => i.key === 'analysis.metrics[1].acknowledgeNotAnytimeVaild');
    expect(typo?.fix).toContain('did you mean "acknowledgeNotAnytimeValid"?');
  });

  it('a plug-in detector whose factory does not declare anytimeValid: true is taken as not anytime-valid', () => {
    const plugin = (anytimeValid: boolean | undefined): Registries => {
      const builtIn = BUILTIN_REGISTRIES.detectors.get('error-rate-sequential')!;
      const factory = {
        type: 'house-judge',
        ...(anytimeValid === undefined ? {} : { anytimeValid }),
        create: (name: string, options: unknown, ctx: { minSamples: number }) => builtIn.create(name, options, ctx),
      } as DetectorFactory; // a plug-in written in plain JavaScript may leave the key out
      return { ...BUILTIN_REGISTRIES, detectors: new Map([...BUILTIN_REGISTRIES.detectors, ['house-judge', factory]]) };
    };
    const text = 'analysis:\n  metrics:\n    - { name: house, detector: house-judge }\n';
    const refused = (registries: Registries): ConfigError => {
      try {
        parseConfig(text, 'x.yaml', registries, {});
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected a ConfigError');
    };
    const undeclared = refused(plugin(undefined));
    expect(undeclared.issues[0]).toMatchObject({
      code: 'VIGIL_ERR_CONFIG_NOT_ANYTIME_VALID',
      key: 'analysis.metrics[0]',
      problem:
        'metric "house" acts (shadow is not true) with detector house-judge, which does not declare itself anytime-valid (its factory has no anytimeValid: true), so alpha may not bound its false rollbacks',
      fix: 'set shadow: true to trial it, or acknowledgeNotAnytimeValid: true to let it act knowing its false alarms may grow with the number of looks; if house-judge is anytime-valid, declare anytimeValid: true on its factory instead; see docs/detectors.md#types-and-options',
    });
    expect(refused(plugin(false)).issues[0]!.problem).toContain('house-judge, which is not anytime-valid');
    expect(() => parseConfig(text, 'x.yaml', plugin(true), {})).not.toThrow();
    const acknowledged = text.replace('house-judge }', 'house-judge, acknowledgeNotAnytimeValid: true }');
    expect(() => parseConfig(acknowledged, 'x.yaml', plugin(undefined), {})).not.toThrow();
  });

  it('every built-in but kayenta-mann-whitney is anytime-valid, so the default metrics need no acknowledgement', () => {
    const declared = [...BUILTIN_REGISTRIES.detectors].map(([type, f]) => [type, f.anytimeValid]);
    expect(declared.filter(([, v]) => v !== true)).toEqual([[KAYENTA, false]]);
    expect(() => defaultConfig(BUILTIN_REGISTRIES)).not.toThrow();
  });
});
