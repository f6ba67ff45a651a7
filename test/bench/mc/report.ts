import type { MethodSpec } from './methods.js';
import { ALPHA } from './methods.js';
import type { Scenario } from './scenarios.js';

/**
 * Aggregation of replicate outcomes into the benchmark's figures, the markdown tables and the goal checks.
 * A cell is a false-alarm rate (with its 95% Wilson interval) when the method's own null holds in the
 * scenario, else the detection figures: power by the horizon and the median / p95 looks to detect, counting
 * runs that never alarmed as "not within the horizon" (so a median above the horizon prints as ">100").
 */

export interface Cell {
  method: string;
  scenario: string;
  /** The method's null hypothesis holds in this scenario. */
  isNull: boolean;
  runs: number;
  alarms: number;
  /** alarms / runs: false-alarm rate (null) or power by the horizon (alternative). */
  rate: number;
  wilsonLow: number;
  wilsonHigh: number;
  /** Looks to detect (alternative only; null when not reached within the horizon). */
  medianLooks: number | null;
  p95Looks: number | null;
  meanLooksDetected: number | null;
}

const Z = 1.959963984540054;

export function wilson(k: number, n: number): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const z2 = Z * Z;
  const centre = p + z2 / (2 * n);
  const half = Z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  const d = 1 + z2 / n;
  return [k === 0 ? 0 : Math.max(0, (centre - half) / d), k === n ? 1 : Math.min(1, (centre + half) / d)];
}

/** The q-quantile (nearest rank) of detection looks, undetected runs counting as +Infinity. */
function quantileLooks(sorted: readonly number[], runs: number, q: number): number | null {
  const rank = Math.max(1, Math.ceil(q * runs));
  return rank <= sorted.length ? (sorted[rank - 1] as number) : null;
}

export function makeCell(method: MethodSpec, scenario: Scenario, looks: readonly (number | null)[]): Cell {
  const detected = looks.filter((l): l is number => l !== null).sort((a, b) => a - b);
  const runs = looks.length;
  const [lo, hi] = wilson(detected.length, runs);
  const isNull = method.isNull(scenario.truth);
  return {
    method: method.id,
    scenario: scenario.id,
    isNull,
    runs,
    alarms: detected.length,
    rate: runs === 0 ? 0 : detected.length / runs,
    wilsonLow: lo,
    wilsonHigh: hi,
    medianLooks: isNull ? null : quantileLooks(detected, runs, 0.5),
    p95Looks: isNull ? null : quantileLooks(detected, runs, 0.95),
    meanLooksDetected: detected.length === 0 ? null : detected.reduce((a, b) => a + b, 0) / detected.length,
  };
}

const f3 = (x: number): string => x.toFixed(3);
const looksText = (x: number | null, horizon: number): string => (x === null ? `>${horizon}` : String(x));

export function cellText(c: Cell, horizon: number): string {
  if (c.isNull) return `${c.alarms === 0 ? '0' : f3(c.rate)} (${f3(c.wilsonLow)}–${f3(c.wilsonHigh)})`;
  return `${looksText(c.medianLooks, horizon)} / ${looksText(c.p95Looks, horizon)} · ${Math.round(100 * c.rate)}%`;
}

/** One markdown table: rows = scenarios, columns = the given methods. */
export function markdownMatrix(
  title: string,
  scenarios: readonly Scenario[],
  methods: readonly MethodSpec[],
  cells: ReadonlyMap<string, Cell>,
): string {
  const label = (m: MethodSpec): string => (m.unit === 'request' ? `${m.label} [per request]` : m.label);
  const head = `| scenario | spans/cohort/look | ${methods.map(label).join(' | ')} |`;
  const sep = `|---|---|${methods.map(() => '---|').join('')}`;
  const rows = scenarios.map((s) => {
    const vals = methods.map((m) => {
      const c = cells.get(`${s.id}|${m.id}`);
      return c === undefined ? '–' : cellText(c, s.looks);
    });
    return `| ${s.title} | ${s.traffic} | ${vals.join(' | ')} |`;
  });
  return [`### ${title}`, '', head, sep, ...rows].join('\n');
}

export interface Goal {
  goal: string;
  pass: boolean;
  figures: string;
}

function get(cells: ReadonlyMap<string, Cell>, scenario: string, method: string): Cell | undefined {
  return cells.get(`${scenario}|${method}`);
}

/** Power by the horizon a regression row needs to count as caught (issue 13's "must be detected"). */
export const CAUGHT_POWER = 0.95;

/**
 * The issues' goals, checked on this run's cells. Missing cells (scenario not run) make a goal "not run".
 * Issue 3's goals cover its own scenarios; issue 13's the real-traffic rows and their delay cost.
 */
export function checkGoals(cells: ReadonlyMap<string, Cell>, methods: readonly MethodSpec[]): Goal[] {
  const goals: Goal[] = [];
  const all = [...cells.values()];

  /**
   * The promise, as issue 13 states it: what rolls back (the default metrics at alpha, `metric: decision`) stays
   * within alpha in every healthy row, with the 95% upper bound within alpha + 0.01; each detector alone at alpha
   * stays within alpha (point estimate: an e-process that spends its alpha sits near it, and at the decision
   * level each metric gets alpha / 3). Its figures show every cell's worst upper bound.
   */
  const falseAlarmGoal = (goal: string, select: (m: MethodSpec) => boolean, bound: 'upper' | 'point'): void => {
    const ids = new Set(methods.filter((m) => m.vigil && select(m)).map((m) => m.id));
    const nullCells = all.filter((c) => c.isNull && ids.has(c.method));
    const worst = [...nullCells].sort((a, b) => b.wilsonHigh - a.wilsonHigh)[0];
    const over = nullCells.filter((c) => (bound === 'upper' ? c.wilsonHigh > ALPHA + 0.01 : c.rate > ALPHA));
    goals.push({
      goal: `${goal} (${bound === 'upper' ? `upper 95% bound <= ${f3(ALPHA + 0.01)}` : `rate <= ${f3(ALPHA)}`})`,
      pass: nullCells.length > 0 && over.length === 0,
      figures:
        worst === undefined
          ? 'no null cells'
          : `${nullCells.length} cells; highest rate ${f3(Math.max(...nullCells.map((c) => c.rate)))}; worst upper bound ${f3(worst.wilsonHigh)} (${worst.method} in ${worst.scenario})${over.length > 0 ? `; over: ${over.map((c) => `${c.method}@${c.scenario} ${f3(c.rate)} (≤${f3(c.wilsonHigh)})`).join(', ')}` : ''}`,
    });
  };
  falseAlarmGoal(
    'what rolls back (default metrics, alpha 0.05 split three ways): false-alarm rate <= alpha in every healthy row, clean (issue 3) and real traffic (issue 13)',
    (m) => m.metric === 'decision',
    'upper',
  );
  falseAlarmGoal('each Vigil detector alone at alpha 0.05, every healthy row', (m) => m.metric !== 'decision', 'point');

  /** Issue 13: the robust default's median delay is at most `factor` x the method it replaced, on the same runs. */
  const delayGoal = (label: string, scenario: string, method: string, before: string, factor: number): void => {
    const c = get(cells, scenario, method);
    const b = get(cells, scenario, before);
    const ok = c !== undefined && b !== undefined && c.medianLooks !== null && b.medianLooks !== null;
    goals.push({
      goal: `median looks to detect ${label}: ${method} <= ${factor}x ${before}`,
      pass: ok && c.medianLooks! <= factor * b.medianLooks!,
      figures: !ok
        ? 'not run'
        : `median ${looksText(c.medianLooks, 100)} vs ${looksText(b.medianLooks, 100)} (${(c.medianLooks! / b.medianLooks!).toFixed(2)}x), p95 ${looksText(c.p95Looks, 100)} vs ${looksText(b.p95Looks, 100)} (${c.runs} runs)`,
    });
  };
  delayGoal('errors 1.5x', 'errors-1.5x', 'vigil-error-rate', 'today-error-rate', 1.3);
  delayGoal('latency +10% (20 spans/look)', 'latency+10%-lognormal', 'vigil-latency', 'today-latency', 1.3);

  /**
   * Speed at equal or lower false-alarm rate: among the Kayenta variants whose A/A false-alarm rate is at least
   * Vigil's, the one closest to it (the fairest match) must be >= 1.5x slower. Every variant's figures are shown.
   */
  const speedGoal = (
    label: string,
    scenario: string,
    nullScenario: string,
    vigil: string,
    kayentas: readonly string[],
  ): void => {
    const goal = `>= 1.5x faster than the Kayenta-like judge on ${label}, at equal or lower false-alarm rate`;
    const v = get(cells, scenario, vigil);
    const vn = get(cells, nullScenario, vigil);
    const variants = kayentas
      .map((id) => ({ id, alt: get(cells, scenario, id), nul: get(cells, nullScenario, id) }))
      .filter((k): k is { id: string; alt: Cell; nul: Cell } => k.alt !== undefined && k.nul !== undefined);
    if (v === undefined || vn === undefined || variants.length === 0) {
      goals.push({ goal, pass: false, figures: 'not run' });
      return;
    }
    const vm = v.medianLooks ?? Number.POSITIVE_INFINITY;
    const speed = (k: Cell): number => (k.medianLooks ?? Number.POSITIVE_INFINITY) / vm;
    const eligible = variants.filter((k) => k.nul.rate >= vn.rate).sort((a, b) => a.nul.rate - b.nul.rate);
    const match = eligible[0];
    const text = variants
      .map(
        (k) =>
          `${k.id}: median ${looksText(k.alt.medianLooks, 100)} (${Number.isFinite(speed(k.alt)) ? speed(k.alt).toFixed(2) : 'n/a'}x), A/A ${f3(k.nul.rate)}`,
      )
      .join('; ');
    goals.push({
      goal,
      pass: match !== undefined && speed(match.alt) >= 1.5,
      figures: `Vigil median ${looksText(v.medianLooks, 100)}, A/A (${nullScenario}) false alarms ${f3(vn.rate)}; ${text}; compared with ${match === undefined ? 'none (every variant false-alarms less than Vigil)' : match.id}`,
    });
  };
  speedGoal('errors 1.5x', 'errors-1.5x', 'aa', 'vigil-error-rate', ['kayenta-errors', 'kayenta-errors-matched']);
  speedGoal('latency +10% (20 spans/look)', 'latency+10%-lognormal', 'low-traffic', 'vigil-latency', [
    'kayenta-latency',
    'kayenta-latency-matched',
  ]);

  const tail = get(cells, 'tail-only', 'vigil-latency-quantile');
  goals.push({
    goal: 'tail-only regression (200 spans/look) caught by latency-quantile in most runs within the horizon',
    pass: tail !== undefined && tail.rate > 0.5,
    figures:
      tail === undefined
        ? 'not run'
        : `power ${f3(tail.rate)}, median ${looksText(tail.medianLooks, 100)}, p95 ${looksText(tail.p95Looks, 100)} (${tail.runs} runs)`,
  });

  const fz = get(cells, 'aa', 'fixed-z');
  const fw = get(cells, 'low-traffic', 'fixed-welch');
  const inflated = (c: Cell | undefined): boolean => c !== undefined && c.rate >= 0.2 && c.rate <= 0.45;
  goals.push({
    goal: 'the fixed-horizon rows show the inflation (about 0.3 over 100 looks)',
    pass: inflated(fz) && inflated(fw),
    figures: `z on errors (A/A) ${fz === undefined ? 'not run' : f3(fz.rate)}; Welch on latency (A/A, 20/look) ${fw === undefined ? 'not run' : f3(fw.rate)}`,
  });

  // issue 13: real traffic (its false-alarm goal is the first one above).
  /** The row is caught (power >= CAUGHT_POWER) by every selected Vigil method whose null it breaks. */
  const caughtGoal = (goal: string, scenario: string, select: (m: MethodSpec) => boolean): void => {
    const cs = methods
      .filter((m) => m.vigil && select(m))
      .map((m) => get(cells, scenario, m.id))
      .filter((c): c is Cell => c !== undefined && !c.isNull);
    goals.push({
      goal: `${goal} (power by the horizon >= ${CAUGHT_POWER})`,
      pass: cs.length > 0 && cs.every((c) => c.rate >= CAUGHT_POWER),
      figures:
        cs.length === 0
          ? 'not run'
          : cs
              .map(
                (c) =>
                  `${c.method}: power ${f3(c.rate)}, median ${looksText(c.medianLooks, 100)}, p95 ${looksText(c.p95Looks, 100)} (${c.runs} runs)`,
              )
              .join('; '),
    });
  };
  caughtGoal(
    'canary-bursts (the canary alone bursts 10x errors in 20% of looks) caught by every Vigil method whose null it breaks',
    'canary-bursts',
    () => true,
  );
  caughtGoal('errors 3x still caught at the decision level', 'errors-3x', (m) => m.metric === 'decision');
  caughtGoal(
    'latency +20% (20 spans/look) still caught at the decision level',
    'latency+20%-lognormal',
    (m) => m.metric === 'decision',
  );
  indicatorGoals(cells, goals);
  return goals;
}

/**
 * Issue 16: the regression rows' detection figures, with floors that guard against a loss of power (not targets:
 * these rows are hard by design). Conversion -10% at 2% base and 200 starts per look is ~4 conversions per cohort
 * per look (a one-shot z-test on all 100 looks has ~25% power; measured ~0.2 at 1000 runs). Memory +20% with 3 canary
 * instances whose persistent offsets (+-15%) are as large as the effect's uncertainty: measured ~0.38. The A/A rows
 * are in the false-alarm goal above (every Vigil detector alone).
 */
function indicatorGoals(cells: ReadonlyMap<string, Cell>, goals: Goal[]): void {
  const figures = (c: Cell): string =>
    `power ${f3(c.rate)}, median ${looksText(c.medianLooks, 100)}, p95 ${looksText(c.p95Looks, 100)} (${c.runs} runs)`;
  const conv = ['vigil-ratio', 'vigil-ratio-independent'].map((m) => get(cells, 'conversion-10%', m));
  goals.push({
    goal: 'conversion -10% (2% base, 200 starts per look): power by the horizon >= 0.15 for both combinations',
    pass: conv.every((c) => c !== undefined && c.rate >= 0.15),
    figures: conv.every((c) => c !== undefined) ? conv.map((c) => `${c.method}: ${figures(c)}`).join('; ') : 'not run',
  });
  const mem = get(cells, 'memory+20%', 'vigil-gauge');
  goals.push({
    goal: 'memory +20% with 3 vs 10 instances (+-15% persistent offsets): gauge-sequential power by the horizon >= 0.3',
    pass: mem !== undefined && mem.rate >= 0.3,
    figures: mem === undefined ? 'not run' : figures(mem),
  });
  const leak = get(cells, 'memory-leak', 'vigil-gauge');
  goals.push({
    goal: 'memory leak +5% per look with 3 vs 10 instances: gauge-sequential catches it in 95% of runs within 20 looks',
    pass: leak !== undefined && leak.rate >= 0.95 && leak.p95Looks !== null && leak.p95Looks <= 20,
    figures: leak === undefined ? 'not run' : figures(leak),
  });
}

export function goalsText(goals: readonly Goal[]): string {
  return goals.map((g) => `${g.pass ? 'PASS' : 'FAIL'}  ${g.goal}: ${g.figures}`).join('\n');
}
