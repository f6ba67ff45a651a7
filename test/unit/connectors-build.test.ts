import { describe, expect, it } from 'vitest';
import { parseConfig, type Registries } from '../../src/config/load.js';
import { buildConnector, buildConnectors } from '../../src/connectors-build.js';
import type { ConnectorFactory } from '../../src/contracts/index.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';
import { deps } from '../helpers/connectors/fixtures.js';

const yaml = [
  'connectors:',
  '  - { name: hook, type: webhook, options: { url: "https://flags.example.com/vigil" } }',
  '  - { name: nothing, type: noop }',
  'notifiers:',
  '  - { name: ops, type: teams, options: { webhookUrl: "https://x.logic.azure.com/workflows/1" } }',
  '  - { name: pager, type: pagerduty, options: { routingKey: "abcdefABCDEF0123456789abcdefABCD" } }',
].join('\n');

describe('buildConnectors', () => {
  it('builds every plan connector (by name, in order) and notifier with its parsed options', () => {
    const loaded = parseConfig(yaml, 'x.yaml', BUILTIN_REGISTRIES, {});
    const built = buildConnectors(loaded, BUILTIN_REGISTRIES, deps);
    expect([...built.plan.entries()].map(([n, c]) => `${n}:${c.type}:${c.kind}`)).toEqual([
      'hook:webhook:webhook',
      'nothing:noop:webhook',
    ]);
    expect(built.notifiers.map((n) => `${n.name}:${n.type}`)).toEqual(['ops:teams', 'pager:pagerduty']);
  });

  it('refuses a factory that builds the wrong kind for its section', () => {
    const sneaky: ConnectorFactory = { ...BUILTIN_REGISTRIES.notifiers.get('noop')!, type: 'sneaky' };
    const registries: Registries = { ...BUILTIN_REGISTRIES, planConnectors: new Map([['sneaky', sneaky]]) };
    const loaded = parseConfig('connectors: [{ name: s, type: sneaky }]', 'x.yaml', registries, {});
    expect(() => buildConnector(loaded, registries, 'connectors', { name: 's', type: 'sneaky' }, deps)).toThrow(
      /sneaky \(a notifier\) under connectors/,
    );
    expect(() => buildConnector(loaded, registries, 'notifiers', { name: 's', type: 'unknown' }, deps)).toThrow(
      /unknown type unknown/,
    );
  });
});
