import { describe, expect, it } from 'vitest';
import { latestWins } from '../../../src/state/latest-wins.js';

/** A write that records what it was given and stays open until released. */
function recorder() {
  const written: number[] = [];
  const release: (() => void)[] = [];
  let running = 0;
  let maxRunning = 0;
  const write = (n: number): Promise<void> => {
    written.push(n);
    running++;
    maxRunning = Math.max(maxRunning, running);
    return new Promise<void>((resolve, reject) => {
      release.push(() => {
        running--;
        if (n < 0) reject(new Error(`write ${n} failed`));
        else resolve();
      });
    });
  };
  const tick = () => new Promise((r) => setImmediate(r));
  return { written, release, write, tick, maxRunning: () => maxRunning };
}

describe('latestWins', () => {
  it('runs one write at a time and, of the data that waited, writes only the latest', async () => {
    const r = recorder();
    const w = latestWins(r.write);
    const settled: number[] = [];
    const submits = [1, 2, 3, 4].map((n) => w.submit(n).then(() => settled.push(n)));
    await r.tick();
    expect(r.written).toEqual([1]);
    r.release.shift()!();
    await r.tick();
    expect(settled).toEqual([1]);
    expect(r.written).toEqual([1, 4]);
    r.release.shift()!();
    await Promise.all(submits);
    expect(settled).toEqual([1, 2, 3, 4]);
    expect(r.maxRunning()).toBe(1);
  });

  it('a failed write rejects the submits it carried, not the earlier or later ones', async () => {
    const r = recorder();
    const w = latestWins(r.write);
    const first = w.submit(1);
    const second = w.submit(2);
    const third = w.submit(-3);
    r.release.shift()!();
    await expect(first).resolves.toBeUndefined();
    await r.tick();
    r.release.shift()!();
    await expect(second).rejects.toThrow('write -3 failed');
    await expect(third).rejects.toThrow('write -3 failed');
    const fourth = w.submit(4);
    r.release.shift()!();
    await expect(fourth).resolves.toBeUndefined();
    expect(r.written).toEqual([1, -3, 4]);
  });

  it('idle resolves once nothing runs nor waits, even after a failure', async () => {
    const r = recorder();
    const w = latestWins(r.write);
    await w.idle();
    const a = w.submit(-1).catch(() => 'failed');
    const b = w.submit(2);
    let idle = false;
    const done = w.idle().then(() => (idle = true));
    r.release.shift()!();
    await r.tick();
    expect(idle).toBe(false);
    r.release.shift()!();
    await done;
    expect(await a).toBe('failed');
    await expect(b).resolves.toBeUndefined();
  });
});
