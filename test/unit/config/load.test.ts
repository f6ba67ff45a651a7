import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, defaultConfig, loadConfigFile, parseConfig } from '../../../src/config/load.js';
import { BUILTIN_REGISTRIES } from '../../../src/registries.js';

const dir = join(import.meta.dirname, '../../../fixtures/config');
const invalid = readdirSync(join(dir, 'invalid')).filter((f) => f.endsWith('.yaml'));

describe('invalid configs (fixtures/config/invalid/<ERROR_CODE>--case.yaml)', () => {
  it('has a fixture for every config error code', () => {
    const codes = new Set(invalid.map((f) => f.split('--')[0]));
    for (const c of ['VIGIL_ERR_CONFIG_YAML', 'VIGIL_ERR_CONFIG_INVALID', 'VIGIL_ERR_CONFIG_ENV_MISSING', 'VIGIL_ERR_CONFIG_UNKNOWN_TYPE',
      'VIGIL_ERR_CONFIG_UNKNOWN_CONNECTOR', 'VIGIL_ERR_CONFIG_DUPLICATE_NAME', 'VIGIL_ERR_CONFIG_CONNECTOR_OPTIONS', 'VIGIL_ERR_DETECTOR_OPTIONS']) {
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
    expect(config.analysis.metrics.map((m) => m.detector)).toEqual(['error-rate-sequential', 'latency-sequential', 'latency-quantile']);
    expect(config.actions.mode).toBe('enforce');
  });

  it('substitutes ${ENV} and ${ENV:-default}; the hash never sees the secret', () => {
    const text = 'queue: { redis: "${R:-}" }\nconnectors:\n  - { name: h, type: webhook, options: { url: "http://127.0.0.1:1/x", secret: "${S}" } }\nplan: [h]\n';
    const a = parseConfig(text, 'a.yaml', BUILTIN_REGISTRIES, { S: 'one' });
    const b = parseConfig(text, 'a.yaml', BUILTIN_REGISTRIES, { S: 'two' });
    expect(a.config.queue.redis).toBeNull();
    expect(a.config.connectors[0]!.options.secret).toBe('one');
    expect(a.hash).toBe(b.hash);
    const c = parseConfig(text.replace('[h]', '[ h ]\nanalysis: { alpha: 0.01 }'), 'a.yaml', BUILTIN_REGISTRIES, { S: 'one' });
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

  it('a missing file names the path', () => {
    expect(() => loadConfigFile('/nonexistent/vigil.yaml', BUILTIN_REGISTRIES)).toThrow(/\/nonexistent\/vigil\.yaml.*\n.*fix: check the path/);
  });

  it('warns when the API is open and when no plan is configured', () => {
    const { warnings } = defaultConfig(BUILTIN_REGISTRIES);
    expect(warnings.join('\n')).toMatch(/auth\.tokens is empty/);
    expect(warnings.join('\n')).toMatch(/no rollback plan/);
  });
});
