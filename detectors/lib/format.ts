/** Number formatting for one-line verdict summaries (chat, decision records). Pure, O(1). */

/** Drops trailing zeros of a fixed/precision string: "0.00040" -> "0.0004", "1.0" -> "1". */
function trimZeros(s: string): string {
  return s.includes('.') && !s.includes('e') ? s.replace(/\.?0+$/, '') : s;
}

/** A ratio: 3 significant digits in [0.9, 2) (where small differences matter), else 2, rounded from 10: 5.1, 1.04, 1.52, 0.62, 12. */
export function formatRatio(r: number): string {
  if (!Number.isFinite(r)) return r > 0 ? '∞' : 'n/a';
  if (r >= 10) return String(Math.round(r));
  return trimZeros(r.toPrecision(r >= 0.9 && r < 2 ? 3 : 2));
}

/** A tolerance as a relative increase: 0.05 -> "+5%". */
export function formatTolerance(tolerance: number): string {
  return `+${trimZeros((100 * tolerance).toFixed(2))}%`;
}

/** A p-value for a summary: "p=0.046" (2 significant digits), "p<0.0001" below that. */
export function formatP(p: number): string {
  if (p < 1e-4) return 'p<0.0001';
  return `p=${trimZeros(p.toPrecision(2))}`;
}

/** A confidence level in percent from its miss probability: 0.05 -> "95%", 0.025 -> "97.5%". */
export function formatConfidence(miss: number): string {
  return `${trimZeros((100 * (1 - miss)).toFixed(2))}%`;
}

/** "after 1 look" / "after 6 looks". */
export function formatLooks(n: number): string {
  return `after ${n} ${n === 1 ? 'look' : 'looks'}`;
}
