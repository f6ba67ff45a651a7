/**
 * Vitest global setup: makes a REAL redis-server available to tests that touch the queue.
 * Uses VIGIL_TEST_REDIS_URL or redis://127.0.0.1:6379 when it answers PING; otherwise starts
 * `redis-server` on a free port (no persistence) and stops it after the run. Fails with a clear message
 * when neither works. Tests read the URL with `inject('redisUrl')` and use their own queue prefix.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { answersPing, freePort } from '../helpers/redis-server.js';
import type {} from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/** PING through the helper of the tests' own redis-servers (one implementation). */
const ping = (host: string, port: number): Promise<boolean> => answersPing(port, 500, host);

let child: ChildProcess | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fromEnv = process.env.VIGIL_TEST_REDIS_URL;
  if (fromEnv) {
    const u = new URL(fromEnv);
    if (!(await ping(u.hostname, Number(u.port || 6379)))) {
      throw new Error(`VIGIL_TEST_REDIS_URL=${fromEnv} does not answer PING. Start Redis there or unset the variable.`);
    }
    project.provide('redisUrl', fromEnv);
    return () => Promise.resolve();
  }
  if (await ping('127.0.0.1', 6379)) {
    project.provide('redisUrl', 'redis://127.0.0.1:6379');
    return () => Promise.resolve();
  }
  const port = await freePort();
  child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const spawnError = new Promise<Error>((resolve) => child?.once('error', resolve));
  for (let i = 0; i < 50; i++) {
    const failed = await Promise.race([spawnError, new Promise<null>((r) => setTimeout(() => r(null), 100))]);
    if (failed) {
      throw new Error(
        `No Redis answers on 127.0.0.1:6379 and redis-server could not be started (${failed.message}). ` +
          'Install it (Debian: apt-get install redis-server) or set VIGIL_TEST_REDIS_URL.',
      );
    }
    if (await ping('127.0.0.1', port)) break;
  }
  if (!(await ping('127.0.0.1', port))) throw new Error(`redis-server started on port ${port} but never answered PING`);
  project.provide('redisUrl', `redis://127.0.0.1:${port}`);
  return async () => {
    child?.kill('SIGTERM');
  };
}
