import { describe, expect, it } from 'vitest';
import { NOTIFIERS, PLAN_CONNECTORS } from '../../../connectors/index.js';
import { deps } from './fixtures.js';

const minimal: Record<string, unknown> = {
  webhook: { url: 'https://h.example.com/hook' },
  slack: { webhookUrl: 'https://hooks.slack.com/services/T0/B0/X' },
  noop: {},
};

describe('connector registries', () => {
  it('list the built-in types, keyed by their own type', () => {
    expect([...PLAN_CONNECTORS.keys()].sort()).toEqual(['noop', 'webhook']);
    expect([...NOTIFIERS.keys()].sort()).toEqual(['noop', 'slack', 'webhook']);
    for (const [type, f] of [...PLAN_CONNECTORS, ...NOTIFIERS]) expect(f.type).toBe(type);
  });

  it('plan factories build plan connectors, notifier factories build notifiers', () => {
    for (const [type, f] of PLAN_CONNECTORS) {
      const c = f.create(`my-${type}`, f.parse(minimal[type]), deps);
      expect(c.kind).not.toBe('notifier');
      expect(c.type).toBe(type);
      expect(c.name).toBe(`my-${type}`);
    }
    for (const [type, f] of NOTIFIERS) {
      const c = f.create(`my-${type}`, f.parse(minimal[type]), deps);
      expect(c.kind).toBe('notifier');
      expect(c.type).toBe(type);
    }
  });

  it('have no fallback for unknown types', () => {
    expect(PLAN_CONNECTORS.get('prometheus')).toBeUndefined();
    expect(NOTIFIERS.get('teams')).toBeUndefined();
  });
});
