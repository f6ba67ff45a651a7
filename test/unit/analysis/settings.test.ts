import { describe, expect, it } from 'vitest';
import { analysisMetrics, analysisSettings, metricAlphas } from '../../../src/analysis/settings.js';
import { defaultConfig, parseConfig, type Registries } from '../../../src/config/load.js';
import type { Detector, DetectorFactory } from '../../../src/contracts/index.js';
import { BUILTIN_REGISTRIES } from '../../../src/registries.js';

/** A detector factory that counts the instances it builds. */
function counting(): { factory: DetectorFactory; built: Detector[] } {
  const built: Detector[] = [];
  const factory: DetectorFactory = {
    type: 'probe',
    anytimeValid: true, // it never fails
    create: (name) => {
      const d: Detector<null> = {
        type: 'probe',
        name,
        init: () => null,
        look: (s) => ({
          state: s,
          verdict: {
            detector: 'probe',
            metric: name,
            phase: 'inconclusive',
            pValue: 1,
            samples: { baseline: 0, canary: 0 },
            summary: '',
          },
        }),
      };
      built.push(d);
      return d;
    },
  };
  return { factory, built };
}

const YAML = `
analysis:
  metrics:
    - { name: a, detector: probe }
    - { name: b, detector: probe, weight: 3, shadow: true, source: metrics }
rollouts:
  - { service: checkout, plan: [hook], expectedCanaryShare: 0.2, baseline: none }
  - { service: cart, promote: { via: router, steps: [5, 100] } }
connectors:
  - { name: hook, type: noop }
  - { name: router, type: noop, options: { kind: traffic } }
plan: []
`;

describe('analysis settings of a config', () => {
  it('uses the detectors the config built when it was checked: one instance per metric, never rebuilt', () => {
    const { factory, built } = counting();
    const registries: Registries = { ...BUILTIN_REGISTRIES, detectors: new Map([['probe', factory]]) };
    const loaded = parseConfig(YAML, 't.yaml', registries, {});
    expect(built.map((d) => d.name)).toEqual(['a', 'b']);
    expect([...loaded.detectors.keys()]).toEqual(['a', 'b']);
    const agent = analysisSettings(loaded, { plans: true, dryRun: false });
    const backtest = analysisSettings(loaded);
    expect(built).toHaveLength(2);
    expect(agent.metrics.map((m) => m.detector)).toEqual(built);
    expect(backtest.metrics.map((m) => m.detector)).toEqual(built);
    expect(agent.metrics[1]).toMatchObject({ name: 'b', shadow: true, weight: 3, source: 'metrics' });
    expect(analysisMetrics(loaded).map((m) => m.detector)).toEqual(built);
  });

  it('derives plans, dry-run, the expected split and baseline-free services from the config', () => {
    const { factory } = counting();
    const loaded = parseConfig(YAML, 't.yaml', { ...BUILTIN_REGISTRIES, detectors: new Map([['probe', factory]]) }, {});
    const agent = analysisSettings(loaded, { plans: true, dryRun: false });
    expect(agent.planFor('checkout')).toEqual(['hook']);
    expect(agent.planFor('cart')).toEqual([]);
    expect(agent.promotionSteps?.('cart')).toEqual([5, 100]);
    expect(agent.promotionSteps?.('checkout')).toBeUndefined();
    expect(agent.dryRun).toBe(false);
    expect(agent.expectedCanaryShare?.('checkout')).toBe(0.2);
    expect(agent.baselineFree?.('checkout')).toBe(true);
    expect(agent.baselineFree?.('cart')).toBe(false);
    const dry = analysisSettings(loaded);
    expect(dry.planFor('checkout')).toEqual([]);
    expect('promotionSteps' in dry).toBe(false); // a backtest promotes on the evidence alone
    expect(dry.dryRun).toBe(true);
    expect(dry.configHash).toBe(loaded.hash);
  });

  it('splits alpha by weight over the metrics (Bonferroni)', () => {
    const settings = analysisSettings(defaultConfig(BUILTIN_REGISTRIES));
    const alphas = metricAlphas(settings);
    expect(alphas).toHaveLength(3);
    expect(alphas.reduce((a, b) => a + b, 0)).toBeCloseTo(settings.alpha, 12);
  });
});
