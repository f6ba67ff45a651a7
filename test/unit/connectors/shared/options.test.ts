import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { noopConnectorFactory } from '../../../../connectors/noop.js';
import { webhookConnectorFactory } from '../../../../connectors/webhooks/webhook.js';
import { noopNotifierFactory } from '../../../../connectors/notifiers/noop.js';
import { slackNotifierFactory } from '../../../../connectors/notifiers/slack.js';
import { webhookNotifierFactory } from '../../../../connectors/notifiers/webhook.js';
import { parseOptions } from '../../../../connectors/shared/options.js';
import type { ConnectorFactory } from '../../../../src/contracts/connector.js';
import { VigilError } from '../../../../src/errors.js';

function parseError(f: ConnectorFactory, options: unknown): VigilError {
  try {
    f.parse(options);
  } catch (e) {
    expect(e).toBeInstanceOf(VigilError);
    const err = e as VigilError;
    expect(err.code).toBe('VIGIL_ERR_CONFIG_CONNECTOR_OPTIONS');
    expect(err.retryable).toBe(false);
    return err;
  }
  throw new Error('expected parse to throw');
}

describe.each([
  ['webhook connector', webhookConnectorFactory],
  ['webhook notifier', webhookNotifierFactory],
])('%s options', (_label, f) => {
  it('applies defaults', () => {
    expect(f.parse({ url: 'https://hooks.example.com/vigil' })).toEqual({
      url: 'https://hooks.example.com/vigil',
      timeoutMs: 10_000,
      headers: {},
    });
  });

  it('names a missing or bad url without echoing it', () => {
    expect(parseError(f, {}).message).toMatch(/webhook: options\.url is required/);
    const bad = parseError(f, { url: 'ftp://user:hunter2@example.com/x' });
    expect(bad.message).toMatch(/options\.url must use http or https/);
    expect(bad.message).not.toContain('hunter2');
    expect(parseError(f, { url: 'not a url' }).message).toMatch(/options\.url is not an absolute URL/);
  });

  it('names timeoutMs, secret and headers problems', () => {
    const url = 'https://h.example.com';
    expect(parseError(f, { url, timeoutMs: 0 }).message).toMatch(/options\.timeoutMs must be at least 1 ms/);
    expect(parseError(f, { url, timeoutMs: 2.5 }).message).toMatch(/options\.timeoutMs must be an integer/);
    expect(parseError(f, { url, timeoutMs: 600_000 }).message).toMatch(/options\.timeoutMs must be at most 120000/);
    expect(parseError(f, { url, secret: '' }).message).toMatch(/options\.secret is empty/);
    expect(parseError(f, { url, headers: { 'X-Vigil-Signature': 'forged' } }).message).toMatch(
      /options\.headers must not set X-Vigil-Signature/,
    );
    expect(parseError(f, { url, headers: { 'Content-Type': 'text/plain' } }).message).toMatch(/options\.headers/);
    expect(parseError(f, { url, headers: { 'x-a': 'one\r\ntwo' } }).message).toMatch(/line breaks/);
  });

  it('rejects unknown options by name (a typo must not disable signing)', () => {
    const err = parseError(f, { url: 'https://h.example.com', secrte: 'oops' });
    expect(err.message).toMatch(/unknown option options\.secrte/);
    expect(err.message).toMatch(/known options: url, secret, timeoutMs, headers, source/);
    expect(err.message).not.toContain('oops');
  });

  it('rejects options that are not a mapping', () => {
    expect(parseError(f, 'https://h.example.com').message).toMatch(/options must be a mapping/);
  });
});

describe('slack options', () => {
  it('requires an https webhookUrl (plain http only on loopback) and never echoes it', () => {
    expect(parseError(slackNotifierFactory, {}).message).toMatch(/slack: options\.webhookUrl is required/);
    const err = parseError(slackNotifierFactory, { webhookUrl: 'http://hooks.slack.com/services/T0/B0/SECRETPART' });
    expect(err.message).toMatch(/options\.webhookUrl must use https/);
    expect(err.message).not.toContain('SECRETPART');
    expect(slackNotifierFactory.parse({ webhookUrl: 'http://127.0.0.1:8080/x' })).toEqual({
      webhookUrl: 'http://127.0.0.1:8080/x',
      timeoutMs: 10_000,
    });
  });

  it('names channel and username problems', () => {
    const webhookUrl = 'https://hooks.slack.com/services/T0/B0/X';
    expect(parseError(slackNotifierFactory, { webhookUrl, channel: '' }).message).toMatch(
      /options\.channel must not be empty/,
    );
    expect(parseError(slackNotifierFactory, { webhookUrl, username: 5 }).message).toMatch(
      /options\.username must be a string/,
    );
    expect(parseError(slackNotifierFactory, { webhookUrl, icon: ':x:' }).message).toMatch(
      /unknown option options\.icon/,
    );
  });
});

describe('noop options', () => {
  it('plan noop: names a bad kind', () => {
    expect(parseError(noopConnectorFactory, { kind: 'notifier' }).message).toMatch(
      /noop: options\.kind must be one of flag, traffic, deployer, webhook/,
    );
  });
  it('notifier noop: takes no options', () => {
    expect(noopNotifierFactory.parse(undefined)).toEqual({});
    expect(parseError(noopNotifierFactory, { verbose: true }).message).toMatch(/unknown option options\.verbose/);
  });
});

describe('parseOptions on nested options', () => {
  const schema = z.strictObject({ upstream: z.strictObject({ host: z.string(), port: z.int().optional() }) });
  const nested: ConnectorFactory = {
    type: 'nested',
    kind: 'webhook',
    parse: (o) => parseOptions('nested', schema, o),
    create: () => {
      throw new Error('unused');
    },
  };

  it('names an unknown nested option with its parent, and lists the known names only at the top level', () => {
    const err = parseError(nested, { upstream: { host: 'a', prot: 8080 } });
    expect(err.message).toMatch(/nested: unknown option options\.upstream\.prot: remove it or fix its spelling$/);
    expect(err.details).toMatchObject({ options: ['upstream.prot'] });
    const top = parseError(nested, { upstream: { host: 'a' }, extra: 1 });
    expect(top.message).toMatch(
      /nested: unknown option options\.extra: remove it or fix its spelling \(known options: upstream\)$/,
    );
  });
});
