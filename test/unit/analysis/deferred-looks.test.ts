import { describe, expect, it } from 'vitest';
import { AnalysisRegistry, type LookEvent } from '../../../src/analysis/analysis-registry.js';
import type { Decision, RequestSample } from '../../../src/contracts/index.js';
import { seededRandom } from '../../../src/demo/traffic-generator.js';
import { settings, stream } from '../../helpers/fleet-stream.js';

/**
 * The agent runs closed looks later, in slices between requests (`deferLooks`); a replay runs them inside
 * `ingest`. Both must give the same looks and decisions, whatever arrives between closing and running.
 */

interface Run {
  looks: unknown[];
  decisions: Decision[];
  list: unknown[];
  counters: Record<string, number>;
}

function run(requests: RequestSample[][], deferred: { seed: number; lazy?: boolean } | undefined): Run {
  const looks: unknown[] = [];
  const decisions: Decision[] = [];
  const onLook = (e: LookEvent) => looks.push(structuredClone(e));
  const reg = new AnalysisRegistry(
    settings(),
    { onDecision: (d) => decisions.push(d), onLook },
    { deferLooks: deferred !== undefined },
  );
  const rnd = seededRandom(deferred?.seed ?? 1);
  for (const [i, r] of requests.entries()) {
    reg.ingest(r.map((s) => ({ ...s })));
    if (deferred?.lazy === true) {
      // a busy agent: looks wait for 150 requests (~25 s of event time: several intervals)
      if (i % 150 === 149) reg.runPendingLooks();
    } else if (deferred) {
      // the agent's slices: sometimes none between two requests, sometimes a few, sometimes all
      const x = rnd();
      if (x < 0.1) reg.runPendingLooks();
      else if (x < 0.6) reg.runPendingLooks(Math.floor(rnd() * 6));
    } else {
      expect(reg.pendingLooks).toBe(0);
    }
  }
  reg.flush();
  expect(reg.pendingLooks).toBe(0);
  const { decidedVersionSamples: _ignored, lateSamples: _late, ...counters } = reg.counters;
  return { looks, decisions, list: reg.list(), counters: counters };
}

describe('deferred looks (the agent) and looks run at closing (replay)', () => {
  const requests = stream(42);
  const sync = run(requests, undefined);

  it('the scenario exercises every outcome', () => {
    const outcomes = new Set(sync.decisions.map((d) => d.outcome));
    expect(outcomes).toEqual(new Set(['rollback', 'promote', 'abandoned']));
    expect(sync.looks.length).toBeGreaterThan(200);
    // svc-6's canary resumed right after the look that found it silent for 40 s closed
    expect(sync.decisions.find((d) => d.analysis === 'svc-6:2.0')?.outcome).toBe('abandoned');
  });

  it.each([{ seed: 1 }, { seed: 2 }, { seed: 3 }, { seed: 4 }, { seed: 0, lazy: true }])(
    'gives the same looks, decisions and analyses whatever the slicing (%o)',
    (slicing) => {
      const deferred = run(requests, slicing);
      expect(deferred.decisions).toEqual(sync.decisions);
      expect(deferred.looks).toEqual(sync.looks);
      expect(deferred.list).toEqual(sync.list);
      expect(deferred.counters).toEqual(sync.counters);
    },
  );

  it('runs at most the number of looks asked, oldest first, and nothing while none is asked', () => {
    const seen: string[] = [];
    const reg = new AnalysisRegistry(
      settings(),
      { onDecision: () => {}, onLook: (e) => seen.push(`${e.analysis.id}#${e.analysis.look}`) },
      { deferLooks: true },
    );
    for (const r of requests.slice(0, 200)) reg.ingest(r);
    expect(seen).toEqual([]);
    const pending = reg.pendingLooks;
    expect(pending).toBeGreaterThan(10);
    reg.runPendingLooks(5);
    expect(seen).toHaveLength(5);
    expect(reg.pendingLooks).toBe(pending - 5);
    reg.runPendingLooks();
    expect(reg.pendingLooks).toBe(0);
    const firstLooks = sync.looks
      .slice(0, seen.length)
      .map((e) => `${(e as LookEvent).analysis.id}#${(e as LookEvent).analysis.look}`);
    expect(seen).toEqual(firstLooks);
  });

  it('a look listener that throws loses no decision, and the queue goes on at the next run', () => {
    const decisions: Decision[] = [];
    let thrown = 0;
    const onLook = (e: LookEvent) => {
      if (thrown === 0 && e.analysis.phase !== 'running') {
        thrown++;
        throw new Error('listener failed');
      }
    };
    const reg = new AnalysisRegistry(
      settings(),
      { onDecision: (d) => decisions.push(d), onLook },
      { deferLooks: true },
    );
    let caught = 0;
    for (const r of requests) {
      reg.ingest(r.map((x) => ({ ...x })));
      try {
        reg.runPendingLooks();
      } catch {
        caught++;
      }
    }
    reg.flush();
    expect([thrown, caught]).toEqual([1, 1]);
    expect(decisions).toEqual(sync.decisions);
    expect(reg.analysisCount.running).toBe(
      sync.list.filter((a) => (a as { phase: string }).phase === 'running').length,
    );
  });
});
