import { describe, expect, it } from 'vitest';
import {
  describeMoves,
  moveCanaryWeight,
  moveWeights,
  pairShare,
  setPairShare,
} from '../../../../connectors/traffic/weights.js';
import { shareWeights } from '../../../../connectors/shared/share.js';
import { VigilError } from '../../../../src/errors.js';

describe('moveCanaryWeight', () => {
  it('gives the canary weight to the first baseline entry and keeps the total', () => {
    expect(
      moveCanaryWeight(
        [
          { role: 'other', weight: 5 },
          { role: 'baseline', weight: 80 },
          { role: 'canary', weight: 10 },
          { role: 'canary', weight: 3 },
          { role: 'baseline', weight: 2 },
        ],
        'r',
      ),
    ).toEqual([5, 93, 0, 0, 2]);
  });

  it('has nothing to do without canary weight, and refuses when the canary has nowhere to go', () => {
    expect(
      moveCanaryWeight(
        [
          { role: 'baseline', weight: 100 },
          { role: 'canary', weight: 0 },
        ],
        'r',
      ),
    ).toBeUndefined();
    expect(moveCanaryWeight([{ role: 'other', weight: 1 }], 'r')).toBeUndefined();
    expect(() =>
      moveCanaryWeight(
        [
          { role: 'canary', weight: 1 },
          { role: 'other', weight: 1 },
        ],
        'route x',
      ),
    ).toThrow('route x sends traffic to the canary but has no baseline destination to move it to');
    const err = (() => {
      try {
        moveWeights([{ role: 'canary', weight: 1 }], 'r', 'istio');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(VigilError);
    expect((err as VigilError).retryable).toBe(false);
  });

  it('is idempotent over random groups', () => {
    for (let seed = 1; seed < 200; seed++) {
      const roles = ['baseline', 'canary', 'other'] as const;
      const entries = Array.from({ length: 1 + (seed % 5) }, (_, i) => ({
        role: roles[(seed * (i + 3)) % 3]!,
        weight: (seed * 7 + i * 13) % 50,
      }));
      if (!entries.some((e) => e.role === 'baseline')) entries.push({ role: 'baseline', weight: 1 });
      const once = moveCanaryWeight(entries, 'r') ?? entries.map((e) => e.weight);
      const total = (ws: number[]) => ws.reduce((a, b) => a + b, 0);
      expect(total(once)).toBe(total(entries.map((e) => e.weight)));
      expect(
        moveCanaryWeight(
          entries.map((e, i) => ({ role: e.role, weight: once[i]! })),
          'r',
        ),
      ).toBeUndefined();
    }
  });

  it('describes only what moves', () => {
    expect(describeMoves(['a', 'b', 'c'], [90, 10, 5], [100, 0, 5])).toBe('a 90→100, b 10→0');
  });
});

describe('setPairShare', () => {
  const w = (canary: number, baseline: number, share: number) => ({ canary, baseline, share });

  it('sets the first canary and first baseline entries, zeroes the other ones, keeps other destinations', () => {
    expect(
      setPairShare(
        [
          { role: 'other', weight: 5 },
          { role: 'baseline', weight: 80 },
          { role: 'canary', weight: 10 },
          { role: 'canary', weight: 3 },
          { role: 'baseline', weight: 2 },
        ],
        w(25, 75, 25),
      ),
    ).toEqual([5, 75, 25, 0, 0]);
  });

  it('leaves a group whose pair already gives the share, whatever its weights, and groups without both', () => {
    const pair = (b: number, c: number) => [
      { role: 'baseline' as const, weight: b },
      { role: 'canary' as const, weight: c },
    ];
    expect(setPairShare(pair(150, 50), w(25, 75, 25))).toBeUndefined();
    expect(setPairShare(pair(195, 5), w(5, 195, 2.5))).toBeUndefined();
    expect(setPairShare(pair(0, 0), w(25, 75, 25))).toEqual([75, 25]);
    expect(setPairShare(pair(76, 24), w(25, 75, 25))).toEqual([75, 25]);
    expect(setPairShare([{ role: 'baseline', weight: 1 }], w(25, 75, 25))).toBeUndefined();
    expect(setPairShare([{ role: 'canary', weight: 1 }], w(25, 75, 25))).toBeUndefined();
  });

  it('is idempotent for any share: setting it again changes nothing, and the pair gives the share', () => {
    for (const share of [0.1, 2.5, 5, 25, 33.3, 50, 99.9, 100]) {
      const want = shareWeights(share, 1_000_000);
      const entries = [
        { role: 'canary' as const, weight: 7 },
        { role: 'other' as const, weight: 9 },
        { role: 'baseline' as const, weight: 11 },
      ];
      const next = setPairShare(entries, want)!;
      expect(next[1]).toBe(9);
      const after = entries.map((e, i) => ({ role: e.role, weight: next[i]! }));
      expect(pairShare(after)).toBeCloseTo(share, 9);
      expect(setPairShare(after, want)).toBeUndefined();
    }
  });
});
