import { describe, expect, it } from 'vitest';
import { AnalysisRegistry, type MetricSetup } from '../../../src/analysis/analysis-registry.js';
import { selectEvidence, type EvidenceSource } from '../../../src/analysis/evidence-source.js';
import type {
  CohortBatch,
  CohortIncrement,
  CohortPair,
  Detector,
  RequestSample,
} from '../../../src/contracts/index.js';
import { addRequest, emptyBatch, emptyPair } from '../../../src/evidence/cohort-batch.js';
import { registrySettings } from '../../helpers/registry-settings.js';

/** A recording detector: the registry (and the evidence routing) is under test, not the statistics. */
function recorder(name: string, source?: EvidenceSource) {
  const seen: { look: number; baseline: number; canary: number; totalCanary: number }[] = [];
  const detector: Detector<null> = {
    type: 'test-record',
    name,
    init: () => null,
    look: (s, input) => {
      seen.push({
        look: input.look,
        baseline: input.batch.baseline.requests,
        canary: input.batch.canary.requests,
        totalCanary: input.totals.canary.requests,
      });
      return {
        state: s,
        verdict: {
          detector: 'test-record',
          metric: name,
          phase: 'inconclusive',
          pValue: 1,
          samples: { baseline: 0, canary: 0 },
          summary: 'ok',
        },
      };
    },
  };
  const setup: MetricSetup = { name, shadow: false, weight: 1, detector, ...(source ? { source } : {}) };
  return { setup, seen };
}

const settings = (metrics: MetricSetup[]) => registrySettings(metrics);

const T0 = 1_767_225_600_000;
function batch(requests: number, errors = 0): CohortBatch {
  const b = emptyBatch();
  for (let i = 0; i < requests; i++) addRequest(b, 20, i < errors);
  return b;
}
const inc = (
  cohort: CohortIncrement['cohort'],
  t: number,
  requests: number,
  version = cohort === 'canary' ? '2.0' : '1.0',
): CohortIncrement => ({ service: 'checkout', version, cohort, endUnixMs: T0 + t, batch: batch(requests) });
const span = (cohort: RequestSample['cohort'], t: number): RequestSample => ({
  service: 'checkout',
  version: cohort === 'canary' ? '2.0' : '1.0',
  cohort,
  endUnixMs: T0 + t,
  durationMs: 20,
  error: false,
});

describe('AnalysisRegistry.ingestBatches', () => {
  it('discovers the cohorts, moves the clock and fills the looks like samples do', () => {
    const r = recorder('m');
    const reg = new AnalysisRegistry(settings([r.setup]), { onDecision: () => {} });
    reg.ingestBatches([inc('baseline', 1000, 40), inc('canary', 2000, 4)]);
    expect(reg.list().map((a) => a.id)).toEqual(['checkout:2.0']);
    reg.ingestBatches([inc('baseline', 11_000, 30), inc('canary', 12_000, 3)]);
    reg.ingestBatches([inc('baseline', 21_000, 1)]);
    expect(r.seen).toEqual([
      { look: 1, baseline: 40, canary: 4, totalCanary: 4 },
      { look: 2, baseline: 30, canary: 3, totalCanary: 7 },
    ]);
    expect(reg.list()[0]!.totals).toEqual({
      baseline: { requests: 70, errors: 0 },
      canary: { requests: 7, errors: 0 },
    });
    expect(reg.counters.metricIncrements).toBe(5);
  });

  it('baseline increments that arrived before the canary are part of its first look', () => {
    const r = recorder('m');
    const reg = new AnalysisRegistry(settings([r.setup]), { onDecision: () => {} });
    reg.ingestBatches([inc('baseline', 1000, 40)]);
    reg.ingestBatches([inc('canary', 5000, 4)]);
    reg.ingestBatches([inc('baseline', 11_000, 1)]);
    expect(r.seen[0]).toMatchObject({ baseline: 40, canary: 4 });
  });

  it('counts unknown-cohort increments by their requests', () => {
    const reg = new AnalysisRegistry(settings([recorder('m').setup]), { onDecision: () => {} });
    reg.ingestBatches([inc('unknown', 1000, 12, '3.0'), inc('unknown', 2000, 3, '3.0')]);
    expect(reg.unknownCohorts()).toEqual([{ service: 'checkout', version: '3.0', samples: 15 }]);
    expect(reg.counters.unknownCohort).toBe(15);
  });
});

describe('evidence sources per metric', () => {
  function run(feed: (reg: AnalysisRegistry) => void) {
    const auto = recorder('auto');
    const spans = recorder('spans', 'spans');
    const metrics = recorder('metrics', 'metrics');
    const both = recorder('both', 'both');
    const reg = new AnalysisRegistry(settings([auto.setup, spans.setup, metrics.setup, both.setup]), {
      onDecision: () => {},
    });
    feed(reg);
    reg.ingest([span('baseline', 31_000)]); // closes looks 1-3
    return { auto: auto.seen, spans: spans.seen, metrics: metrics.seen, both: both.seen };
  }

  it('each metric sees its own source; auto prefers spans when both cohorts have spans', () => {
    const seen = run((reg) => {
      // look 1: spans and metrics in both cohorts
      reg.ingest([span('baseline', 1000), span('baseline', 1500), span('canary', 2000)]);
      reg.ingestBatches([inc('baseline', 3000, 50), inc('canary', 3000, 5)]);
      // look 2: metrics only
      reg.ingestBatches([inc('baseline', 13_000, 60), inc('canary', 13_000, 6)]);
      // look 3: spans of the baseline only, metrics of both
      reg.ingest([span('baseline', 21_000)]);
      reg.ingestBatches([inc('baseline', 23_000, 70), inc('canary', 23_000, 7)]);
    });
    const pairs = (s: { baseline: number; canary: number }[]) => s.map((x) => [x.baseline, x.canary]);
    expect(pairs(seen.auto)).toEqual([
      [2, 1],
      [60, 6],
      [70, 7],
    ]);
    expect(pairs(seen.spans)).toEqual([
      [2, 1],
      [0, 0],
      [1, 0],
    ]);
    expect(pairs(seen.metrics)).toEqual([
      [50, 5],
      [60, 6],
      [70, 7],
    ]);
    expect(pairs(seen.both)).toEqual([
      [52, 6],
      [60, 6],
      [71, 7],
    ]);
    // running totals follow each source
    expect(seen.auto.map((x) => x.totalCanary)).toEqual([1, 7, 14]);
    expect(seen.metrics.map((x) => x.totalCanary)).toEqual([5, 11, 18]);
    expect(seen.spans.map((x) => x.totalCanary)).toEqual([1, 1, 1]);
  });

  it('without metrics, every source except `metrics` sees exactly the spans', () => {
    const seen = run((reg) => reg.ingest([span('baseline', 1000), span('canary', 2000), span('canary', 12_000)]));
    expect(seen.auto).toEqual(seen.spans);
    expect(seen.both).toEqual(seen.spans);
    expect(seen.metrics.every((x) => x.baseline === 0 && x.canary === 0)).toBe(true);
  });
});

describe('selectEvidence (auto)', () => {
  const pair = (b: number, c: number): CohortPair => ({ ...emptyPair(), baseline: batch(b), canary: batch(c) });

  it('falls back to the source with more requests when neither has both cohorts', () => {
    const spans = pair(0, 2);
    const metrics = pair(30, 0);
    expect(selectEvidence('auto', spans, metrics)).toBe(metrics);
    expect(selectEvidence('auto', pair(0, 40), metrics)).not.toBe(metrics);
    expect(selectEvidence('auto', spans, undefined)).toBe(spans);
    expect(selectEvidence('metrics', spans, undefined).canary.requests).toBe(0);
  });
});
