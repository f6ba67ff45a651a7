/**
 * The `vigil backtest` command: option parsing (commander argument parsers, so a bad value is a usage error
 * with exit code 2), help text, and printing the report. src/cli.ts declares the command with these.
 */
import { InvalidArgumentError } from 'commander';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { isVigilError } from '../errors.js';
import { formatReport } from './format-report.js';
import { runBacktest } from './run-backtest.js';
import { DEFAULT_INJECT, parseInjections, type Injection } from './scenarios.js';

export { DEFAULT_INJECT };

export const BACKTEST_DESCRIPTION =
  'Tune before you trust: on your own recorded telemetry, how often would this config falsely roll back, and how fast would it catch a regression?';

/** After the options in `vigil backtest --help`: one paragraph or item per line (the CLI wraps them). */
export const BACKTEST_HELP_AFTER = `
How it works:
  Reads OTLP JSON lines as the Collector's file exporter writes them (.gz accepted), once. Each trial splits every service's baseline traffic (all of it when cohorts are unknown) into two pseudo-cohorts by trace id and runs the configured analysis on them, in event time, with no actions: in this A/A setting every rollback is a false alarm. Copies of the pseudo-canary with injected regressions measure how often and how fast each regression is caught. Prints a table per service and metric and advice in plain words; progress goes to stderr.

Injections (into copies of the pseudo-canary, seeded):
  error=F     the canary fails F times as often
  latency=F   every canary request is F times slower
  tail=F      the slowest 5% of canary requests are F times slower

Exit codes: 0 done, 1 unreadable input or no request spans, 2 bad usage or config.

Examples:
  $ vigil backtest --config vigil.yaml traces.jsonl.gz
  $ vigil backtest --config vigil.yaml --trials 500 --inject error=1.5,error=3,latency=1.1 --format json a.jsonl b.jsonl
  $ vigil backtest --config vigil.yaml --inject none --services checkout,cart traces.jsonl`;

export interface BacktestCliOptions {
  config?: string;
  trials: number;
  seed: number;
  inject: Injection[];
  canaryShare?: number;
  services?: string[];
  format: 'text' | 'json';
  quiet?: boolean;
}

export function parseTrials(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 100_000)
    throw new InvalidArgumentError('a whole number of trials from 1 to 100000');
  return n;
}

export function parseSeed(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new InvalidArgumentError('a whole number from 0 to 4294967295');
  return n;
}

export function parseShare(v: string): number {
  const n = Number(v);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError('a share strictly between 0 and 1, e.g. 0.1');
  return n;
}

export function parseInject(v: string): Injection[] {
  try {
    return parseInjections(v);
  } catch (e) {
    throw new InvalidArgumentError(isVigilError(e) ? e.message : String(e));
  }
}

export function parseServices(v: string): string[] {
  const names = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 0) throw new InvalidArgumentError('one or more service names, comma-separated');
  return names;
}

export const DEFAULT_TRIALS = 200;
export const DEFAULT_INJECTIONS = (): Injection[] => parseInjections(DEFAULT_INJECT);

/** Runs the backtest and prints the report on `out`; returns the exit code. */
export async function backtestCommand(args: {
  loaded: LoadedConfig;
  files: string[];
  options: BacktestCliOptions;
  logger: Logger;
  out: (s: string) => void;
  progress: (s: string) => void;
}): Promise<number> {
  const o = args.options;
  const report = await runBacktest({
    loaded: args.loaded,
    files: args.files,
    trials: o.trials,
    seed: o.seed,
    injections: o.inject,
    ...(o.canaryShare === undefined ? {} : { canaryShare: o.canaryShare }),
    ...(o.services ? { services: o.services } : {}),
    ...(o.quiet ? {} : { progress: args.progress }),
    onBadLine: (file, line, err) => args.logger.warn({ file, line, err }, 'skipped an undecodable line'),
  });
  args.out(o.format === 'json' ? JSON.stringify(report, null, 2) : formatReport(report));
  return 0;
}
