/**
 * `vigil serve | validate | replay | demo | status | decisions | report | pause | resume | rollback | promote`. Exit codes: 0 ok, 1 runtime failure, 2 bad config or
 * bad usage. Data goes to stdout, progress and logs to stderr.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import {
  ConfigError,
  defaultConfig,
  loadConfigFile,
  readApiAddress,
  type LoadedConfig,
  type ParseOptions,
} from './config/load.js';
import { formatDuration } from './config/duration.js';
import { runDemo } from './demo/run-demo.js';
import { isVigilError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { createAgent, type StopReport } from './main.js';
import { BUILTIN_REGISTRIES } from './registries.js';
import { runReplay } from './replay/run-replay.js';
import { renderDrill, runDrill, type DrillTarget } from './drill/run-drill.js';
import { DEFAULT_API_URL, localApiUrl, runApprove, runOperator, runStatus } from './status.js';
import { OPERATOR_ACTIONS, type OperatorAction } from './agent/operator.js';
import { indicatorsOf } from './analysis/settings.js';
import { MISSING_INDICATOR_LOOKS } from './analysis/look-runner.js';
import { examples, helpWidth, wrapHelpText } from './cli-help.js';
import { vigilVersion } from './version.js';
import {
  BACKTEST_DESCRIPTION,
  BACKTEST_HELP_AFTER,
  DEFAULT_INJECT,
  DEFAULT_INJECTIONS,
  DEFAULT_TRIALS,
  backtestCommand,
  parseInject,
  parseSeed,
  parseServices,
  parseShare,
  parseTrials,
  type BacktestCliOptions,
} from './backtest/backtest-command.js';

const out = (s: string) => process.stdout.write(`${s}\n`);
const err = (s: string) => process.stderr.write(`${s}\n`);

/**
 * The config of a command: the file, or the embedded default. `serving` (serve, validate) adds the checks of
 * an agent that serves its control API: bearer tokens or `server.auth.open: true` (without a file: VIGIL_TOKEN).
 */
function load(file: string | undefined, opts: ParseOptions = {}): LoadedConfig {
  return file ? loadConfigFile(file, BUILTIN_REGISTRIES, process.env, opts) : defaultConfig(BUILTIN_REGISTRIES, opts);
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

/** Exits with `code` after `ms` unless the process ends by itself first (a timer that does not keep it alive): what
 *  a shutdown gave up on (a connection to a frozen Redis, a connector call) must not keep it running. The log lines
 *  are flushed on exit (pino). */
function exitSoon(code: number, ms = 500): void {
  setTimeout(() => process.exit(code), ms).unref();
}

/** How long past `server.shutdownTimeout` the CLI waits for the agent's own bounded shutdown before it exits anyway. */
const SHUTDOWN_WATCHDOG_MARGIN_MS = 5_000;

/** The end of a shutdown, in one log line: what was left undone, if anything. Exit 0 only when nothing was. */
function reportShutdown(logger: Logger, report: StopReport, timeoutMs: number): number {
  const shutdownTimeout = formatDuration(timeoutMs);
  if (report.timedOut) {
    logger.error(
      { undone: report.undone, shutdownTimeout },
      `shutdown did not finish within server.shutdownTimeout (${shutdownTimeout}): exiting with work left undone: ${report.undone.join('; ')}`,
    );
    return 1;
  }
  if (report.undone.length > 0) {
    logger.warn({ undone: report.undone }, `shut down with work left undone: ${report.undone.join('; ')}`);
    return 1;
  }
  logger.info('shut down');
  return 0;
}

async function serve(opts: { config?: string }): Promise<number> {
  const loaded = load(opts.config, { serving: true });
  const logger = createLogger({ level: loaded.config.logging.level });
  const agent = createAgent({ loaded, registries: BUILTIN_REGISTRIES, logger, recoverPlans: true });
  await agent.start();
  const timeoutMs = loaded.config.server.shutdownTimeout;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        exitSoon(1);
        resolve(1);
        return;
      }
      stopping = true;
      logger.info(
        { signal, shutdownTimeout: formatDuration(timeoutMs) },
        'shutting down: finishing recorded decisions, active jobs and the last checkpoint',
      );
      const watchdog = setTimeout(() => {
        logger.fatal({ signal }, 'shutdown hung past server.shutdownTimeout: exiting now');
        process.exit(1);
      }, timeoutMs + SHUTDOWN_WATCHDOG_MARGIN_MS);
      watchdog.unref();
      agent.shutdown().then(
        (report) => {
          clearTimeout(watchdog);
          const code = reportShutdown(logger, report, timeoutMs);
          if (report.timedOut) exitSoon(code, 50);
          resolve(code);
        },
        (e: unknown) => {
          clearTimeout(watchdog);
          logger.error({ err: e }, 'shutdown failed');
          exitSoon(1);
          resolve(1);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

function validate(file: string): number {
  const loaded = load(file, { serving: true });
  const c = loaded.config;
  out(`${file}: valid (config hash ${loaded.hash})`);
  out(
    `  analysis: look every ${formatDuration(c.analysis.interval)}, alpha ${c.analysis.alpha} over ${c.analysis.metrics.filter((m) => !m.shadow).length} acting metric(s) [${c.analysis.metrics.map((m) => `${m.name}${m.shadow ? ' (shadow)' : ''}`).join(', ')}], burn-in ${c.analysis.minSamples} per cohort, promote after ${formatDuration(c.analysis.maxDuration)}`,
  );
  out(
    `  plan: ${c.plan.join(' → ') || '(none)'}; ${c.rollouts.length} rollout override(s); ${c.connectors.length} connector(s), ${c.notifiers.length} notifier(s)`,
  );
  out(
    `  queue: ${c.queue.redis ? 'BullMQ on Redis' : 'embedded (single node, not durable)'}; actions: ${c.actions.mode}`,
  );
  const tokens = c.server.auth.tokens.length;
  out(
    `  control API: ${c.server.auth.open ? 'OPEN to anyone who can reach it (server.auth.open: true)' : `${tokens} bearer token${tokens === 1 ? '' : 's'}`}`,
  );
  for (const line of indicatorLines(loaded)) out(line);
  for (const w of loaded.warnings) out(`  warning: ${w}`);
  return 0;
}

/**
 * What the metrics that read more than the requests read (OTLP metric names are free text: nothing here can check
 * them; the agent says so when one never arrives: "memory: no process.memory.usage points from either cohort in
 * 12 looks").
 */
function indicatorLines(loaded: LoadedConfig): string[] {
  const { byMetric } = indicatorsOf(loaded);
  const reads = loaded.config.analysis.metrics.flatMap((m, i) => {
    const p = byMetric[i];
    return p === undefined ? [] : [`${m.name} ← ${p.otlp}`];
  });
  if (reads.length === 0) return [];
  return [
    `  reads: ${reads.join('; ')}`,
    `  (metric names are not checked here: the agent logs a warning for a metric with no points from either cohort in ${MISSING_INDICATOR_LOOKS} looks)`,
  ];
}

function positiveInt(what: string, unit = 'milliseconds') {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      throw new CommanderError(2, 'commander.invalidArgument', `${what} must be a positive integer number of ${unit}`);
    return n;
  };
}

/** Where the agent's API is (--api, else --config's server.api, else the default) and the token (--token, else
 *  $VIGIL_TOKEN, read at action time: commander prints option defaults in --help); a bad --api is exit code 2. */
function apiTarget(o: ApiClientOpts, verb: string): { api: string; token: string | undefined } | number {
  let api: string;
  if (o.api !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(o.api);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      err(`vigil ${verb}: --api must be an http(s) URL such as ${DEFAULT_API_URL} (got "${o.api}")`);
      return 2;
    }
    api = o.api;
  } else {
    api = o.config ? localApiUrl(readApiAddress(o.config)) : DEFAULT_API_URL;
  }
  return { api, token: o.token ?? (process.env.VIGIL_TOKEN || undefined) };
}

type ApiClientOpts = { api?: string; config?: string; token?: string; timeout: number };

async function status(o: ApiClientOpts, what: 'analyses' | 'decisions' = 'analyses'): Promise<number> {
  const target = apiTarget(o, what === 'analyses' ? 'status' : 'decisions');
  if (typeof target === 'number') return target;
  return runStatus({ ...target, timeoutMs: o.timeout, out, err, what });
}

/** Adds the text after a command's help, wrapped to the width of the stream the help goes to. */
function after(cmd: Command, text: string): Command {
  return cmd.addHelpText('after', (ctx) => wrapHelpText(text, helpWidth(ctx.error ? process.stderr : process.stdout)));
}

/** "vigil connectors test" for a (sub)command. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Usage errors are ONE line: "vigil status: unknown option '--frob' (see vigil status --help)".
 * Commander's own error text starts with "error: "; the command's path replaces it.
 */
function oneLineUsageErrors(cmd: Command): void {
  const path = commandPath(cmd);
  cmd.configureOutput({
    outputError: (str, write) =>
      write(
        `${path}: ${str
          .trim()
          .replace(/^error: /, '')
          .replace(/\s*\n\s*/g, ' ')} (see ${path} --help)\n`,
      ),
  });
  for (const sub of cmd.commands) oneLineUsageErrors(sub);
}

/** How a command's action reports its exit code to `main`. */
type SetExitCode = (code: number) => void;

/** The `vigil` program with its description, version and help, without its commands. */
function rootProgram(): Command {
  const program = new Command()
    .name('vigil')
    .description(
      'Watches canary releases through OpenTelemetry and rolls them back when they regress. Docs: README.md (quick start, configuration, statistics), docs/ (detectors, connectors, ingest).',
    )
    .version(vigilVersion(), '-V, --version', 'print the version of Vigil and exit')
    .exitOverride()
    // commander leaves descriptions unwrapped when their column is narrower than 40; 20 still reads well
    .configureHelp({ minWidthToWrap: 20 })
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
      getOutHelpWidth: () => helpWidth(process.stdout),
      getErrHelpWidth: () => helpWidth(process.stderr),
    });
  after(
    program,
    [
      '',
      'Exit codes: 0 ok, 1 runtime failure, 2 bad config or bad usage. Data goes to stdout; progress, logs and errors to stderr. Run "vigil <command> --help" for the options and examples of each command.',
      examples([
        ['embedded default: OTLP on :4317 (gRPC) and :4318 (HTTP), API on :8080', 'VIGIL_TOKEN=… vigil serve'],
        ['every problem of a config, with file, line, key and fix', 'vigil validate vigil.yaml'],
        ['', 'vigil serve --config vigil.yaml'],
        ['', 'vigil status --config vigil.yaml'],
        [
          'health check and dry run of one connector or notifier',
          'vigil connectors test kill-flag --config vigil.yaml',
        ],
      ]),
    ].join('\n'),
  );
  return program;
}

/** `vigil serve`: the agent. */
function addServe(program: Command, setCode: SetExitCode): void {
  after(
    program
      .command('serve')
      .summary('Run the agent: OTLP in; decisions, rollbacks and notifications out.')
      .description(
        'Run the agent. It listens on three ports: 4317 for OTLP/gRPC and 4318 for OTLP/HTTP (traces and metrics from Collectors and SDKs), and 8080 for the control API, the dashboard and Prometheus /metrics (server.otlpGrpc, server.otlpHttp and server.api in the config change them). --config is optional: without it the agent runs on the embedded default (in-process queue, no Redis, no rollback plan: decisions are recorded, nothing is rolled back) and takes the bearer token of its control API from VIGIL_TOKEN. It refuses to start when the control API would have no token: set server.auth.tokens, or server.auth.open: true to open it on purpose. SIGTERM or SIGINT stops it gracefully: OTLP is refused, recorded decisions reach the queue, active jobs finish, the last checkpoint is saved; after server.shutdownTimeout (30s) it exits anyway, Redis down or not, and logs what it left undone (exit 1).',
      )
      .option('-c, --config <file>', 'YAML config file (optional; see README.md#configuration)')
      .action(async (o: { config?: string }) => {
        setCode(await serve(o));
      }),
    examples([
      ['the embedded default (the API token from VIGIL_TOKEN)', 'VIGIL_TOKEN=… vigil serve'],
      ['', 'vigil serve --config /etc/vigil/vigil.yaml'],
      ['check first, then run', 'vigil validate vigil.yaml && vigil serve --config vigil.yaml'],
    ]),
  );
}

/** `vigil validate`: a config file checked as serve would load it. */
function addValidate(program: Command, setCode: SetExitCode): void {
  after(
    program
      .command('validate')
      .summary('Check a config file: a summary, or every problem with its fix.')
      .description(
        'Check a config file as serve would load it: YAML, ${VAR} substitution, every key and its range, the durations against each other, the authentication of the control API, detector and connector options, and the connectors the plans name. Prints a summary (exit 0), or every problem at once with file, line, key, what is wrong and how to fix it, with a link to the docs (exit 2). Values that come from environment variables are never printed.',
      )
      .argument('<file>', 'YAML config file')
      .action((file: string) => {
        setCode(validate(file));
      }),
    examples([
      ['', 'vigil validate vigil.yaml'],
      [
        'with the variables the config references set, as the agent will have them',
        'HOOK_SECRET=… SLACK_WEBHOOK_URL=… vigil validate vigil.yaml',
      ],
    ]),
  );
}

/** `vigil replay`: recorded OTLP through the pipeline, in dry-run. */
function addReplay(program: Command, _setCode: SetExitCode): void {
  after(
    program
      .command('replay')
      .summary('Replay recorded OTLP JSON lines through the pipeline, in dry-run.')
      .description(
        "Replay recorded OTLP JSON lines (the Collector's file exporter; .gz accepted) through the same pipeline in event time. Actions run in dry-run and notifications are off. Prints one JSON line per decision on stdout, then a summary line. The audit log goes to a new temporary directory unless --audit names a file; its path is printed on stderr at the end.",
      )
      .option(
        '-c, --config <file>',
        'YAML config file whose analysis settings to use (default: the embedded default config)',
      )
      .addOption(new Option('-f, --format <format>', 'output format').choices(['json', 'text']).default('json'))
      .option(
        '--audit <file>',
        "where to write the replay's audit log (default: audit.jsonl in a new temporary directory)",
      )
      .argument('<files...>', 'OTLP JSON lines files')
      .action(async (files: string[], o: { config?: string; format: 'json' | 'text'; audit?: string }) => {
        const loaded = load(o.config);
        const logger = createLogger({ level: process.env.VIGIL_LOG_LEVEL ?? 'warn', destination: process.stderr });
        // Never a file in the current directory by surprise: a replay's audit log is a by-product.
        const tempDir = o.audit === undefined ? mkdtempSync(join(tmpdir(), 'vigil-replay-')) : undefined;
        const auditPath = o.audit ?? join(tempDir!, 'audit.jsonl');
        try {
          await runReplay({
            loaded,
            registries: BUILTIN_REGISTRIES,
            files,
            logger,
            format: o.format,
            out,
            progress: err,
            auditPath,
          });
        } finally {
          if (existsSync(auditPath)) err(`vigil replay: audit log written to ${auditPath}`);
          else if (tempDir) rmSync(tempDir, { recursive: true, force: true });
        }
      }),
    examples([
      ['', 'vigil replay traces.jsonl.gz'],
      ['', 'vigil replay --config vigil.yaml --format text traces.jsonl.gz'],
      ['keep the audit log', 'vigil replay --config vigil.yaml --audit replay-audit.jsonl a.jsonl b.jsonl'],
    ]),
  );
}

/** `vigil drill`: a rollback rehearsed end to end, in this process (issue 17). */
function addDrill(program: Command, setCode: SetExitCode): void {
  after(
    program
      .command('drill')
      .summary('Rehearse a rollback end to end: synthetic regression, real detectors, the plan against the connectors.')
      .description(
        "Rehearse a rollback of one service end to end, in this process (no running agent needed): synthetic telemetry of a regressed canary (a drill version, never a real one) goes through the real pipeline (cohort rules, looks, the configured detectors and decision engine, audit log, plan runner, connectors). --target drill (the default): every connector and notifier runs its health check, the plan runs as a dry run and no notification is posted: nothing real is touched. --target live: the plan really runs against the connectors as configured and the notifiers post, every event marked as a drill (CloudEvents extension vigildrill, chat titles [DRILL]): point a drill config at drill targets. The queue is always embedded (never the config's Redis) and the audit log temporary. Prints time to detect, time to decide, each plan step with its answer and time, and what failed with the fix. Exit 0 passed, 1 a check, the decision or a step failed, 2 bad usage or invalid config.",
      )
      .requiredOption('-c, --config <file>', 'YAML config file whose detectors, plans and connectors to rehearse')
      .requiredOption(
        '-s, --service <name>',
        'the service whose rollback plan to rehearse (rollouts[].plan, else plan)',
      )
      .addOption(
        new Option('-t, --target <target>', 'drill: dry runs; live: the plan really runs')
          .choices(['drill', 'live'])
          .default('drill'),
      )
      .option('--json', 'print the report as one JSON object')
      .action(async (o: { config: string; service: string; target: DrillTarget; json?: boolean }) => {
        const loaded = load(o.config);
        const logger = createLogger({ level: process.env.VIGIL_LOG_LEVEL ?? 'warn', destination: process.stderr });
        const report = await runDrill({
          loaded,
          registries: BUILTIN_REGISTRIES,
          service: o.service,
          target: o.target,
          logger,
          progress: err,
        });
        if (o.json) out(JSON.stringify(report));
        else for (const line of renderDrill(report, loaded.config.analysis.interval)) out(line);
        setCode(report.passed ? 0 : 1);
      }),
    examples([
      ['rehearse with dry runs (touches nothing)', 'vigil drill --config vigil.yaml --service checkout'],
      ['against drill targets, for real', 'vigil drill --config drill.yaml --service checkout --target live'],
      ['for a scheduler (exit code, JSON)', 'vigil drill -c vigil.yaml -s checkout --json'],
    ]),
  );
}

/** `vigil backtest`: false rollbacks and detection delay of a config, on recorded traffic. */
function addBacktest(program: Command, setCode: SetExitCode): void {
  after(
    program
      .command('backtest')
      .summary('False rollbacks and detection delay of a config, on recorded traffic.')
      .description(BACKTEST_DESCRIPTION)
      .option('-c, --config <file>', 'YAML config file to backtest (default: the embedded default config)')
      .option(
        '--trials <n>',
        'A/A splits (trials) to run; each also runs every injected regression',
        parseTrials,
        DEFAULT_TRIALS,
      )
      .option('--seed <n>', 'seed of the splits and injections: the same seed gives the same report', parseSeed, 1)
      .addOption(
        new Option(
          '--inject <list>',
          'regressions to inject, kind=factor comma-separated (kinds: error, latency, tail), or none',
        )
          .argParser(parseInject)
          .default(DEFAULT_INJECTIONS(), DEFAULT_INJECT),
      )
      .option(
        '--canary-share <share>',
        "pseudo-canary share of the split (default per service: rollouts[].expectedCanaryShare, else the canary's share in the recording, else 0.5)",
        parseShare,
      )
      .option('--services <names>', 'only these services (comma-separated)', parseServices)
      .addOption(new Option('-f, --format <format>', 'output format').choices(['text', 'json']).default('text'))
      .option('-q, --quiet', 'no progress on stderr')
      .argument('<files...>', 'OTLP JSON lines files (Collector file exporter; .gz accepted)')
      .action(async (files: string[], o: BacktestCliOptions) => {
        const loaded = load(o.config);
        const logger = createLogger({ level: process.env.VIGIL_LOG_LEVEL ?? 'warn', destination: process.stderr });
        setCode(await backtestCommand({ loaded, files, options: o, logger, out, progress: err }));
      }),
    BACKTEST_HELP_AFTER,
  );
}

/** `vigil demo`: the self-contained demo. */
function addDemo(program: Command, setCode: SetExitCode): void {
  after(
    program
      .command('demo')
      .summary('A self-contained demo: a 5x error regression detected and rolled back.')
      .description(
        'A self-contained demo: real OpenTelemetry SDK traffic with a canary that fails 5 times as often as its baseline. Vigil detects it, rolls it back through a signed webhook and posts to a local chat endpoint. No Redis needed. Exits 0 on success.',
      )
      .option('--requests <n>', 'requests per cohort per look', positiveInt('--requests', 'requests'), 300)
      .action(async (o: { requests: number }) => {
        const ok = await runDemo({ registries: BUILTIN_REGISTRIES, print: out, requestsPerLook: o.requests });
        setCode(ok ? 0 : 1);
      }),
    examples([
      ['', 'vigil demo'],
      ['more traffic per look', 'vigil demo --requests 1000'],
    ]),
  );
}

/** `vigil connectors test`: one connector or notifier checked and dry-run. */
function addConnectors(program: Command, setCode: SetExitCode): void {
  const connectors = after(
    program
      .command('connectors')
      .summary('Check connectors and notifiers before trusting the plan.')
      .description(
        'Check connectors and notifiers before trusting the plan: "vigil connectors test <name>" builds one as the agent does, runs its health check and a dry run.',
      )
      .usage('[options] [command]')
      .argument('[command]')
      .action((sub: string | undefined) => {
        connectors.error(
          sub === undefined ? 'missing command: test' : `unknown command '${sub}': the command is test`,
          { exitCode: 2, code: 'commander.missingArgument' },
        );
      }),
    examples([['', 'vigil connectors test kill-flag --config vigil.yaml']]),
  );
  after(
    connectors
      .command('test')
      .summary('Health check and dry run (or a marked test send) of one connector or notifier.')
      .description(
        'Build one connector or notifier of the config as the agent does, run its health check, then a dry run on a synthetic TEST decision: plan connectors apply with dryRun, touching nothing; notifiers print the request they would post (credentials hidden) without posting. With --send, notifiers post the test notification and webhook connectors deliver the signed event, both marked test and dry-run; the URLs printed keep scheme, host and port and hide path segments that look like tokens and the values of secret query parameters. Exit 0 passed, 1 a check failed, 2 bad usage, unknown name or invalid config.',
      )
      .argument('<name>', 'the connector or notifier name (its `name:` in the config)')
      .requiredOption('-c, --config <file>', 'YAML config file that defines it')
      .option(
        '--send',
        'really send the test: notifiers post the notification, webhook connectors deliver the signed event (both marked test and dry-run); refused for connectors that would act',
      )
      .addOption(
        new Option('--outcome <outcome>', 'the synthetic decision')
          .choices(['rollback', 'promote'])
          .default('rollback'),
      )
      .option(
        '--timeout <ms>',
        'time limit of the health check and of the dry run, each',
        positiveInt('--timeout'),
        30_000,
      )
      .action(
        async (
          name: string,
          o: { config: string; send?: boolean; outcome: 'rollback' | 'promote'; timeout: number },
        ) => {
          const { runConnectorTest } = await import('./connectors-test.js');
          const loaded = load(o.config);
          const logger = createLogger({ level: process.env.VIGIL_LOG_LEVEL ?? 'warn', destination: process.stderr });
          setCode(
            await runConnectorTest({
              loaded,
              registries: BUILTIN_REGISTRIES,
              name,
              send: o.send === true,
              outcome: o.outcome,
              timeoutMs: o.timeout,
              logger,
              out,
              err,
            }),
          );
        },
      ),
    examples([
      ['health check + dry run of a plan connector', 'vigil connectors test kill-flag --config vigil.yaml'],
      ['the request a notifier WOULD post (credential hidden)', 'vigil connectors test teams-ops --config vigil.yaml'],
      ['post a marked TEST notification for real', 'vigil connectors test teams-ops --config vigil.yaml --send'],
      ['preview the resolve event', 'vigil connectors test pager --config vigil.yaml --outcome promote'],
    ]),
  );
}

/** The options of the verbs that ask a running agent (status, decisions, report, pause, resume, rollback, promote): where
 *  the agent's API is, the token, the timeout. */
function apiClientOptions(cmd: Command): Command {
  return cmd
    .option('--api <url>', `the agent's API base URL (default: ${DEFAULT_API_URL}, or the API address of --config)`)
    .option('-c, --config <file>', "take the API host and port from this config's server.api")
    .option('--token <token>', "bearer token, one of the agent's server.auth.tokens (default: $VIGIL_TOKEN)")
    .option(
      '--timeout <ms>',
      'give up when the agent has not answered within this time',
      positiveInt('--timeout'),
      5000,
    );
}

const WHERE_THE_API_IS = `It asks the API at --api, else at the host and port of server.api in --config (the address an operator on the agent's machine uses: a wildcard host such as 0.0.0.0 means 127.0.0.1; publicUrl is not used), else at ${DEFAULT_API_URL}. When the agent cannot be reached or refuses, it prints one line naming the URL and the reason, and exits 1.`;

/** `vigil status`: the analyses of a running agent; `vigil decisions`: its recent decisions. */
function addStatus(program: Command, setCode: SetExitCode): void {
  type Opts = ApiClientOpts;
  after(
    apiClientOptions(
      program
        .command('status')
        .summary('List the analyses of a running agent.')
        .description(`Show every analysis of a running agent, its phase and why it is there. ${WHERE_THE_API_IS}`),
    ).action(async (o: Opts) => {
      setCode(await status(o));
    }),
    examples([
      ['', 'vigil status'],
      ['the agent of this config, on this machine', 'vigil status --config /etc/vigil/vigil.yaml'],
      ['through its public address', 'VIGIL_TOKEN=… vigil status --api https://vigil.example.com'],
    ]),
  );
  after(
    apiClientOptions(
      program
        .command('decisions')
        .summary('List the recent decisions of a running agent.')
        .description(
          `Show the recent decisions of a running agent (in cluster mode, of the whole cluster), newest first: id, analysis, outcome, look, event time and why; every decision is also in the audit log. ${WHERE_THE_API_IS}`,
        ),
    ).action(async (o: Opts) => {
      setCode(await status(o, 'decisions'));
    }),
    examples([
      ['', 'vigil decisions'],
      ['the agent of this config, on this machine', 'vigil decisions --config /etc/vigil/vigil.yaml'],
    ]),
  );
}

const OPERATOR_VERBS: Record<OperatorAction, { summary: string; description: string; example: [string, string] }> = {
  pause: {
    summary: 'Hold the decisions of a running analysis.',
    description:
      'Pause a running analysis: its looks go on and are shown, nothing is decided (no rollback, no promotion) until it is resumed. Pausing a paused analysis changes nothing.',
    example: ['hold a canary while you look', 'vigil pause a-1f2e… --by alice --reason "checking a dependency outage"'],
  },
  resume: {
    summary: 'Lift a pause, or let a decided version be analysed again.',
    description:
      'Resume an analysis: a paused one decides again from its next look; a decided one (rolled back, promoted, abandoned) lets its canary version be analysed again as a new analysis (a version Vigil rolled back stays rolled back until someone resumes it).',
    example: [
      'after fixing a false alarm',
      'vigil resume a-1f2e… --by alice --reason "the error spike was the test harness"',
    ],
  },
  rollback: {
    summary: "Roll a canary back by hand: the service's plan runs now.",
    description:
      "Decide a running (or paused) analysis as rollback by hand: the decision is recorded with who and why, announced in chat and the service's rollback plan runs, as if a metric had failed (the storm guard does not hold a person's rollback).",
    example: ['', 'vigil rollback a-1f2e… --by alice --reason "customers report broken checkout"'],
  },
  promote: {
    summary: 'Promote a canary by hand: its analysis ends as passed.',
    description:
      'Decide a running (or paused) analysis as promote by hand: recorded with who and why and announced in chat; rollout controllers asking the judge (Argo Rollouts, Flagger) get a pass. No plan runs.',
    example: ['', 'vigil promote a-1f2e… --by alice --reason "signed off by the checkout team"'],
  },
};

/** `vigil pause|resume|rollback|promote ANALYSIS --by --reason`: an operator's action through the agent's API. */
function addOperatorVerbs(program: Command, setCode: SetExitCode): void {
  for (const action of OPERATOR_ACTIONS) {
    const verb = OPERATOR_VERBS[action];
    after(
      apiClientOptions(
        program
          .command(`${action} <analysis>`)
          .summary(verb.summary)
          .description(
            `${verb.description} The action is recorded in the audit log with --by and --reason verbatim and the name of the token used; it needs a token with the operate scope. ANALYSIS is an analysis id (vigil status lists them). ${WHERE_THE_API_IS}`,
          )
          .requiredOption('--by <who>', 'who acts (a person, recorded verbatim)')
          .requiredOption('--reason <why>', 'why (recorded verbatim, shown in chat and reports)'),
      ).action(async (analysis: string, o: ApiClientOpts & { by: string; reason: string }) => {
        const target = apiTarget(o, action);
        if (typeof target === 'number') return setCode(target);
        setCode(
          await runOperator({
            ...target,
            timeoutMs: o.timeout,
            out,
            err,
            action,
            analysis,
            by: o.by,
            reason: o.reason,
          }),
        );
      }),
      examples([
        verb.example,
        [
          'through the public address',
          `VIGIL_TOKEN=… vigil ${action} ID --by bob --reason "…" --api https://vigil.example.com`,
        ],
      ]),
    );
  }
  addApprove(program, setCode);
}

/** `vigil approve`: the gated step of a promotion plan (docs/promotion.md). */
function addApprove(program: Command, setCode: SetExitCode): void {
  after(
    apiClientOptions(
      program
        .command('approve <analysis>')
        .summary('Approve the step a promotion plan waits at.')
        .description(
          `Lets the promotion plan of an analysis set the canary share it waits at (a step listed in rollouts[].promote.approve). Recorded in the audit log with --by and --reason verbatim and the name of the token used; needs a token with the operate scope. Exit 1 when the plan is not waiting for an approval (409) or runs for no such analysis (404). ${WHERE_THE_API_IS}`,
        )
        .requiredOption('--by <who>', 'who approves (a person, recorded verbatim)')
        .requiredOption('--reason <why>', 'why (recorded verbatim)'),
    ).action(async (analysis: string, o: ApiClientOpts & { by: string; reason: string }) => {
      const target = apiTarget(o, 'approve');
      if (typeof target === 'number') return setCode(target);
      setCode(await runApprove({ ...target, timeoutMs: o.timeout, out, err, analysis, by: o.by, reason: o.reason }));
    }),
    examples([['the 50% step of checkout', 'vigil approve checkout:1.4.2 --by alice --reason "error budget fine"']]),
  );
}

/** `vigil report`: a decision's report from a running agent. */
function addReport(program: Command, setCode: SetExitCode): void {
  after(
    apiClientOptions(
      program
        .command('report')
        .summary("Print a decision's report (Markdown or HTML) from a running agent.")
        .description(
          `Print the report of one decision of a running agent: what was compared, the evidence look by look, why it decided, the rollback plan's steps with their answers and timings, the manual actions with who and why, the config hash, and how to resume. Markdown by default; --format html writes the page a browser shows (the link in chat messages). The id is a decision's (vigil decisions lists them). ${WHERE_THE_API_IS} An unknown id is one line with HTTP 404, exit 1.`,
        )
        .argument('<id>', 'the decision id (vigil decisions)')
        .addOption(new Option('-f, --format <format>', 'output format').choices(['md', 'html']).default('md')),
    ).action(async (id: string, o: ApiClientOpts & { format: 'md' | 'html' }) => {
      const target = apiTarget(o, 'report');
      if (typeof target === 'number') return setCode(target);
      const write = (text: string) => process.stdout.write(text);
      const { runReport } = await import('./report-client.js');
      setCode(await runReport({ ...target, id, format: o.format, timeoutMs: o.timeout, write, err }));
    }),
    examples([
      ['', 'vigil report d-3f2a9c41b7e05d18'],
      ['the agent of this config, on this machine', 'vigil report d-3f2a9c41b7e05d18 --config /etc/vigil/vigil.yaml'],
      ['a page to open in a browser', 'vigil report d-3f2a9c41b7e05d18 --format html > report.html'],
    ]),
  );
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const setCode: SetExitCode = (c) => {
    code = c;
  };
  const program = rootProgram();
  for (const add of [
    addServe,
    addValidate,
    addReplay,
    addBacktest,
    addDrill,
    addDemo,
    addConnectors,
    addStatus,
    addReport,
    addOperatorVerbs,
  ])
    add(program, setCode);
  oneLineUsageErrors(program);
  try {
    await program.parseAsync(argv);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    return fail(e);
  }
}
