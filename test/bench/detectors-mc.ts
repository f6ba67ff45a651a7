import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { BenchOptions } from './mc/benchmark.js';
import {
  DEFAULT_REPLICATES,
  QUICK_REPLICATES,
  aggregate,
  allScenarioIds,
  planTasks,
  renderGoals,
  renderMarkdown,
  toJson,
} from './mc/benchmark.js';
import type { Task, TaskResult } from './mc/simulate.js';

/**
 * `npm run bench:detectors` (node --import tsx test/bench/detectors-mc.ts): the seeded Monte Carlo benchmark of
 * issue 3, with the real-traffic rows of issue 13. Every scenario of test/bench/mc/scenarios.ts is simulated `--reps` times (100 looks each); in every
 * replicate all methods of test/bench/mc/methods.ts see the same looks. Prints the markdown tables and the
 * goals (PASS/FAIL with figures), writes bench-results/detectors-mc.json.
 *
 * Options: --quick (12 replicates per scenario: a CI smoke run), --reps N, --scenarios a,b,c, --workers N
 * (default: min(2, cores)), --seed N, --out FILE. Same seed and replicates => same numbers, however many
 * workers. Exit code 0 even when a goal fails (the table is the result); 1 on a crash.
 */

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string' },
    scenarios: { type: 'string' },
    workers: { type: 'string' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'bench-results/detectors-mc.json' },
    chunk: { type: 'string' },
  },
});

const replicates =
  values.reps !== undefined ? Number(values.reps) : values.quick ? QUICK_REPLICATES : DEFAULT_REPLICATES;
const scenarios = values.scenarios !== undefined ? values.scenarios.split(',').map((s) => s.trim()) : allScenarioIds();
const workers = Math.max(
  1,
  values.workers !== undefined ? Number(values.workers) : Math.min(2, availableParallelism()),
);
const opts: BenchOptions = {
  replicates,
  scenarios,
  baseSeed: Number(values.seed),
  chunk: values.chunk !== undefined ? Number(values.chunk) : Math.max(1, Math.min(25, Math.ceil(replicates / 4))),
};
if (!(Number.isInteger(replicates) && replicates > 0))
  throw new Error(`--reps must be a positive integer, got ${values.reps}`);

/** Workers do not inherit `--import tsx`'s hooks: register tsx's ESM loader in the worker, then load the TS entry. */
const WORKER_BOOT = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(new URL('./detectors-mc-worker.ts', import.meta.url).href)}); });`;

function runWorkers(tasks: Task[]): Promise<TaskResult[]> {
  const queue = [...tasks];
  const results: TaskResult[] = [];
  let done = 0;
  return new Promise((resolve, reject) => {
    const pool = Array.from({ length: Math.min(workers, tasks.length) }, () => new Worker(WORKER_BOOT, { eval: true }));
    const feed = (w: Worker): void => {
      w.postMessage(queue.shift() ?? null);
    };
    for (const w of pool) {
      w.on('message', (msg: { ok: true; result: TaskResult } | { ok: false; error: string; task: Task }) => {
        if (!msg.ok) {
          reject(new Error(`task ${msg.task.scenario} [${msg.task.from}, ${msg.task.to}) failed:\n${msg.error}`));
          for (const p of pool) void p.terminate();
          return;
        }
        results.push(msg.result);
        done += 1;
        if (done % Math.max(1, Math.round(tasks.length / 10)) === 0)
          process.stderr.write(`  ${done}/${tasks.length} tasks\n`);
        if (done === tasks.length) resolve(results);
        feed(w);
      });
      w.on('error', reject);
      feed(w);
    }
  });
}

const t0 = performance.now();
const cpu0 = process.cpuUsage();
const tasks = planTasks(opts);
process.stderr.write(
  `bench:detectors: ${scenarios.length} scenarios x ${replicates} replicates, ${tasks.length} tasks on ${workers} worker thread(s)\n`,
);
const results = await runWorkers(tasks);
const r = aggregate(scenarios, results);
const wallSeconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;

const md = renderMarkdown(r);
const goals = renderGoals(r);
const timing = `${scenarios.length} scenarios x ${replicates} replicates x 100 looks, ${r.methods.length} methods side by side: ${wallSeconds.toFixed(1)} s wall on ${workers} worker thread(s), ${cpuSeconds.toFixed(1)} s of CPU (all threads; wall on an otherwise idle ${workers}-core machine ≈ CPU / ${workers}), node ${process.version}`;
const methodTotal = Object.values(r.methodMs).reduce((a, b) => a + b, 0);
const cost = Object.entries(r.methodMs)
  .sort((a, b) => b[1] - a[1])
  .map(([m, ms]) => `${m} ${(ms / 1000).toFixed(1)} s`)
  .join(', ');
const costLine = `Time in the methods' looks (${(methodTotal / 1000).toFixed(1)} s of ${(r.taskMs / 1000).toFixed(1)} s simulated; the rest is traffic generation): ${cost}`;
console.log(
  `\n## Detectors: Monte Carlo benchmark${values.quick ? ' (--quick: indicative only)' : ''}\n\n${md}\n\n### Goals\n\n\`\`\`\n${goals}\n\`\`\`\n\n${timing}\n\n${costLine}`,
);

mkdirSync(dirname(values.out), { recursive: true });
writeFileSync(
  values.out,
  `${JSON.stringify(toJson(r, { suite: 'detectors-mc', node: process.version, quick: values.quick, replicates, seed: opts.baseSeed, workers, wallSeconds, cpuSeconds, simulationSeconds: r.taskMs / 1000, command: process.argv.slice(2).join(' ') }), null, 2)}\n`,
);
console.log(`wrote ${values.out}`);
