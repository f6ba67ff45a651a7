/**
 * Runs the looks the analysis registry has closed, in slices of at most LOOK_SLICE_MS between two turns of
 * the event loop (see analysis/look-runner.ts): a fleet's analyses all close their looks just after each
 * interval boundary, and running them inside the request that closed them stalled every client for the
 * whole burst. Requests get in between two slices.
 */
import type { Logger } from 'pino';
import type { AnalysisRegistry } from '../analysis/analysis-registry.js';

/** Longest stretch of look evaluation between two turns of the event loop (requests get in between). */
export const LOOK_SLICE_MS = 4;
/** Looks run between two clock reads in a slice (one look costs ~0.1-0.5 ms with the default metrics). */
const LOOKS_PER_CHECK = 4;

export class LookScheduler {
  private scheduled = false;

  constructor(
    private readonly registry: Pick<AnalysisRegistry, 'pendingLooks' | 'runPendingLooks'>,
    private readonly logger: Logger,
  ) {}

  /** Schedules a slice on the next turn of the event loop when looks are pending (at most one at a time). */
  schedule(): void {
    if (this.scheduled || this.registry.pendingLooks === 0) return;
    this.scheduled = true;
    setImmediate(() => this.runSlice());
  }

  private runSlice(): void {
    this.scheduled = false;
    const until = performance.now() + LOOK_SLICE_MS;
    try {
      do this.registry.runPendingLooks(LOOKS_PER_CHECK);
      while (this.registry.pendingLooks > 0 && performance.now() < until);
    } catch (err) {
      // a look listener threw (detector errors are verdicts, not exceptions): log it, keep running looks
      this.logger.error({ err }, 'a look listener failed');
    }
    this.schedule();
  }
}
