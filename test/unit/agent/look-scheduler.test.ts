import { describe, expect, it } from 'vitest';
import { LOOK_SLICE_MS, LookScheduler } from '../../../src/agent/look-scheduler.js';
import { silentLogger } from '../../../src/logger.js';

/** A registry stand-in whose looks each take `costMs` of busy time. */
function registry(pending: number, costMs: number, onRun?: () => void) {
  const r = {
    pendingLooks: pending,
    runs: 0,
    runPendingLooks(max = Number.POSITIVE_INFINITY) {
      r.runs++;
      onRun?.();
      const n = Math.min(max, r.pendingLooks);
      const until = performance.now() + n * costMs;
      while (performance.now() < until);
      r.pendingLooks -= n;
    },
  };
  return r;
}

const turn = () => new Promise((r) => setImmediate(r));

describe('LookScheduler', () => {
  it('runs nothing until the event loop turns, then every pending look, in slices that let requests in between', async () => {
    const r = registry(40, 0.5); // 20 ms of looks: more than one slice
    const s = new LookScheduler(r, silentLogger());
    s.schedule();
    s.schedule(); // at most one slice is scheduled at a time
    expect(r.runs).toBe(0);
    await turn();
    expect(r.pendingLooks).toBeGreaterThan(0); // the first slice stopped after about LOOK_SLICE_MS
    expect(r.pendingLooks).toBeLessThan(40);
    for (let i = 0; i < 100 && r.pendingLooks > 0; i++) await turn();
    expect(r.pendingLooks).toBe(0);
    expect(LOOK_SLICE_MS).toBeLessThan(20);
  });

  it('schedules nothing when no look is pending', async () => {
    const r = registry(0, 0);
    new LookScheduler(r, silentLogger()).schedule();
    await turn();
    expect(r.runs).toBe(0);
  });

  it('keeps running looks after a look listener throws', async () => {
    let thrown = false;
    const r = registry(3, 0, () => {
      if (!thrown) {
        thrown = true;
        throw new Error('listener');
      }
    });
    new LookScheduler(r, silentLogger()).schedule();
    for (let i = 0; i < 5; i++) await turn();
    expect(r.pendingLooks).toBe(0);
  });
});
