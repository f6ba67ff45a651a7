import type { SequentialEvaluation } from './detector-kit.js';
import { finiteOrUndefined } from './detector-kit.js';
import type { MixtureGrid, Stratum } from './discrete-mixture.js';
import {
  lookLogLikelihoodRatio,
  mantelHaenszelRatio,
  mixtureBounds,
  mixtureGrid,
  stratifiedMixtureLogM,
} from './discrete-mixture.js';
import { logSumExp } from './log-sum-exp.js';
import type { BetLedger, BinomialStratum } from './robust-looks.js';
import {
  BET_SCALES,
  addLook,
  binomialLookBets,
  emptyLedger,
  ledgerBounds,
  ledgerLogM,
  nullGrid,
} from './robust-looks.js';

/**
 * The two-Poisson rate test shared by `error-rate-sequential` (failed requests per request) and `ratio-sequential`
 * (business events per exposure): H0 "the canary's rate is at most r0 x the baseline's", contrasted WITHIN each look
 * by conditioning on the look's event total (STATISTICS.md, "Error rate"). A look gives strata (rho, m, x): the
 * canary's share of exposures, the events of both cohorts, the canary's events; given m, x is Binomial(m, theta(r)),
 * theta(r) = rho r / (rho r + 1 - rho), whether events are a subset of the exposures (failures) or not (a rate).
 *
 * Two ways to combine looks (`combine`):
 *  - `independent`: the discrete mixture of conditional-binomial likelihood ratios (lib/discrete-mixture.ts), one
 *    stratum per look, looks with an identical rho merged; bounds by inverting the mixture;
 *  - `robust`: one bounded bet per look over its strata (lib/robust-looks.ts); bounds on the grid of null ratios;
 *    estimate the Mantel-Haenszel ratio sum x (1 - rho) / sum (m - x) rho over all strata.
 * The state is the caller's (plain JSON, fields `llr`, `strata`, `ledger`, `mh`), so a detector keeps its state
 * shape. Complexity: as the two methods (O(K) per look for the test; the bounds O(K x strata x ~22) / O(grid x
 * strata x quadrature)).
 */

export interface RateTestOptions {
  combine: 'robust' | 'independent';
  /** K, the number of grid points of the independent mixture. */
  grid: number;
  /** Scale of the half-normal prior on ln(r / r0) of the independent mixture. */
  priorScale: number;
}

/** What the test keeps between looks (a part of the detector's state). */
export interface RateCore {
  /** `independent`: cumulative LLR of each grid alternative r0 g_k against r0 (`robust`: empty). */
  llr: number[];
  /** `independent`: per-look strata with events (identical rho merged). `robust`: empty. */
  strata: Stratum[];
  /** `robust`: the bets on the grid of null ratios. */
  ledger?: BetLedger;
  /** `robust`: Mantel-Haenszel sums sum x (1 - rho), sum (m - x) rho. */
  mh?: { num: number; den: number };
}

export interface RateTest {
  /** The core before the first look. */
  init(): RateCore;
  /**
   * Adds one look's strata (each with rho in (0, 1) and m > 0; `independent` expects one, the whole look) and
   * returns the new core (the input is not changed).
   */
  add(core: RateCore, strata: readonly BinomialStratum[]): RateCore;
  /** The test's two e-values at r0 and the estimate / bounds (finite or undefined; lower may be 0). */
  evaluate(core: RateCore, alpha: number): SequentialEvaluation;
}

function addStratum(strata: Stratum[], s: Stratum): Stratum[] {
  const i = strata.findIndex((t) => t.rho === s.rho);
  if (i < 0) return [...strata, s];
  const out = strata.slice();
  const t = strata[i] as Stratum;
  out[i] = { rho: t.rho, failures: t.failures + s.failures, canaryFailures: t.canaryFailures + s.canaryFailures };
  return out;
}

/** The discrete mixture's evaluation: its two e-values; estimate (finite), lower and upper once a look had events. */
function mixtureEvaluation(core: RateCore, grid: MixtureGrid, r0: number, alpha: number): SequentialEvaluation {
  const logM = logSumExp(grid.logW.map((w, k) => w + (core.llr[k] as number)));
  if (core.strata.length === 0) return { logM, passEvidence: 0 };
  const estimate = mantelHaenszelRatio(core.strata);
  const { lower, upper } = mixtureBounds(core.strata, grid, alpha, estimate);
  return {
    logM,
    passEvidence: stratifiedMixtureLogM(core.strata, grid, r0, 'lower-alternatives'),
    estimate: finiteOrUndefined(estimate),
    lower,
    upper: finiteOrUndefined(upper),
  };
}

function independentTest(opts: RateTestOptions, r0: number): RateTest {
  const grid = mixtureGrid(opts.grid, opts.priorScale);
  const alternatives = grid.logG.map((lg) => r0 * Math.exp(lg));
  return {
    init: () => ({ llr: alternatives.map(() => 0), strata: [] }),
    add(core, strata) {
      let { llr, strata: kept } = core;
      for (const s of strata) {
        llr = llr.map(
          (v, k) => v + lookLogLikelihoodRatio(s.rho, s.failures, s.canaryFailures, alternatives[k] as number, r0),
        );
        kept = addStratum(kept, { rho: s.rho, failures: s.failures, canaryFailures: s.canaryFailures });
      }
      return { ...core, llr, strata: kept };
    },
    evaluate: (core, alpha) => mixtureEvaluation(core, grid, r0, alpha),
  };
}

function robustTest(r0: number): RateTest {
  const grid = nullGrid(r0);
  return {
    init: () => ({ llr: [], strata: [], ledger: emptyLedger(grid), mh: { num: 0, den: 0 } }),
    add(core, strata) {
      const mh = { ...(core.mh ?? { num: 0, den: 0 }) };
      for (const s of strata) {
        mh.num += s.canaryFailures * (1 - s.rho);
        mh.den += (s.failures - s.canaryFailures) * s.rho;
      }
      const ledger =
        strata.length === 0
          ? (core.ledger ?? emptyLedger(grid))
          : addLook(core.ledger ?? emptyLedger(grid), grid, (logR, o) => binomialLookBets(strata, logR, BET_SCALES, o));
      return { ...core, ledger, mh };
    },
    evaluate(core, alpha) {
      const ledger = core.ledger ?? emptyLedger(grid);
      const bounds = ledgerBounds(ledger, grid, alpha);
      const mh = core.mh ?? { num: 0, den: 0 };
      return {
        logM: ledgerLogM(ledger.worse, grid.atR0),
        passEvidence: ledgerLogM(ledger.better, grid.atR0),
        estimate: finiteOrUndefined(mh.den > 0 ? mh.num / mh.den : undefined),
        lower: bounds.lower,
        upper: bounds.upper,
      };
    },
  };
}

/** The rate test of H0: canary rate <= r0 x baseline rate, combined as `opts.combine` says. */
export function rateTest(opts: RateTestOptions, r0: number): RateTest {
  return opts.combine === 'robust' ? robustTest(r0) : independentTest(opts, r0);
}
