import { describe, expect, it } from 'vitest';
import { createIntake } from '../../../src/agent/intake.js';
import type { LookScheduler } from '../../../src/agent/look-scheduler.js';
import type { AnalysisRegistry } from '../../../src/analysis/analysis-registry.js';
import { parseConfig } from '../../../src/config/load.js';
import type { CohortIncrement, RequestSample } from '../../../src/contracts/index.js';
import { emptyBatch } from '../../../src/evidence/cohort-batch.js';
import { createMetrics } from '../../../src/http/metrics.js';
import { silentLogger } from '../../../src/logger.js';
import { BUILTIN_REGISTRIES } from '../../../src/registries.js';

const sample = (service: string, version: string, cohort: RequestSample['cohort']): RequestSample => ({
  service,
  version,
  cohort,
  endUnixMs: 1_767_225_600_000,
  durationMs: 10,
  error: false,
});

function setup() {
  const loaded = parseConfig('rollouts: [{ service: pay, canaryVersion: "3.1" }]\n', 't.yaml', BUILTIN_REGISTRIES, {});
  const seen: unknown[][] = [];
  let scheduled = 0;
  const registry = {
    ingest: (s: RequestSample[]) => seen.push(s),
    ingestBatches: (i: CohortIncrement[]) => seen.push(i),
    openTraces: 0,
  } as unknown as AnalysisRegistry;
  const looks = { schedule: () => scheduled++ } as unknown as LookScheduler;
  const metrics = createMetrics();
  const intake = createIntake({ config: loaded.config, logger: silentLogger(), metrics, registry, looks });
  return { intake, seen, metrics, scheduled: () => scheduled };
}

async function samplesByCohort(metrics: ReturnType<typeof createMetrics>): Promise<Record<string, number>> {
  const m = await metrics.samples.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.cohort), v.value]));
}

describe('intake', () => {
  it('hands samples to the registry as decoded (never rewrites a cohort), counts them by cohort, schedules looks', async () => {
    const { intake, seen, metrics, scheduled } = setup();
    const samples = [sample('pay', '3.1', 'unknown'), sample('pay', '3.0', 'baseline'), sample('pay', '3.1', 'canary')];
    const copy = structuredClone(samples);
    intake.ingest(samples);
    expect(seen).toEqual([copy]);
    expect(samples).toEqual(copy);
    expect(await samplesByCohort(metrics)).toEqual({ canary: 1, baseline: 1, unknown: 1 });
    const items: CohortIncrement[] = [
      { service: 'pay', version: '3.1', cohort: 'unknown', endUnixMs: 1, batch: { ...emptyBatch(), requests: 5 } },
    ];
    intake.ingestBatches(items);
    expect(items[0]!.cohort).toBe('unknown');
    expect(await samplesByCohort(metrics)).toEqual({ canary: 1, baseline: 1, unknown: 6 });
    expect(scheduled()).toBe(2);
  });

  it('carries the cohort rules of the whole config, rollouts[].canaryVersion included, to the metrics decoder too', () => {
    const { intake } = setup();
    expect(intake.cohortRules.canaryVersionByService).toEqual(new Map([['pay', '3.1']]));
  });
});
