/**
 * Always-valid p-value update (Johari et al., "Always valid inference", 2022): p_t = min(p_{t-1}, 1/M_t),
 * clamped to [0, 1], for an e-process M_t. By Ville's inequality P(exists t: p_t <= alpha) <= alpha under
 * the null, so p_t can be read at any time; it never increases. Start from p_0 = 1. O(1).
 */
export function alwaysValidPValue(previous: number, logM: number): number {
  const p = Math.min(previous, Math.exp(-logM));
  return Math.min(1, Math.max(0, p));
}
