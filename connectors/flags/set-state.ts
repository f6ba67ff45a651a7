import type { ActionContext, ActionResult } from '../../src/contracts/connector.js';
import { abortedError } from '../shared/http.js';
import { withBindings } from '../shared/log.js';

/**
 * The read-then-set cycle every flag connector runs, so that `apply` SETS a state instead of toggling:
 * 1. read the vendor's current state (a read never changes anything);
 * 2. already in the rollback state → `changed: false`, nothing written (a retried job, or a human was faster);
 * 3. dry run → `changed: false`, the detail says exactly which write would happen, nothing written;
 * 4. otherwise write once and report `changed: true`.
 * There is a window between read and write in which someone else may change the flag; the write itself
 * sets (never toggles) the state, so the outcome is the rollback state either way.
 */
export interface StateSetter<S> {
  vendor: string;
  /** Reads the current state; throws a VigilError (vendor 4xx/5xx, not found, unexpected shape). */
  read(ctx: ActionContext): Promise<S>;
  /** Whether the state already is the rollback state. */
  isSet(state: S): boolean;
  /** The current state in words: `feature "checkout" is enabled in "production"`. */
  describe(state: S): string;
  /** The write as an imperative phrase: `disable feature "checkout" in environment "production" (POST <url>)`. */
  describeWrite(state: S): string;
  /** Performs the write; throws a VigilError on failure. */
  write(state: S, ctx: ActionContext): Promise<void>;
  /** Anything an operator should know about the result (e.g. rules that still apply); optional. */
  caveat?(state: S): string | undefined;
}

function withCaveat(detail: string, caveat: string | undefined): string {
  return caveat ? `${detail}; note: ${caveat}` : detail;
}

export async function applySetState<S>(setter: StateSetter<S>, ctx: ActionContext): Promise<ActionResult> {
  if (ctx.signal.aborted) throw abortedError(setter.vendor, ctx.signal);
  const state = await setter.read(ctx);
  const caveat = setter.caveat?.(state);
  if (setter.isSet(state)) {
    const prefix = ctx.dryRun ? 'dry-run: nothing to do, ' : '';
    return { changed: false, detail: withCaveat(`${prefix}already rolled back: ${setter.describe(state)}`, caveat) };
  }
  if (ctx.dryRun) {
    return {
      changed: false,
      detail: withCaveat(`dry-run: would ${setter.describeWrite(state)}; now ${setter.describe(state)}`, caveat),
    };
  }
  if (ctx.signal.aborted) throw abortedError(setter.vendor, ctx.signal);
  await setter.write(state, ctx);
  withBindings(ctx.logger, { decisionId: ctx.target.decisionId }).info(
    { vendor: setter.vendor },
    'flag set to its rollback state',
  );
  return {
    changed: true,
    detail: withCaveat(`applied: ${setter.describeWrite(state)}; before: ${setter.describe(state)}`, caveat),
  };
}
