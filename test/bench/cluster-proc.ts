/**
 * Child processes measured from outside: CPU time from /proc/<pid>/stat (user + system, in clock ticks; children
 * not included) and the machine's from /proc/stat, and the JSON log lines of a `vigil serve` process as they arrive (only those the cluster benchmark
 * reads: cluster events, decisions, and every warning or error).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Serving } from '../helpers/serve-process.js';

let ticksPerSecond: number | undefined;

/** CPU seconds (user + system) a process has used so far; NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after "(comm)": state is the 3rd field; utime and stime the 14th and 15th
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / ticksPerSecond;
  } catch {
    return Number.NaN;
  }
}

export type LogLine = Record<string, unknown> & { msg?: string; level?: number; time?: string | number };

/** A log line's time, ms since the epoch (Vigil logs ISO times). */
export const timeOf = (l: LogLine): number => (typeof l.time === 'number' ? l.time : Date.parse(String(l.time)));

/** Messages kept whatever their level. */
const KEPT = new Set([
  'service restored from its checkpoint in Redis',
  'service lease taken: this replica owns its analyses',
  'decision recorded',
  'joined the cluster',
]);

export class LogTail {
  readonly kept: LogLine[] = [];
  /** Lines that are not JSON (a crash's stack trace). */
  readonly raw: string[] = [];
  private partial = '';

  constructor(s: Serving) {
    this.feed(s.output());
    const on = (d: Buffer) => this.feed(d.toString());
    s.child.stdout?.on('data', on);
    s.child.stderr?.on('data', on);
  }

  private feed(text: string): void {
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop() ?? '';
    for (const l of parts) {
      if (l.trim() === '') continue;
      if (!l.startsWith('{')) {
        this.raw.push(l);
        continue;
      }
      let line: LogLine;
      try {
        line = JSON.parse(l) as LogLine;
      } catch {
        this.raw.push(l);
        continue;
      }
      if ((line.level ?? 0) >= 40 || KEPT.has(line.msg ?? '')) this.kept.push(line);
    }
  }

  byMsg(msg: string): LogLine[] {
    return this.kept.filter((l) => l.msg === msg);
  }

  /** Warnings and errors, counted by message. */
  problems(minLevel = 40): Record<string, number> {
    const out: Record<string, number> = {};
    for (const l of this.kept) if ((l.level ?? 0) >= minLevel) out[l.msg ?? '?'] = (out[l.msg ?? '?'] ?? 0) + 1;
    return out;
  }
}

/**
 * CPU seconds the whole machine has been busy so far (every core; /proc/stat: all but idle, iowait and steal) and
 * the seconds the hypervisor gave the virtual CPUs to something else (steal).
 */
export function machineSeconds(): { busy: number; steal: number } {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  // user nice system idle iowait irq softirq steal
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]!;
  return { busy: busy / ticksPerSecond, steal: (f[7] ?? 0) / ticksPerSecond };
}
