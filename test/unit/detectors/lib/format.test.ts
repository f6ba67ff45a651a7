import { describe, expect, it } from 'vitest';
import {
  formatBounds,
  formatBurnIn,
  formatCohortBurnIn,
  formatConfidence,
  formatLooks,
  formatP,
  formatRatio,
  formatTolerance,
} from '../../../../detectors/lib/format.js';

describe('summary formatting', () => {
  it('ratios: 2 significant digits, 3 near 1, rounded from 10', () => {
    expect(formatRatio(5.123)).toBe('5.1');
    expect(formatRatio(3)).toBe('3');
    expect(formatRatio(1.0432)).toBe('1.04');
    expect(formatRatio(0.6234)).toBe('0.62');
    expect(formatRatio(1.5234)).toBe('1.52');
    expect(formatRatio(12.6)).toBe('13');
    expect(formatRatio(Number.POSITIVE_INFINITY)).toBe('∞');
    expect(formatRatio(Number.NaN)).toBe('n/a');
  });
  it('p-values', () => {
    expect(formatP(0.0004)).toBe('p=0.0004');
    expect(formatP(0.04567)).toBe('p=0.046');
    expect(formatP(1)).toBe('p=1');
    expect(formatP(3e-7)).toBe('p<0.0001');
  });
  it('confidence, tolerance and looks', () => {
    expect(formatConfidence(0.05)).toBe('95%');
    expect(formatConfidence(0.025)).toBe('97.5%');
    expect(formatConfidence(0.1)).toBe('90%');
    expect(formatTolerance(0.05)).toBe('+5%');
    expect(formatTolerance(0.125)).toBe('+12.5%');
    expect(formatLooks(1)).toBe('after 1 look');
    expect(formatLooks(6)).toBe('after 6 looks');
  });
  it('burn-in: what it has seen, the p-value shown but not used, and when the first verdict can come', () => {
    expect(formatCohortBurnIn({ canary: 12, baseline: 30 }, 25, 'requests', 3, formatP(0.03))).toBe(
      'burn-in: 12/25 canary and 30/25 baseline requests after 3 looks; p=0.03 shown, no verdict before both reach 25',
    );
    expect(formatBurnIn('40/50 requests tested', 1, 'p=1', '50 are tested')).toBe(
      'burn-in: 40/50 requests tested after 1 look; p=1 shown, no verdict before 50 are tested',
    );
  });
});

describe('formatBounds', () => {
  it('states what the phase claims, with no confidence level, and never n/a or ∞', () => {
    expect(formatBounds(1.4521, 3.0467, 'lower')).toBe('lower bound 1.45x');
    expect(formatBounds(1.4521, 3.0467, 'upper')).toBe('upper bound 3x');
    expect(formatBounds(0.91, 1.2, 'both')).toBe('bounds 0.91x to 1.2x');
    expect(formatBounds(1.21, Infinity, 'both')).toBe('lower bound 1.21x, unbounded above');
    expect(formatBounds(1.21, undefined, 'both')).toBe('lower bound 1.21x, unbounded above');
    expect(formatBounds(undefined, 1.2, 'both')).toBe('upper bound 1.2x, unbounded below');
    expect(formatBounds(undefined, undefined, 'both')).toBe('unbounded below and above');
    expect(formatBounds(1.1, Infinity, 'upper')).toBe('unbounded above');
    expect(formatBounds(Number.NaN, 2, 'lower')).toBe('unbounded below');
    expect(formatBounds(0.021, 0.045, 'both', (x) => `${x * 100}%`)).toBe('bounds 2.1% to 4.5%');
  });
});
