/**
 * The drill schedule's pure parts (src/drill/drills.ts): which services are due, and how often to check.
 */
import { describe, expect, it } from 'vitest';
import { checkEveryMs, dueDrills } from '../../../src/drill/drills.js';

const DAY = 86_400_000;

describe('the drill schedule', () => {
  it('a service is due when its last drill (by hand or scheduled) is a period ago or more, or it never had one', () => {
    const schedule = new Map([
      ['checkout', 7 * DAY],
      ['search', DAY],
      ['cart', DAY],
    ]);
    const now = 100 * DAY;
    const last = new Map([
      ['checkout', now - 3 * DAY], // 3 days ago: not due for a week
      ['search', now - DAY], // exactly a period ago: due
      ['payments', now - 30 * DAY], // not scheduled: never due
    ]);
    expect(dueDrills(schedule, last, now)).toEqual(['search', 'cart']);
    expect(dueDrills(schedule, last, now + 4 * DAY)).toEqual(['checkout', 'search', 'cart']);
    expect(dueDrills(new Map(), last, now)).toEqual([]);
  });

  it('checks at a tenth of the shortest period, between 1 s and 1 min', () => {
    expect(checkEveryMs(new Map([['a', 10_000]]))).toBe(1_000);
    expect(checkEveryMs(new Map([['a', 5 * 60_000]]))).toBe(30_000);
    expect(
      checkEveryMs(
        new Map([
          ['a', 7 * DAY],
          ['b', 10 * 60_000],
        ]),
      ),
    ).toBe(60_000);
  });
});
