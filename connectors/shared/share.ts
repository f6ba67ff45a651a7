import { VigilError } from '../../src/errors.js';

/**
 * The canary's share of traffic (or of flag evaluations) in percent, as `PlanConnector.setCanaryShare`
 * receives it: finite, within [0, 100], fractions allowed (2.5). Anything else is a caller's bug, so it fails
 * permanently with the vendor's name.
 */
export function checkShare(vendor: string, percent: number): number {
  if (typeof percent !== 'number' || !Number.isFinite(percent) || percent < 0 || percent > 100) {
    throw new VigilError(
      'VIGIL_ERR_CONNECTOR_FAILED',
      [`${vendor}: a canary share must be a number of percent from 0 to 100, got ${String(percent)}`],
      { details: { vendor }, retryable: false },
    );
  }
  return percent;
}

/** "25%", "2.5%", "0.01%": a share as people write it (no float noise). */
export function formatShare(percent: number): string {
  return `${Number(percent.toFixed(6))}%`;
}

/** The detail every `setCanaryShare` starts with: "canary share 25% (was 5%)". */
export function shareDetail(percent: number, was: number | undefined): string {
  return `canary share ${formatShare(percent)} (was ${was === undefined ? 'unknown' : formatShare(was)})`;
}

/** " (2.5% rounded to <to>)" when the share set is not the one asked for, else "": the tail of a share's detail. */
export function roundedNote(asked: number, set: number, to: string): string {
  return asked === set ? '' : ` (${formatShare(asked)} rounded to ${to})`;
}

/** Integer weights that realise a share: canary + baseline = total. */
export interface ShareWeights {
  canary: number;
  baseline: number;
  /** The share these weights give, which differs from the asked one only when `maxTotal` forced rounding. */
  share: number;
}

/**
 * Integer weights for a share, the smallest exact ones of the form canary = p·k, baseline = (100 − p)·k with
 * k = 1, 2, 3, … (so 25% → 25/75, 2.5% → 5/195, 0.1% → 1/999), as long as canary + baseline ≤ `maxTotal`
 * (HAProxy's weights end at 256). When no exact pair fits, the canary's weight is rounded on a total of
 * `maxTotal` and `share` says what it amounts to.
 */
export function shareWeights(percent: number, maxTotal: number): ShareWeights {
  for (let k = 1; 100 * k <= maxTotal; k++) {
    const canary = percent * k;
    const rounded = Math.round(canary);
    if (Math.abs(canary - rounded) < 1e-9) return { canary: rounded, baseline: 100 * k - rounded, share: percent };
  }
  const canary = Math.round((percent * maxTotal) / 100);
  return { canary, baseline: maxTotal - canary, share: (canary * 100) / maxTotal };
}

/** The share a pair of weights gives (undefined when both are 0: nothing is served). */
export function shareOf(canary: number, baseline: number): number | undefined {
  return canary + baseline === 0 ? undefined : (canary * 100) / (canary + baseline);
}
