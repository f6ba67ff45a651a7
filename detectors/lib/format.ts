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

/**
 * A verdict's bounds for a summary, WITHOUT a confidence level: each side is one-sided at the metric's alpha_i, and
 * whoever presents a decision states the level once for all its metrics (the family-wise level of the alpha split,
 * connectors/shared/explain.ts). `side` is what the phase claims: 'lower' for fail ("lower bound 1.45x"), 'upper'
 * for pass ("upper bound 1.08x"), 'both' otherwise ("bounds 0.91x to 1.2x"). A missing or infinite side reads
 * "unbounded above" / "unbounded below", never "n/a" or "∞". `fmt` formats one bound (default: a ratio, "1.45x").
 */
export function formatBounds(
  lower: number | undefined,
  upper: number | undefined,
  side: 'lower' | 'upper' | 'both',
  fmt: (x: number) => string = (x) => `${formatRatio(x)}x`,
): string {
  const lo = lower !== undefined && Number.isFinite(lower) ? fmt(lower) : undefined;
  const hi = upper !== undefined && Number.isFinite(upper) ? fmt(upper) : undefined;
  if (side === 'lower') return lo === undefined ? 'unbounded below' : `lower bound ${lo}`;
  if (side === 'upper') return hi === undefined ? 'unbounded above' : `upper bound ${hi}`;
  if (lo !== undefined && hi !== undefined) return `bounds ${lo} to ${hi}`;
  if (lo !== undefined) return `lower bound ${lo}, unbounded above`;
  if (hi !== undefined) return `upper bound ${hi}, unbounded below`;
  return 'unbounded below and above';
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

/** A confidence level in percent from its miss probability: 0.05 -> "95%", 0.025 -> "97.5%". Summaries do not print
 *  it (see formatBounds); kept for reports and benchmarks. */
export function formatConfidence(miss: number): string {
  return `${trimZeros((100 * (1 - miss)).toFixed(2))}%`;
}

/** "after 1 look" / "after 6 looks". */
export function formatLooks(n: number): string {
  return `after ${n} ${n === 1 ? 'look' : 'looks'}`;
}

/**
 * A summary during burn-in, in one wording for every detector: what the burn-in has seen so far, then the p-value,
 * shown but not used yet: "burn-in: 12/25 canary and 30/25 baseline requests after 3 looks; p=0.03 shown, no verdict
 * before both reach 25". `p` is the p-value as the detector words it ("p=0.03", or Kayenta's fixed-horizon p);
 * `until` is when the burn-in ends ("both reach 25"). The detector may append its own details after it.
 */
export function formatBurnIn(progress: string, looks: number, p: string, until: string): string {
  return `burn-in: ${progress} ${formatLooks(looks)}; ${p} shown, no verdict before ${until}`;
}

/**
 * `formatBurnIn` for a burn-in of `need` samples in EACH cohort: "burn-in: 12/25 canary and 30/25 baseline
 * requests after 3 looks; p=0.03 shown, no verdict before both reach 25". `unit`: "requests", "spans".
 */
export function formatCohortBurnIn(
  samples: { canary: number; baseline: number },
  need: number,
  unit: string,
  looks: number,
  p: string,
): string {
  return formatBurnIn(
    `${samples.canary}/${need} canary and ${samples.baseline}/${need} baseline ${unit}`,
    looks,
    p,
    `both reach ${need}`,
  );
}
