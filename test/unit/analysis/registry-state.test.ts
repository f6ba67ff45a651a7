import { deserialize, serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import {
  AnalysisRegistry,
  type AnalysisSettings,
  type RegistryState,
} from '../../../src/analysis/analysis-registry.js';
import type { Decision, RequestSample } from '../../../src/contracts/index.js';
import { createCheckpointer } from '../../../src/agent/checkpoints.js';
import { silentLogger } from '../../../src/logger.js';
import { settings, stream } from '../../helpers/fleet-stream.js';

/**
 * A checkpoint (src/agent/checkpoints.ts) is the registry's `exportState` through node:v8 `serialize`; a restart
 * `importState`s it into a NEW registry. Restarting at any point of the stream, looks closed and not yet run
 * included, must give exactly the looks, decisions and analyses of the run that never stopped.
 */

interface Run {
  looks: string[];
  decisions: Decision[];
  list: unknown[];
}

const withHash = (h: string): AnalysisSettings => ({ ...settings(), analysisHash: h });

function fresh(run: Run, hash = 'h1'): AnalysisRegistry {
  return new AnalysisRegistry(
    withHash(hash),
    {
      onDecision: (d) => run.decisions.push(d),
      onLook: (e) => run.looks.push(`${e.analysis.id}#${e.analysis.look}:${e.analysis.phase}`),
    },
    { deferLooks: true },
  );
}

/** Feeds the stream, restarting (checkpoint → new registry) before the requests at `cuts`; runs looks lazily. */
function run(requests: RequestSample[][], cuts: readonly number[]): Run {
  const out: Run = { looks: [], decisions: [], list: [] };
  let reg = fresh(out);
  for (const [i, r] of requests.entries()) {
    if (cuts.includes(i)) {
      const bytes = serialize(reg.exportState());
      reg = fresh(out);
      const restored = reg.importState(deserialize(bytes) as RegistryState);
      expect(restored.restarted).toBe(0);
    }
    reg.ingest(r.map((s) => ({ ...s })));
    if (i % 7 === 6) reg.runPendingLooks(); // looks wait across some cuts
  }
  reg.flush();
  out.list = reg.list();
  return out;
}

describe('the registry state through a checkpoint', () => {
  const requests = stream(42);
  const straight = run(requests, []);

  it('the scenario decides every outcome', () => {
    expect(new Set(straight.decisions.map((d) => d.outcome))).toEqual(new Set(['rollback', 'promote', 'abandoned']));
  });

  it.each([[[50]], [[123, 124]], [[200, 400, 600, 800]], [Array.from({ length: 60 }, (_, k) => 20 * k + 3)]])(
    'restarted before requests %j: the same looks, decisions (ids included) and analyses',
    (cuts) => {
      const restarted = run(requests, cuts);
      expect(restarted.decisions).toEqual(straight.decisions);
      expect(restarted.looks).toEqual(straight.looks);
      expect(restarted.list).toEqual(straight.list);
    },
  );

  it('a checkpoint of another analysis config keeps decided versions and restarts the running analyses', () => {
    const before: Run = { looks: [], decisions: [], list: [] };
    const reg = fresh(before);
    for (const r of requests.slice(0, 700)) reg.ingest(r.map((s) => ({ ...s })));
    reg.runPendingLooks();
    const { running, decided } = reg.analysisCount;
    expect(running).toBeGreaterThan(0);
    expect(decided).toBeGreaterThan(0);
    const after: Run = { looks: [], decisions: [], list: [] };
    const other = fresh(after, 'h2');
    const restored = other.importState(deserialize(serialize(reg.exportState())) as RegistryState);
    expect(restored).toMatchObject({ restarted: running, running: 0 });
    expect(other.analysisCount).toEqual({ running: 0, decided });
    // a rolled-back version stays rolled back: its later samples start nothing
    const rolledBack = before.decisions.find((d) => d.outcome === 'rollback')!;
    other.ingest(requests[700]!.map((s) => ({ ...s })));
    expect(other.list().filter((a) => a.id === rolledBack.analysis)).toEqual([
      expect.objectContaining({ phase: 'rollback', decisionId: rolledBack.id }),
    ]);
  });

  it('markDecided and resumeTo apply what the audit log recorded after the checkpoint', () => {
    const first: Run = { looks: [], decisions: [], list: [] };
    const reg = fresh(first);
    for (const r of requests.slice(0, 700)) reg.ingest(r.map((s) => ({ ...s })));
    const bytes = serialize(reg.exportState()); // the checkpoint, taken before the looks ran
    reg.runPendingLooks();
    const decision = first.decisions[0]!;
    expect(decision).toBeDefined();
    const next: Run = { looks: [], decisions: [], list: [] };
    const restarted = fresh(next);
    restarted.importState(deserialize(bytes) as RegistryState);
    expect(restarted.markDecided(decision)).toBe(true);
    expect(restarted.markDecided(decision)).toBe(false);
    restarted.runPendingLooks(); // the restored looks of that analysis do not decide it again
    expect(next.decisions.filter((d) => d.analysis === decision.analysis)).toEqual([]);
    expect(restarted.get(decision.analysis)).toMatchObject({ phase: decision.outcome, decisionId: decision.id });
    // a resume recorded after the checkpoint makes the version analysable again, as a new incarnation
    const [service, version] = [decision.service, decision.canaryVersion];
    expect(restarted.resumeTo(service, version, 1)).toBe(true);
    expect(restarted.resumeTo(service, version, 1)).toBe(false);
    expect(restarted.get(decision.analysis)).toBeUndefined();
  });
});

describe('the checkpointer (src/agent/checkpoints.ts) on a memory store', () => {
  const requests = stream(42);
  const straight = run(requests, []);

  it('serialises one service at a time between turns of the event loop; restoring it continues the same run', async () => {
    let saved: Buffer | undefined;
    const store = {
      where: 'memory',
      load: async () => saved,
      save: async (b: Buffer) => void (saved = b),
      close: async () => {},
    };
    const out: Run = { looks: [], decisions: [], list: [] };
    const first = fresh(out);
    const cut = 500;
    for (const [i, r] of requests.entries()) {
      if (i === cut) break;
      first.ingest(r.map((s) => ({ ...s })));
      if (i % 7 === 6) first.runPendingLooks();
    }
    const unrecorded: Decision[] = [];
    const make = (registry: AnalysisRegistry) =>
      createCheckpointer({ store, registry, unrecorded: () => unrecorded, intervalMs: 1000, logger: silentLogger() });
    await make(first).save();
    expect(saved!.length).toBeGreaterThan(1000);
    const second = fresh(out);
    const restored = await make(second).restore();
    expect(restored).toMatchObject({ services: 12, restarted: 0, unrecorded: [] });
    for (const [i, r] of requests.entries()) {
      if (i < cut) continue;
      second.ingest(r.map((s) => ({ ...s })));
      if (i % 7 === 6) second.runPendingLooks();
    }
    second.flush();
    expect(out.decisions).toEqual(straight.decisions);
    expect(out.looks).toEqual(straight.looks);
    expect(second.list()).toEqual(straight.list);
  });
});

describe('checkpointer saves on a slow store', () => {
  it('run one at a time, and the ones asked for while one waits share it (no pile-up)', async () => {
    let writes = 0;
    let release: () => void = () => {};
    const store = {
      where: 'slow',
      load: async () => undefined,
      save: () => {
        writes++;
        return new Promise<void>((r) => (release = r));
      },
      close: async () => {},
    };
    const out: Run = { looks: [], decisions: [], list: [] };
    const reg = fresh(out);
    reg.ingest(stream(42)[0]!.map((s) => ({ ...s })));
    const cp = createCheckpointer({
      store,
      registry: reg,
      unrecorded: () => [],
      intervalMs: 1000,
      logger: silentLogger(),
    });
    const first = cp.save();
    await new Promise((r) => setTimeout(r, 20));
    expect(writes).toBe(1);
    reg.ingest(stream(42)[1]!.map((s) => ({ ...s }))); // the state moves while the first save waits
    const waiting = [cp.save(), cp.save(), cp.save()];
    expect(new Set(waiting).size).toBe(1);
    release();
    await first;
    await new Promise((r) => setTimeout(r, 20));
    expect(writes).toBe(2); // the three asked for meanwhile: one write, of the newer state
    release();
    await Promise.all(waiting);
    await cp.save(); // nothing changed since: no write
    expect(writes).toBe(2);
  });
});

describe('the last checkpoint at shutdown (close with the work the last looks started)', () => {
  const memory = () => {
    const saves: Buffer[] = [];
    const store = {
      where: 'memory',
      load: async () => saves.at(-1),
      save: async (b: Buffer) => void saves.push(b),
      close: async () => {},
    };
    return { saves, store };
  };
  const registryWithState = () => {
    const reg = fresh({ looks: [], decisions: [], list: [] });
    reg.ingest(stream(42)[0]!.map((s) => ({ ...s })));
    return reg;
  };
  const checkpointer = (registry: AnalysisRegistry, store: ReturnType<typeof memory>['store']) =>
    createCheckpointer({ store, registry, unrecorded: () => [], intervalMs: 60_000, logger: silentLogger() });

  it('saves at once, then again once that work is done: the last save holds what it changed', async () => {
    const { saves, store } = memory();
    const reg = registryWithState();
    const cp = checkpointer(reg, store);
    cp.start();
    let done: () => void = () => {};
    const work = new Promise<void>((r) => (done = r));
    const closed = cp.close(work);
    await new Promise((r) => setTimeout(r, 20));
    expect(saves).toHaveLength(1); // at once: the shutdown does not wait for the work to checkpoint
    const before = reg.counters.samples;
    reg.ingest(stream(42)[1]!.map((s) => ({ ...s }))); // the work changes the state (a share set)
    const samples = reg.counters.samples;
    expect(samples).toBeGreaterThan(before);
    done();
    await closed;
    expect(saves).toHaveLength(2);
    const restored = fresh({ looks: [], decisions: [], list: [] });
    await checkpointer(restored, store).restore();
    expect(restored.counters.samples).toBe(samples);
    expect(cp.unsaved()).toBeUndefined();
  });

  it('abort() while the work hangs: close() resolves without a second save', async () => {
    const { saves, store } = memory();
    const cp = checkpointer(registryWithState(), store);
    cp.start();
    const closed = cp.close(new Promise<void>(() => {}));
    await new Promise((r) => setTimeout(r, 20));
    cp.abort();
    await closed;
    expect(saves).toHaveLength(1);
    expect(cp.unsaved()).toBeUndefined(); // the save at once went through
  });
});
