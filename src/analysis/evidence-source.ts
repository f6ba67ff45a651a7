import type { CohortBatch, CohortPair } from '../contracts/index.js';
import { emptyPair, mergePair } from '../evidence/cohort-batch.js';

/**
 * Which telemetry a metric's detector looks at (config `analysis.metrics[].source`):
 * - `spans`: request samples from SERVER/CONSUMER spans only;
 * - `metrics`: increments from OTLP request-duration histograms only;
 * - `both`: their sum, for fleets where each instance exports one OR the other (an instance exporting both
 *   would be counted twice);
 * - `auto` (the default): per look, the spans when both cohorts have span requests in that look, else the
 *   metrics when both cohorts have metric requests, else whichever source has more requests (spans on a
 *   tie). Without metrics ingestion this is exactly `spans`, so configs written before metrics support
 *   behave as before; a service that exports only metrics is analysed on its metrics; a service that
 *   exports both is analysed on its spans (no double counting).
 *
 * The per-look choice depends only on request COUNTS, never on errors or latencies, and within a look both
 * cohorts always come from the same source; every detector contrasts the cohorts within each look, so the
 * choice does not bias the comparison.
 */
export type EvidenceSource = 'auto' | 'spans' | 'metrics' | 'both';

export const EVIDENCE_SOURCES: readonly EvidenceSource[] = ['auto', 'spans', 'metrics', 'both'];

const bothCohorts = (p: CohortPair): boolean => p.baseline.requests > 0 && p.canary.requests > 0;
const requests = (p: CohortPair): number => p.baseline.requests + p.canary.requests;

/** The pair a detector with `source` sees in one look. Returns one of its inputs or a new pair; O(1) except `both`. */
export function selectEvidence(source: EvidenceSource, spans: CohortPair, metrics: CohortPair | undefined): CohortPair {
  switch (source) {
    case 'spans':
      return spans;
    case 'metrics':
      return metrics ?? emptyPair();
    case 'both': {
      if (metrics === undefined) return spans;
      const sum = emptyPair();
      mergePair(sum, spans);
      mergePair(sum, metrics);
      return sum;
    }
    default:
      if (metrics === undefined || bothCohorts(spans)) return spans;
      if (bothCohorts(metrics)) return metrics;
      return requests(metrics) > requests(spans) ? metrics : spans;
  }
}

/** The batch of the cohort in a pair map for one look index, created on first use. */
export function batchAt(open: Map<number, CohortPair>, index: number, cohort: 'baseline' | 'canary'): CohortBatch {
  let pair = open.get(index);
  if (!pair) {
    pair = emptyPair();
    open.set(index, pair);
  }
  return pair[cohort];
}
