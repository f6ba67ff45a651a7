/**
 * `vigil serve | validate | replay | demo | status`. Exit codes: 0 ok, 1 runtime failure, 2 bad config or
 * bad usage. Data goes to stdout, progress and logs to stderr.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, defaultConfig, loadConfigFile, readApiAddress, type LoadedConfig } from './config/load.js';
import { formatDuration } from './config/duration.js';
import { runDemo } from './demo/run-demo.js';
import { isVigilError } from './errors.js';
import { createLogger } from './logger.js';
import { createAgent } from './main.js';
import { BUILTIN_REGISTRIES } from './registries.js';
import { runReplay } from './replay/run-replay.js';
import { DEFAULT_API_URL, localApiUrl, runStatus } from './status.js';
import { vigilVersion } from './version.js';
import {
  BACKTEST_DESCRIPTION, BACKTEST_HELP_AFTER, DEFAULT_INJECT, DEFAULT_INJECTIONS, DEFAULT_TRIALS, backtestCommand, parseInject, parseSeed, parseServices,
  parseShare, parseTrials, type BacktestCliOptions,
} from './backtest/backtest-command.js';

const out = (s: string) => process.stdout.write(`${s}\n`);
const err = (s: string) => process.stderr.write(`${s}\n`);

function load(file: string | undefined): LoadedConfig {
  return file ? loadConfigFile(file, BUILTIN_REGISTRIES) : defaultConfig(BUILTIN_REGISTRIES);
}

function fail(e: unknown): number {
  if (e instanceof ConfigError) {
    err(e.message);
    return 2;
  }
  if (isVigilError(e)) {
    err(`vigil: ${e.message} [${e.code}]`);
    return 1;
  }
  err(`vigil: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return 1;
}

async function serve(opts: { config?: string }): Promise<number> {
  const loaded = load(opts.config);
  const logger = createLogger({ level: loaded.config.logging.level });
  const agent = createAgent({ loaded, registries: BUILTIN_REGISTRIES, logger });
  await agent.start();
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        resolve(1);
        return;
      }
      stopping = true;
      logger.info({ signal }, 'shutting down: finishing recorded decisions and active jobs');
      agent.stop().then(
        () => resolve(0),
        (e: unknown) => {
          logger.error({ err: e }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

function validate(file: string): number {
  const loaded = loadConfigFile(file, BUILTIN_REGISTRIES);
  const c = loaded.config;
  out(`${file}: valid (config hash ${loaded.hash})`);
  out(`  analysis: look every ${formatDuration(c.analysis.interval)}, alpha ${c.analysis.alpha} over ${c.analysis.metrics.filter((m) => !m.shadow).length} acting metric(s) [${c.analysis.metrics.map((m) => `${m.name}${m.shadow ? ' (shadow)' : ''}`).join(', ')}], burn-in ${c.analysis.minSamples} per cohort, promote after ${formatDuration(c.analysis.maxDuration)}`);
  out(`  plan: ${c.plan.join(' → ') || '(none)'}; ${c.rollouts.length} rollout override(s); ${c.connectors.length} connector(s), ${c.notifiers.length} notifier(s)`);
  out(`  queue: ${c.queue.redis ? 'BullMQ on Redis' : 'embedded (single node, not durable)'}; actions: ${c.actions.mode}`);
  for (const w of loaded.warnings) out(`  warning: ${w}`);
  return 0;
}

function positiveInt(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new CommanderError(2, 'commander.invalidArgument', `${what} must be a positive integer number of milliseconds`);
    return n;
  };
}

async function status(o: { api?: string; config?: string; token?: string; timeout: number }): Promise<number> {
  let api: string;
  if (o.api !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(o.api);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      err(`vigil status: --api must be an http(s) URL such as ${DEFAULT_API_URL} (got "${o.api}")`);
      return 2;
    }
    api = o.api;
  } else {
    api = o.config ? localApiUrl(readApiAddress(o.config)) : DEFAULT_API_URL;
  }
  // Read at action time, never as an option default: commander prints defaults in --help.
  const token = o.token ?? (process.env.VIGIL_TOKEN || undefined);
  return runStatus({ api, token, timeoutMs: o.timeout, out, err });
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = new Command()
    .name('vigil')
    .description('Watches canary releases through OpenTelemetry and rolls them back when they regress.\nDocs: README.md (quick start, configuration, statistics).')
    .version(vigilVersion(), '-V, --version', 'print the version of Vigil and exit')
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run vigil --help for usage)');

  program
    .command('serve')
    .description('Run the agent: OTLP/HTTP receiver (:4318), control API, dashboard and /metrics (:8080).\nWithout --config it runs on the embedded default (in-process queue, no Redis, no rollback plan).')
    .option('-c, --config <file>', 'YAML config file (see README "Configuration")')
    .action(async (o: { config?: string }) => {
      code = await serve(o);
    });

  program
    .command('validate')
    .description('Check a config file: prints a summary, or every problem with file, line, key and fix (exit 2).')
    .argument('<file>', 'YAML config file')
    .action((file: string) => {
      code = validate(file);
    });

  program
    .command('replay')
    .description('Replay recorded OTLP JSON lines (Collector file exporter; .gz accepted) through the same pipeline in event time.\nActions run in dry-run, notifications are off. One JSON line per decision on stdout, then a summary line.')
    .option('-c, --config <file>', 'YAML config file whose analysis settings to use (default: the embedded default config)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['json', 'text']).default('json'))
    .option('--audit <file>', 'where to write the replay\'s audit log (default: audit.jsonl in a new temporary directory; its path is printed at the end)')
    .argument('<files...>', 'OTLP JSON lines files')
    .action(async (files: string[], o: { config?: string; format: 'json' | 'text'; audit?: string }) => {
      const loaded = load(o.config);
      const logger = createLogger({ level: process.env.VIGIL_LOG_LEVEL ?? 'warn', destination: process.stderr });
      // Never a file in the current directory by surprise: a replay's audit log is a by-product.
      const tempDir = o.audit === undefined ? mkdtempSync(join(tmpdir(), 'vigil-replay-')) : undefined;
      const auditPath = o.audit ?? join(tempDir!, 'audit.jsonl');
      try {
        await runReplay({ loaded, registries: BUILTIN_REGISTRIES, files, logger, format: o.format, out, progress: err, auditPath });
      } finally {
        if (existsSync(auditPath)) err(`vigil replay: audit log written to ${auditPath}`);
        else if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      }
    });

  program
    .command('backtest')
    .description(BACKTEST_DESCRIPTION)
    .option('-c, --config <file>', 'YAML config file to backtest (default: the embedded default config)')
    .option('--trials <n>', 'A/A splits (trials) to run; each also runs every injected regression', parseTrials, DEFAULT_TRIALS)
    .option('--seed <n>', 'seed of the splits and injections: the same seed gives the same report', parseSeed, 1)
    .addOption(new Option('--inject <list>', 'regressions to inject, kind=factor comma-separated (kinds: error, latency, tail), or none').argParser(parseInject).default(DEFAULT_INJECTIONS(), DEFAULT_INJECT))
    .option('--canary-share <share>', 'pseudo-canary share of the split (default per service: rollouts[].expectedCanaryShare, else the canary\'s share in the recording, else 0.5)', parseShare)
    .option('--services <names>', 'only these services (comma-separated)', parseServices)
    .addOption(new Option('-f, --format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('-q, --quiet', 'no progress on stderr')
    .argument('<files...>', 'OTLP JSON lines files (Collector file exporter; .gz accepted)')
    .addHelpText('after', BACKTEST_HELP_AFTER)
    .action(async (files: string[], o: BacktestCliOptions) => {
      const loaded = load(o.config);
      const logger = createLogger({ level: process.env.VIGIL_LOG_LEVEL ?? 'warn', destination: process.stderr });
      code = await backtestCommand({ loaded, registries: BUILTIN_REGISTRIES, files, options: o, logger, out, progress: err });
    });

  program
    .command('demo')
    .description('A self-contained demo: real OTel SDK traffic with a canary at 5x the baseline error rate; Vigil detects it,\nrolls it back through a signed webhook and posts to a local chat endpoint. No Redis needed. Exits 0 on success.')
    .option('--requests <n>', 'requests per cohort per look', (v) => Number(v), 300)
    .action(async (o: { requests: number }) => {
      const ok = await runDemo({ registries: BUILTIN_REGISTRIES, print: out, requestsPerLook: o.requests });
      code = ok ? 0 : 1;
    });

  program
    .command('connectors')
    .description('Check connectors and notifiers before trusting the plan (see "connectors test --help").')
    .command('test')
    .description('Build one connector or notifier of the config as the agent does, run its health check, then a dry run on a\nsynthetic TEST decision: plan connectors apply with dryRun (touching nothing); notifiers print the request they\nwould post (credentials hidden) without posting, or post a marked test notification with --send.\nExit 0 passed, 1 a check failed, 2 bad usage, unknown name or invalid config.')
    .argument('<name>', 'the connector or notifier name (its `name:` in the config)')
    .requiredOption('-c, --config <file>', 'YAML config file that defines it')
    .option('--send', 'really send the test: notifiers post the notification, webhook connectors deliver the signed event (both marked test and dry-run); refused for connectors that would act')
    .addOption(new Option('--outcome <outcome>', 'the synthetic decision').choices(['rollback', 'promote']).default('rollback'))
    .option('--timeout <ms>', 'time limit of the health check and of the dry run, each', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new CommanderError(2, 'commander.invalidArgument', 'must be a positive integer number of milliseconds');
      return n;
    }, 30_000)
    .action(async (name: string, o: { config: string; send?: boolean; outcome: 'rollback' | 'promote'; timeout: number }) => {
      const { runConnectorTest } = await import('./connectors-test.js');
      const loaded = load(o.config);
      const logger = createLogger({ level: process.env.VIGIL_LOG_LEVEL ?? 'warn', destination: process.stderr });
      code = await runConnectorTest({
        loaded, registries: BUILTIN_REGISTRIES, name, send: o.send === true, outcome: o.outcome, timeoutMs: o.timeout, logger, out, err,
      });
    });

  program
    .command('status')
    .description('Show every analysis of a running agent, its phase and why it is there.')
    .option('--api <url>', `the agent's API base URL (default: ${DEFAULT_API_URL}, or the API address of --config)`)
    .option('-c, --config <file>', 'take the API address from this config\'s server.api host and port (a wildcard host such as 0.0.0.0 means this machine); publicUrl is not used, give it with --api to go through it')
    .option('--token <token>', 'bearer token, one of the agent\'s server.auth.tokens (default: $VIGIL_TOKEN)')
    .option('--timeout <ms>', 'give up when the agent has not answered within this time', positiveInt('--timeout'), 5000)
    .action(async (o: { api?: string; config?: string; token?: string; timeout: number }) => {
      code = await status(o);
    });

  try {
    await program.parseAsync(argv);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    return fail(e);
  }
}
