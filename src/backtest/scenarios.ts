/**
 * Backtest scenarios: the A/A split itself, and synthetic regressions injected into copies of the
 * pseudo-canary. Specs are written `error=2,latency=1.2,tail=2` (a kind may repeat: `error=2,error=5`).
 */
import { VigilError } from '../errors.js';

export type InjectionKind = 'error' | 'latency' | 'tail';

export interface Injection {
  kind: InjectionKind;
  factor: number;
}

export interface Scenario {
  /** Stable identifier, e.g. `aa`, `error=2`. */
  id: string;
  /** Human label, e.g. `error rate x2`. */
  label: string;
  injection?: Injection;
}

export const DEFAULT_INJECT = 'error=2,latency=1.2,tail=2';

/** The share of slowest requests a `tail` injection slows down. */
export const TAIL_SHARE = 0.05;

const KINDS: readonly InjectionKind[] = ['error', 'latency', 'tail'];

function fmt(x: number): string {
  return String(Number(x.toPrecision(4)));
}

export function scenarioLabel(i: Injection | undefined): string {
  if (!i) return 'A/A (no change)';
  if (i.kind === 'error') return `error rate x${fmt(i.factor)}`;
  if (i.kind === 'latency') {
    const pct = Math.round((i.factor - 1) * 100);
    return `latency x${fmt(i.factor)} (${pct >= 0 ? '+' : ''}${pct}%)`;
  }
  return `slowest ${TAIL_SHARE * 100}% x${fmt(i.factor)}`;
}

/**
 * Parses an injection spec. `none` or '' gives no injection.
 * @throws VigilError VIGIL_ERR_CLI_USAGE naming the bad item.
 */
export function parseInjections(spec: string): Injection[] {
  const trimmed = spec.trim();
  if (trimmed === '' || trimmed === 'none') return [];
  const out: Injection[] = [];
  for (const item of trimmed.split(',')) {
    const m = /^\s*([a-z]+)\s*=\s*([0-9]*\.?[0-9]+)\s*$/.exec(item);
    const kind = m?.[1] as InjectionKind | undefined;
    const factor = Number(m?.[2]);
    if (!m || !kind || !KINDS.includes(kind)) {
      throw new VigilError('VIGIL_ERR_CLI_USAGE', [
        `--inject: "${item}" is not kind=factor with kind one of ${KINDS.join(', ')} (e.g. ${DEFAULT_INJECT})`,
      ]);
    }
    if (!(factor > 0) || factor === 1 || !Number.isFinite(factor)) {
      throw new VigilError('VIGIL_ERR_CLI_USAGE', [
        `--inject: ${kind} factor must be a positive number other than 1, got ${m[2]}`,
      ]);
    }
    if (!out.some((o) => o.kind === kind && o.factor === factor)) out.push({ kind, factor });
  }
  return out;
}

export function scenariosFor(injections: readonly Injection[]): Scenario[] {
  return [
    { id: 'aa', label: scenarioLabel(undefined) },
    ...injections.map((i) => ({ id: `${i.kind}=${fmt(i.factor)}`, label: scenarioLabel(i), injection: i })),
  ];
}
