import { spawn } from 'node:child_process';
import { VigilError } from '../../src/errors.js';
import { abortedError } from './http.js';

/** After SIGTERM, a process group gets this long to exit before SIGKILL. */
export const KILL_GRACE_MS = 2_000;
/** After the process exits, its output pipes get this long to close (a daemonised grandchild may hold them). */
const DRAIN_MS = 1_000;

export interface RunSpec {
  /** Vendor name for errors ("command", "nginx"). */
  vendor: string;
  /** Program and arguments; no shell. */
  argv: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** Output kept: the LAST this many bytes of stdout and stderr, interleaved as they arrived. */
  maxOutputBytes: number;
}

export interface RunResult {
  exitCode: number | null;
  /** The signal that ended it, when one did. */
  exitSignal: NodeJS.Signals | null;
  /** The tail of the combined output (UTF-8, possibly starting mid-character, trimmed). */
  output: string;
  /** Bytes of output dropped from the start to keep `maxOutputBytes`. */
  dropped: number;
}

/**
 * Runs a program without a shell in its own process group, with a timeout and the caller's signal.
 *
 * On timeout or abort the whole group gets SIGTERM, then SIGKILL after KILL_GRACE_MS, and the promise
 * settles once the program is gone: VIGIL_ERR_CONNECTOR_TIMEOUT or VIGIL_ERR_CONNECTOR_ABORTED (both
 * retryable). A program that cannot be started (ENOENT, EACCES) is VIGIL_ERR_CONNECTOR_FAILED, permanent.
 * Otherwise it resolves with the exit status and the tail of the output, whatever the exit code: deciding
 * what a non-zero exit means is the caller's job. Memory: O(maxOutputBytes).
 */
export function runProcess(spec: RunSpec): Promise<RunResult> {
  if (spec.signal.aborted) return Promise.reject(abortedError(spec.vendor, spec.signal));
  const [program, ...args] = spec.argv;
  if (program === undefined) return Promise.reject(new Error('runProcess needs a program'));
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      env: spec.env,
      cwd: spec.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let kept = 0;
    let dropped = 0;
    const collect = (c: Buffer) => {
      chunks.push(c);
      kept += c.byteLength;
      while (kept > spec.maxOutputBytes && chunks.length > 0) {
        const first = chunks[0]!;
        const excess = kept - spec.maxOutputBytes;
        if (first.byteLength <= excess) {
          chunks.shift();
          kept -= first.byteLength;
          dropped += first.byteLength;
        } else {
          chunks[0] = first.subarray(excess);
          kept -= excess;
          dropped += excess;
        }
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);

    let stopping: 'timeout' | 'abort' | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // the group is already gone
      }
    };
    const stop = (why: 'timeout' | 'abort') => {
      if (stopping) return;
      stopping = why;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    };
    const timer = setTimeout(() => stop('timeout'), spec.timeoutMs);
    const onAbort = () => stop('abort');
    spec.signal.addEventListener('abort', onAbort, { once: true });

    let settled = false;
    const settle = (exitCode: number | null, exitSignal: NodeJS.Signals | null, err?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      clearTimeout(drainTimer);
      spec.signal.removeEventListener('abort', onAbort);
      child.stdout.destroy();
      child.stderr.destroy();
      if (err !== undefined) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        reject(
          new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`${spec.vendor}: cannot run ${program}: ${code}`], {
            cause: err,
            details: { vendor: spec.vendor, program },
          }),
        );
        return;
      }
      if (stopping === 'abort') {
        reject(abortedError(spec.vendor, spec.signal));
        return;
      }
      if (stopping === 'timeout') {
        const cause = new Error(`${program} ran longer than ${spec.timeoutMs} ms`);
        cause.name = 'TimeoutError';
        reject(
          new VigilError('VIGIL_ERR_CONNECTOR_TIMEOUT', [spec.timeoutMs], {
            cause,
            details: { vendor: spec.vendor, program },
          }),
        );
        return;
      }
      resolve({ exitCode, exitSignal, output: Buffer.concat(chunks).toString('utf8').trim(), dropped });
    };
    child.on('error', (e) => settle(null, null, e));
    child.on('exit', (code, sig) => {
      // The pipes normally close right after; give a daemonised grandchild a moment, then stop waiting.
      drainTimer = setTimeout(() => settle(code, sig), DRAIN_MS);
    });
    child.on('close', (code: number | null, sig: NodeJS.Signals | null) => settle(code, sig));
  });
}
