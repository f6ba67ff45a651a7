import { VigilError } from '../../src/errors.js';

/**
 * Weighted Bonferroni split of a family-wise level across metrics: alpha_i = alpha * w_i / sum(w).
 * Valid under any dependence between the metrics and under continuous monitoring (a union bound over the
 * per-metric Ville inequalities), so sum(alpha_i) = alpha bounds the chance that ANY healthy metric alarms.
 * Equal weights give alpha/m each (STATISTICS.md reference section I: m = 3, alpha 0.05 -> 0.01667, i.e.
 * an e-value threshold 1/alpha_i = 60). A weight of 0 gives alpha_i = 0 (that metric can never alarm).
 * Throws VIGIL_ERR_DETECTOR_OPTIONS for alpha outside (0, 1), an empty list, or negative / non-finite /
 * all-zero weights. Complexity O(m).
 *
 * @example bonferroni(0.05, [1, 1]) // [0.025, 0.025]
 */
export function bonferroni(alpha: number, weights: number[]): number[] {
  if (!(Number.isFinite(alpha) && alpha > 0 && alpha < 1)) {
    throw new VigilError('VIGIL_ERR_DETECTOR_OPTIONS', [`alpha must be in (0, 1), got ${alpha}`], {
      details: { option: 'alpha' },
    });
  }
  if (weights.length === 0) {
    throw new VigilError('VIGIL_ERR_DETECTOR_OPTIONS', ['alpha weights: at least one metric is needed'], {
      details: { option: 'weights' },
    });
  }
  let total = 0;
  for (const w of weights) {
    if (!(Number.isFinite(w) && w >= 0)) {
      throw new VigilError('VIGIL_ERR_DETECTOR_OPTIONS', [`alpha weights must be finite and >= 0, got ${w}`], {
        details: { option: 'weights' },
      });
    }
    total += w;
  }
  if (total <= 0) {
    throw new VigilError('VIGIL_ERR_DETECTOR_OPTIONS', ['alpha weights must not all be 0'], {
      details: { option: 'weights' },
    });
  }
  return weights.map((w) => (alpha * w) / total);
}
