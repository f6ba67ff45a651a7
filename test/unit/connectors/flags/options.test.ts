import { describe, expect, it } from 'vitest';
import { flagdFactory } from '../../../../connectors/flags/flagd.js';
import { flagsmithFactory } from '../../../../connectors/flags/flagsmith.js';
import { launchDarklyFactory } from '../../../../connectors/flags/launchdarkly.js';
import { unleashFactory } from '../../../../connectors/flags/unleash.js';
import { VigilError } from '../../../../src/errors.js';

function parseError(parse: () => unknown): VigilError {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(VigilError);
    expect((err as VigilError).code).toBe('VIGIL_ERR_CONFIG_CONNECTOR_OPTIONS');
    return err as VigilError;
  }
  throw new Error('expected the options to be rejected');
}

describe('flag connector options', () => {
  it('apply defaults: unleash project "default", LaunchDarkly and Flagsmith SaaS origins, 10 s timeouts', () => {
    expect(
      unleashFactory.parse({ url: 'https://unleash.example.com', token: 't', feature: 'f', environment: 'production' }),
    ).toEqual({
      url: 'https://unleash.example.com',
      token: 't',
      project: 'default',
      feature: 'f',
      environment: 'production',
      timeoutMs: 10_000,
    });
    expect(launchDarklyFactory.parse({ apiKey: 'k', project: 'p', flag: 'f', environment: 'production' })).toEqual({
      apiKey: 'k',
      project: 'p',
      flag: 'f',
      environment: 'production',
      baseUrl: 'https://app.launchdarkly.com',
      timeoutMs: 10_000,
    });
    expect(flagsmithFactory.parse({ token: 't', environmentKey: 'e', feature: 'f' })).toEqual({
      token: 't',
      environmentKey: 'e',
      feature: 'f',
      baseUrl: 'https://api.flagsmith.com',
      timeoutMs: 10_000,
    });
    expect(flagdFactory.parse({ path: '/etc/flagd/flags.json', flag: 'f', variant: 'off' })).toEqual({
      path: '/etc/flagd/flags.json',
      flag: 'f',
      variant: 'off',
    });
  });

  it('name each missing option and what to put there', () => {
    expect(
      parseError(() => unleashFactory.parse({ url: 'https://u.example.com', token: 't', feature: 'f' })).message,
    ).toContain('options.environment is required: the Unleash environment to disable the feature in');
    expect(parseError(() => flagdFactory.parse({ path: 'flags.json', flag: 'f' })).message).toContain(
      'options.variant is required: the variant the flag serves after a rollback (the baseline)',
    );
    expect(
      parseError(() => launchDarklyFactory.parse({ project: 'p', flag: 'f', environment: 'e' })).message,
    ).toContain('options.apiKey is required');
    expect(parseError(() => flagdFactory.parse(undefined)).details.connectorType).toBe('flagd');
  });

  it('reject unknown options (a typo must not silently change what is rolled back)', () => {
    expect(
      parseError(() => flagdFactory.parse({ path: 'f.json', flag: 'f', variant: 'v', varient: 'x' })).message,
    ).toContain('unknown option options.varient');
  });

  it('never echo a credential in the error, even a malformed one', () => {
    const err = parseError(() =>
      unleashFactory.parse({
        url: 'https://u.example.com',
        token: 'secret-tok\r\nX-Injected: 1',
        feature: 'f',
        environment: 'e',
      }),
    );
    expect(err.message).toContain('options.token must not contain line breaks');
    expect(`${err.message}${JSON.stringify(err.details)}`).not.toContain('secret-tok');
    const padded = parseError(() =>
      launchDarklyFactory.parse({ apiKey: ' api-123 ', project: 'p', flag: 'f', environment: 'e' }),
    );
    expect(padded.message).toContain('must not start or end with whitespace');
    expect(padded.message).not.toContain('api-123');
  });

  it('send the LaunchDarkly key over https only (plain http only to loopback, for tests)', () => {
    expect(
      parseError(() =>
        launchDarklyFactory.parse({
          apiKey: 'k',
          project: 'p',
          flag: 'f',
          environment: 'e',
          baseUrl: 'http://ld-proxy.internal',
        }),
      ).message,
    ).toContain('must use https');
    expect(
      launchDarklyFactory.parse({
        apiKey: 'k',
        project: 'p',
        flag: 'f',
        environment: 'e',
        baseUrl: 'http://127.0.0.1:8080',
      }).baseUrl,
    ).toBe('http://127.0.0.1:8080');
  });

  it('Flagsmith takes exactly one of apiKey or token', () => {
    for (const creds of [{}, { apiKey: 'a', token: 't' }]) {
      expect(
        parseError(() => flagsmithFactory.parse({ ...creds, environmentKey: 'e', feature: 'f' })).message,
      ).toContain('set exactly one of apiKey (Organisation API key) or token (user API token)');
    }
  });

  it('identifiers have no spaces (they go into URL paths), empty values are refused', () => {
    expect(
      parseError(() =>
        unleashFactory.parse({ url: 'https://u.example.com', token: 't', feature: 'check out', environment: 'e' }),
      ).message,
    ).toContain('options.feature must not contain spaces or control characters');
    expect(
      parseError(() =>
        launchDarklyFactory.parse({ apiKey: 'k', project: 'p', flag: 'f', environment: 'e', variation: '' }),
      ).message,
    ).toContain('options.variation must not be empty');
  });
});
