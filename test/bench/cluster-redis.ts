/**
 * What the agents ask of Redis over a window, on a redis-server of the bench's own (nothing else talks to it):
 *
 * - INFO before and after: commands Redis executed (`commandstats`: the commands scripts run are counted too),
 *   the bytes it received, the CPU time of the redis-server process (used_cpu_user + used_cpu_sys);
 * - MONITOR during the window (`redis-cli monitor` to a file, parsed afterwards): every command a client sent (a round trip's worth: EVAL counts once, the commands it
 *   runs are counted apart as `inScripts`), attributed by the keys it names: `<prefix>:cluster:` → cluster (leases,
 *   membership, per-service checkpoints, decision claims), `<prefix>:state:` → the single agent's checkpoint, any
 *   other `<prefix>:` key → BullMQ (queues, workers, events), PING → the health check, none of these → other
 *   (connection set-up, INFO). The probe's own connection is left out. MONITOR costs Redis some CPU (it formats
 *   every command for the monitor): the Redis CPU figures include it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';

export interface RedisSnapshot {
  commands: Record<string, number>;
  usec: Record<string, number>;
  totalCommands: number;
  netInputBytes: number;
  cpuSec: number;
}

export type Category = 'cluster' | 'state' | 'bullmq' | 'health' | 'other';

export interface RedisWindow {
  /** Whether MONITOR ran (else `sent` and `inScripts` are empty, and Redis's CPU is free of its cost). */
  monitored: boolean;
  /** Commands clients sent, by category then command. */
  sent: Record<Category, Record<string, number>>;
  sentTotal: number;
  /** Commands run inside scripts (EVAL / EVALSHA bodies), by command. */
  inScripts: Record<string, number>;
  /** INFO deltas: every command executed (scripts' commands included), bytes received, Redis CPU seconds. */
  executed: number;
  executedByCommand: Record<string, number>;
  usecByCommand: Record<string, number>;
  netInputBytes: number;
  cpuSec: number;
}

function parseInfo(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}

const field = (s: string, name: string): number => Number(new RegExp(`${name}=([\\d.]+)`).exec(s)?.[1] ?? 0);

const add = (r: Record<string, number>, k: string, n = 1): void => {
  r[k] = (r[k] ?? 0) + n;
};

/** The quoted arguments of one `redis-cli monitor` line, up to the first that starts with `stopAt` (kept raw). */
export function monitorArgs(line: string, from: number, stopAt: string): string[] {
  const out: string[] = [];
  let i = line.indexOf('"', from);
  while (i >= 0) {
    let j = i + 1;
    for (;;) {
      j = line.indexOf('"', j);
      if (j < 0) return out;
      let bs = 0;
      while (line[j - 1 - bs] === '\\') bs++;
      if (bs % 2 === 0) break;
      j++;
    }
    const arg = line.slice(i + 1, j);
    out.push(arg);
    if (arg.startsWith(stopAt)) return out;
    i = line.indexOf('"', j + 1);
  }
  return out;
}

export class RedisProbe {
  private monitor: { child: ChildProcess; file: string; exited: Promise<void> } | undefined;
  private constructor(
    private readonly client: Redis,
    private readonly port: number,
    private readonly prefix: string,
  ) {}

  static async open(url: string, prefix: string): Promise<RedisProbe> {
    const client = new Redis(url, { lazyConnect: true });
    await client.connect();
    return new RedisProbe(client, Number(new URL(url).port), prefix);
  }

  /** The remaining time to live of each key, ms (-2: no such key). */
  async pttl(keys: readonly string[]): Promise<number[]> {
    const p = this.client.pipeline();
    for (const k of keys) p.pttl(k);
    return ((await p.exec()) ?? []).map(([, v]) => Number(v));
  }

  /** The redis-server's process id. */
  async pid(): Promise<number> {
    return Number(parseInfo(await this.client.info('server')).get('process_id'));
  }

  async snapshot(): Promise<RedisSnapshot> {
    const info = parseInfo(await this.client.info('everything'));
    const commands: Record<string, number> = {};
    const usec: Record<string, number> = {};
    for (const [k, v] of info) {
      if (!k.startsWith('cmdstat_')) continue;
      const name = k.slice('cmdstat_'.length);
      commands[name] = field(v, 'calls');
      usec[name] = field(v, 'usec');
    }
    return {
      commands,
      usec,
      totalCommands: Number(info.get('total_commands_processed')),
      netInputBytes: Number(info.get('total_net_input_bytes')),
      cpuSec: Number(info.get('used_cpu_user')) + Number(info.get('used_cpu_sys')),
    };
  }

  private categoryOf(cmd: string, args: readonly string[]): Category {
    if (cmd === 'ping') return 'health';
    const key = args.find((a) => a.startsWith(`${this.prefix}:`));
    if (key === undefined) return 'other';
    if (key.startsWith(`${this.prefix}:cluster:`)) return 'cluster';
    if (key.startsWith(`${this.prefix}:state:`)) return 'state';
    return 'bullmq';
  }

  /** Starts recording the commands clients send: `redis-cli monitor` to a file, out of this process. */
  async startMonitor(dir: string): Promise<void> {
    const file = join(dir, 'monitor.txt');
    const out = createWriteStream(file);
    const child = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(this.port), 'monitor'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    let started = false;
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (!started && d.toString().startsWith('OK')) {
          started = true;
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`redis-cli monitor exited with ${code}`)));
      child.stdout.pipe(out);
    });
    this.monitor = { child, file, exited: exited.then(() => new Promise<void>((r) => out.end(r))) };
  }

  /** The window between `before` and `after` (snapshots), with what MONITOR saw if it ran (it is stopped). */
  async window(before: RedisSnapshot, after: RedisSnapshot): Promise<RedisWindow> {
    const w: Pick<RedisWindow, 'sent' | 'inScripts'> = {
      sent: { cluster: {}, state: {}, bullmq: {}, health: {}, other: {} },
      inScripts: {},
    };
    const m = this.monitor;
    this.monitor = undefined;
    if (m) {
      m.child.kill('SIGTERM');
      await m.exited;
      const own = `127.0.0.1:${this.client.stream.localPort}`;
      const lines = createInterface({ input: createReadStream(m.file), crlfDelay: Infinity });
      for await (const line of lines) {
        const open = line.indexOf('[');
        const close = line.indexOf(']', open);
        if (open < 0 || close < 0) continue;
        const source = line.slice(open + 1, close).split(' ')[1] ?? '';
        if (source === own) continue;
        const args = monitorArgs(line, close, `${this.prefix}:`);
        const cmd = (args[0] ?? '?').toLowerCase();
        if (source === 'lua') add(w.inScripts, cmd);
        else add(w.sent[this.categoryOf(cmd, args.slice(1))], cmd);
      }
      rmSync(m.file, { force: true });
    }
    const executedByCommand: Record<string, number> = {};
    const usecByCommand: Record<string, number> = {};
    // the probe's own commands are left out: the INFO of `before` (`after`'s own is not counted yet) and MONITOR
    const own: Record<string, number> = { info: 1, monitor: 1 };
    for (const [k, v] of Object.entries(after.commands)) {
      const d = v - (before.commands[k] ?? 0) - (own[k] ?? 0);
      if (d > 0) executedByCommand[k] = d;
      const u = (after.usec[k] ?? 0) - (before.usec[k] ?? 0);
      if (u > 0) usecByCommand[k] = u;
    }
    const sentTotal = Object.values(w.sent)
      .flatMap((r) => Object.values(r))
      .reduce((a, b) => a + b, 0);
    return {
      monitored: m !== undefined,
      ...w,
      sentTotal,
      executed: Object.values(executedByCommand).reduce((a, b) => a + b, 0),
      executedByCommand,
      usecByCommand,
      netInputBytes: after.netInputBytes - before.netInputBytes,
      cpuSec: after.cpuSec - before.cpuSec,
    };
  }

  async close(): Promise<void> {
    this.monitor?.child.kill('SIGKILL');
    await this.client.quit().catch(() => this.client.disconnect());
  }
}
