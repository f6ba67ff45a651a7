import { describe, expect, it } from 'vitest';
import {
  looksLikeToken,
  originOf,
  redact,
  redactUrl,
  scrubError,
  secretValues,
  urlSecrets,
} from '../../../../connectors/shared/redact.js';
import { VigilError } from '../../../../src/errors.js';
import { configRedaction } from '../../../../src/agent/actions.js';
import { parseConfig } from '../../../../src/config/load.js';
import { BUILTIN_REGISTRIES } from '../../../../src/registries.js';

describe('redactUrl', () => {
  it.each([
    // the last segment of a webhook path is its credential, however it looks
    ['https://hooks.slack.com/services/T000/B000/XXXX', 'https://hooks.slack.com/services/T000/B000/****'],
    ['https://discord.com/api/webhooks/123/abc?wait=true', 'https://discord.com/api/webhooks/123/****?wait=true'],
    ['https://mm.example.com/hooks/k', 'https://mm.example.com/hooks/****'],
    ['https://deploy.example.com/hooks/rollback/', 'https://deploy.example.com/hooks/****/'],
    // token-looking segments anywhere, secret query values, user info and fragment
    [
      'https://x.example.com/t/0123456789abcdefXYZ/run?token=abc&key=k&sig=s&team=checkout#access_token=zz',
      'https://x.example.com/t/****/run?token=****&key=****&sig=****&team=checkout',
    ],
    ['http://user:pass@flags.internal:8081/vigil/rollback', 'http://flags.internal:8081/vigil/rollback'],
    // nothing secret: unchanged
    [
      'https://flags.example.com/api/v1/rollback?team=checkout',
      'https://flags.example.com/api/v1/rollback?team=checkout',
    ],
  ])('%s → %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });

  it('is safe on what is not a URL', () => {
    expect(redactUrl('not a url')).toBe('(not a URL)');
    expect(originOf('::')).toBe('(not a URL)');
    expect(urlSecrets('not a url')).toEqual([]);
  });

  it('originOf keeps scheme, host and port only', () => {
    expect(originOf('https://u:p@hooks.slack.com:8443/services/T/B/X?x=1')).toBe('https://hooks.slack.com:8443');
  });
});

describe('urlSecrets: what redactUrl hides, as text may hold it', () => {
  it('lists user info, secret segments (raw and decoded), secret query values and the fragment', () => {
    const s = urlSecrets('https://bob:hunter22@h.example.com/services/T0/B0/tok%2Fen-0123?sig=a%2Bb1&x=1#frag-ment');
    expect(s).toEqual(
      expect.arrayContaining(['hunter22', 'tok%2Fen-0123', 'tok/en-0123', 'a%2Bb1', 'a+b1', 'frag-ment']),
    );
    expect(s).not.toContain('T0');
    expect(s).not.toContain('1');
  });

  it('leaves out plain words ending a webhook path and parts shorter than 4 characters', () => {
    expect(urlSecrets('https://deploy.example.com/hooks/rollback')).toEqual([]);
    expect(urlSecrets('https://hooks.slack.com/services/T0/B0/abc')).toEqual([]);
    expect(urlSecrets('https://hooks.slack.com/services/T0/B0/XXXX')).toEqual([]);
    expect(urlSecrets('https://hooks.slack.com/services/T0/B0/xoxb7')).toEqual(['xoxb7']);
  });
});

describe('secretValues, redact, scrubError', () => {
  const options = {
    url: 'https://hooks.example.com/hooks/Key0123456789?sig=SIGvalue',
    secret: 'hmac-secret',
    headers: { Authorization: 'Bearer abcdefgh' },
    timeoutMs: 5000,
    source: 'vigil',
    nested: { apiKey: 'ld-api-key-0001' },
  };

  it('collects credentials and the secret parts of URLs, never ordinary values', () => {
    const s = secretValues(options);
    expect(s).toEqual(
      expect.arrayContaining(['Key0123456789', 'SIGvalue', 'hmac-secret', 'Bearer abcdefgh', 'ld-api-key-0001']),
    );
    expect(s).not.toContain('vigil');
    expect(s).not.toContain(options.url); // the URL itself stays showable once redacted
    expect(looksLikeToken('Key0123456789abcd')).toBe(true);
  });

  it('redact replaces the longest first; scrubError cleans message, stack and causes in place', () => {
    expect(redact('a hmac-secret-2 and hmac-secret', ['hmac-secret', 'hmac-secret-2'])).toBe(
      'a [redacted] and [redacted]',
    );
    const cause = new Error('fetch failed: POST /hooks/Key0123456789');
    const err = new VigilError('VIGIL_ERR_CONNECTOR_NETWORK', ['webhook: /hooks/Key0123456789'], { cause });
    expect(scrubError(err, secretValues(options), '****')).toBe(err);
    expect(err.message).toBe('vendor unreachable: webhook: /hooks/****');
    expect(err.stack).not.toContain('Key0123456789');
    expect(cause.message).toBe('fetch failed: POST /hooks/****');
  });
});

describe('configRedaction (the plan runner’s): every connector and notifier of the config', () => {
  it('hides each one’s URL token, query secret and credentials in details and errors', () => {
    const loaded = parseConfig(
      [
        'connectors:',
        '  - { name: hook, type: webhook, options: { url: "https://h.example.com/services/T0/B0/PaTh7ok3n", secret: "${S}" } }',
        'notifiers:',
        '  - { name: chat, type: slack, options: { webhookUrl: "https://hooks.slack.com/services/T1/B1/ChatT0ken" } }',
        'plan: [hook]',
      ].join('\n'),
      'x.yaml',
      BUILTIN_REGISTRIES,
      { S: 'hmac-from-env' },
    );
    const r = configRedaction(loaded);
    expect(r.text('POSTed to https://h.example.com/services/T0/B0/PaTh7ok3n signed with hmac-from-env')).toBe(
      'POSTed to https://h.example.com/services/T0/B0/[redacted] signed with [redacted]',
    );
    const err = r.error(new Error('slack answered HTTP 404: no such hook ChatT0ken'));
    expect(err.message).toBe('slack answered HTTP 404: no such hook [redacted]');
  });
});
