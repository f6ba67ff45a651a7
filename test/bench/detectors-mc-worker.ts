import { parentPort } from 'node:worker_threads';
import type { Task } from './mc/simulate.js';
import { runTask } from './mc/simulate.js';

/** Worker thread of `npm run bench:detectors`: runs the tasks it is sent, one at a time, and posts results. */
if (parentPort === null) throw new Error('detectors-mc-worker.ts must run as a worker thread');
const port = parentPort;
port.on('message', (task: Task | null) => {
  if (task === null) {
    port.close();
    return;
  }
  try {
    port.postMessage({ ok: true, result: runTask(task) });
  } catch (err) {
    port.postMessage({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err), task });
  }
});
