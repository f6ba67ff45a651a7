import { describe, expect, it } from 'vitest';
import { checkShare, formatShare, shareDetail, shareOf, shareWeights } from '../../../../connectors/shared/share.js';
import type { VigilError } from '../../../../src/errors.js';

describe('canary shares', () => {
  it('accepts 0–100 with fractions and rejects the rest permanently', () => {
    expect([0, 2.5, 100].map((p) => checkShare('x', p))).toEqual([0, 2.5, 100]);
    for (const bad of [-0.001, 100.001, Number.NaN, Number.NEGATIVE_INFINITY, '5' as unknown as number]) {
      let err: VigilError | undefined;
      try {
        checkShare('x', bad);
      } catch (e) {
        err = e as VigilError;
      }
      expect([err?.code, err?.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
    }
  });

  it('finds the smallest exact integer weights, or rounds on the maximum total', () => {
    expect(shareWeights(25, 256)).toEqual({ canary: 25, baseline: 75, share: 25 });
    expect(shareWeights(2.5, 256)).toEqual({ canary: 5, baseline: 195, share: 2.5 });
    expect(shareWeights(100, 256)).toEqual({ canary: 100, baseline: 0, share: 100 });
    expect(shareWeights(0.1, 100_000)).toEqual({ canary: 1, baseline: 999, share: 0.1 });
    const rounded = shareWeights(1.01, 256);
    expect(rounded.canary + rounded.baseline).toBe(256);
    expect(rounded.share).toBeCloseTo(1.171875);
  });

  it('describes shares without float noise', () => {
    expect(formatShare(0.1 + 0.2)).toBe('0.3%');
    expect(shareDetail(25, 5)).toBe('canary share 25% (was 5%)');
    expect(shareDetail(25, undefined)).toBe('canary share 25% (was unknown)');
    expect([shareOf(1, 3), shareOf(0, 0)]).toEqual([25, undefined]);
  });
});
