/** look-history.ts: the looks kept by column give back the same LookPoints, a metric that appears later has no
 *  points before it, and at most MAX_LOOK_HISTORY looks are kept (oldest dropped). */
import { describe, expect, it } from 'vitest';
import { MAX_LOOK_HISTORY, type Analysis, type MetricSetup } from '../../../src/analysis/analysis-types.js';
import { lookPoints, recordLook } from '../../../src/analysis/look-history.js';
import type { CohortPair, MetricVerdict } from '../../../src/contracts/index.js';
import { emptyPair } from '../../../src/evidence/cohort-batch.js';

const verdict = (metric: string, look: number, over: Partial<MetricVerdict> = {}): MetricVerdict => ({
  detector: 'd',
  metric,
  phase: 'inconclusive',
  pValue: 1 / look,
  alpha: 0.025,
  samples: { baseline: 0, canary: 0 },
  summary: '',
  shadow: false,
  ...over,
});

function batch(requests: number, errors: number): CohortPair {
  const b = emptyPair();
  b.baseline.requests = requests;
  b.canary.requests = requests + 1;
  b.baseline.errors = errors;
  b.canary.errors = errors + 1;
  return b;
}

const setups = [
  { name: 'err', detector: { threshold: 1.2 } },
  { name: 'lat', detector: {} },
] as unknown as MetricSetup[];

describe('look history', () => {
  it('gives back each look as recorded; a metric that appears later has no points before it', () => {
    const a = { look: 0, verdicts: [] as MetricVerdict[] } as unknown as Analysis;
    a.look = 1;
    a.verdicts = [verdict('err', 1, { estimate: 2, lower: 1.5 })];
    recordLook(a, { atUnixMs: 10, batch: batch(100, 1), metrics: setups });
    a.look = 2;
    a.verdicts = [
      verdict('err', 2, { phase: 'fail', estimate: 3, lower: 2, upper: 4 }),
      verdict('lat', 2, { shadow: true }),
    ];
    recordLook(a, { atUnixMs: 20, batch: batch(200, 2), metrics: setups }, { held: 'rollback' });
    a.look = 3;
    recordLook(a, { atUnixMs: 30, batch: batch(300, 3), metrics: setups }, { decided: 'rollback' });
    expect(lookPoints(a.history)).toEqual([
      {
        look: 1,
        atUnixMs: 10,
        requests: { baseline: 100, canary: 101 },
        errors: { baseline: 1, canary: 2 },
        metrics: [
          { metric: 'err', phase: 'inconclusive', pValue: 1, alpha: 0.025, estimate: 2, lower: 1.5, threshold: 1.2 },
        ],
      },
      {
        look: 2,
        atUnixMs: 20,
        requests: { baseline: 200, canary: 201 },
        errors: { baseline: 2, canary: 3 },
        metrics: [
          { metric: 'err', phase: 'fail', pValue: 0.5, alpha: 0.025, estimate: 3, lower: 2, upper: 4, threshold: 1.2 },
          { metric: 'lat', phase: 'inconclusive', pValue: 0.5, alpha: 0.025, shadow: true },
        ],
        held: 'rollback',
      },
      expect.objectContaining({ look: 3, decided: 'rollback', metrics: [expect.anything(), expect.anything()] }),
    ]);
    expect(lookPoints(undefined)).toEqual([]);
  });

  it(`keeps the last ${MAX_LOOK_HISTORY} looks`, () => {
    const a = { look: 0, verdicts: [] as MetricVerdict[] } as unknown as Analysis;
    for (let i = 1; i <= MAX_LOOK_HISTORY + 5; i++) {
      a.look = i;
      a.verdicts = [verdict('err', i)];
      recordLook(a, { atUnixMs: i * 10, batch: batch(i, 0), metrics: setups });
    }
    const points = lookPoints(a.history);
    expect(points).toHaveLength(MAX_LOOK_HISTORY);
    expect(points[0]).toMatchObject({ look: 6, atUnixMs: 60, requests: { baseline: 6 }, metrics: [{ pValue: 1 / 6 }] });
    expect(points.at(-1)).toMatchObject({ look: MAX_LOOK_HISTORY + 5 });
  });
});
