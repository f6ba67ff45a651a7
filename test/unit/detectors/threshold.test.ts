/** Detector.threshold: the effect (on the estimate's scale) beyond which the canary counts as worse, drawn by plots. */
import { describe, expect, it } from 'vitest';
import { createErrorRateSequential } from '../../../detectors/error-rate-sequential.js';
import { createKayentaMannWhitney } from '../../../detectors/kayenta-mann-whitney.js';
import { createLatencyQuantile } from '../../../detectors/latency-quantile.js';
import { createLatencySequential } from '../../../detectors/latency-sequential.js';
import { createGaugeSequential } from '../../../detectors/gauge-sequential.js';
import { createRatioSequential } from '../../../detectors/ratio-sequential.js';
import { createSloGuard } from '../../../detectors/slo-guard.js';
import { createSrm } from '../../../detectors/srm.js';

describe('detector thresholds', () => {
  it('ratio detectors: 1 + tolerance (their defaults included); Kayenta: the allowed increase of a mean ratio', () => {
    expect(createErrorRateSequential('e', { tolerance: 0.2 }, 20).threshold).toBe(1.2);
    expect(createErrorRateSequential('e', undefined, 20).threshold).toBe(1);
    expect(createLatencySequential('l', { tolerance: 0.05 }, 20).threshold).toBe(1.05);
    expect(createLatencyQuantile('q', undefined, 20).threshold).toBeCloseTo(1.1, 12);
    expect(createKayentaMannWhitney('k', undefined, 20).threshold).toBe(1);
    expect(createKayentaMannWhitney('k', { allowedIncrease: 1.3 }, 20).threshold).toBe(1.3);
    expect(createKayentaMannWhitney('k', { direction: 'decrease' }, 20).threshold).toBeUndefined();
  });

  it('ratio and gauge detectors: 1 + tolerance when higher is worse, 1 - tolerance when lower is', () => {
    const counters = { numerator: { metric: 'a' }, denominator: { metric: 'b' } };
    expect(createRatioSequential('r', counters, 20).threshold).toBe(1);
    expect(createRatioSequential('r', { ...counters, worse: 'lower', tolerance: 0.02 }, 20).threshold).toBe(0.98);
    expect(createGaugeSequential('g', { metric: 'm', tolerance: 0.2 }, 20).threshold).toBe(1.2);
    expect(createGaugeSequential('g', { metric: 'm', worse: 'lower', tolerance: 0.25 }, 20).threshold).toBe(0.75);
  });

  it('detectors without a ratio tolerance have none', () => {
    expect(createSrm('s', undefined, 20).threshold).toBeUndefined();
    expect('threshold' in createSloGuard('g', { maxErrorRate: 0.01 }, 20)).toBe(false);
  });
});
