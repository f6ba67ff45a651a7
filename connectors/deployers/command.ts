import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import type {
  ActionContext,
  ActionResult,
  ConnectorFactory,
  PlanConnector,
  RollbackTarget,
} from '../../src/contracts/connector.js';
import { VigilError } from '../../src/errors.js';
import { abortedError } from '../shared/http.js';
import { parseOptions } from '../shared/options.js';
import { type RunResult, runProcess } from '../shared/run-process.js';
import { withBindings } from '../shared/log.js';

const TYPE = 'command';

/** Placeholders allowed in `command` and `check` arguments, filled from the decision. */
const PLACEHOLDERS = {
  service: (t: RollbackTarget) => t.service,
  analysisId: (t: RollbackTarget) => t.analysisId,
  decisionId: (t: RollbackTarget) => t.decisionId,
  canaryVersion: (t: RollbackTarget) => t.canaryVersion,
  baselineVersion: (t: RollbackTarget) => t.baselineVersion,
} as const;
type Placeholder = keyof typeof PLACEHOLDERS;
const PLACEHOLDER = /\{([A-Za-z]+)\}/g;
/**
 * What a value must look like to be put into an argument: versions and names come from telemetry
 * (`service.version`), so they must not smuggle flags ("--force") or odd characters into someone's CLI.
 */
const SAFE_VALUE = /^[A-Za-z0-9][A-Za-z0-9._:+@/=-]{0,199}$/;

const argv = (what: string) =>
  z
    .array(z.string({ error: 'must be a list of strings' }).min(1, { error: 'must not hold empty strings' }), {
      error: `must be a list: ${what}, e.g. [helm, rollback, checkout]`,
    })
    .min(1, { error: `must name a program: ${what}` })
    .superRefine((args, ctx) => {
      for (const a of args) {
        for (const m of a.matchAll(PLACEHOLDER)) {
          if (!(m[1]! in PLACEHOLDERS)) {
            ctx.addIssue({
              code: 'custom',
              message: `uses unknown placeholder {${m[1]}} (known: ${Object.keys(PLACEHOLDERS)
                .map((k) => `{${k}}`)
                .join(', ')})`,
            });
          }
        }
      }
    });

const schema = z
  .strictObject({
    command: argv('the program and its arguments (no shell), run to roll back'),
    check: argv('a program that exits 0 when the rollback state is already in place').optional(),
    shell: z.boolean({ error: 'must be true or false' }).default(false),
    env: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'has a name that is not an environment variable name' }),
        z.string({ error: 'values must be strings' }),
        {
          error: 'must be a mapping of environment variable names to values',
        },
      )
      .default({}),
    inheritEnv: z.boolean({ error: 'must be true or false' }).default(true),
    cwd: z
      .string({ error: 'must be a string' })
      .refine(isAbsolute, { error: 'must be an absolute directory path' })
      .optional(),
    timeoutMs: z
      .int({ error: 'must be an integer number of milliseconds' })
      .min(1, { error: 'must be at least 1 ms' })
      .max(600_000, { error: 'must be at most 600000 ms (10 min)' })
      .default(30_000),
    retryOnFailure: z.boolean({ error: 'must be true or false' }).default(false),
    maxOutputBytes: z
      .int({ error: 'must be an integer number of bytes' })
      .min(64, { error: 'must be at least 64' })
      .max(65_536, { error: 'must be at most 65536: the output goes into the audit log and chat' })
      .default(2_048),
  })
  .superRefine((o, ctx) => {
    if (!o.shell) return;
    if (o.command.length !== 1)
      ctx.addIssue({
        code: 'custom',
        path: ['command'],
        message: 'with shell: true must be ONE string, the script /bin/sh runs',
      });
    if (o.check !== undefined && o.check.length !== 1)
      ctx.addIssue({
        code: 'custom',
        path: ['check'],
        message: 'with shell: true must be ONE string, the script /bin/sh runs',
      });
  });

export type CommandOptions = z.output<typeof schema>;

function failed(why: string, opts: { retryable?: boolean; details?: Record<string, unknown> } = {}): VigilError {
  return new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`${TYPE}: ${why}`], {
    retryable: opts.retryable,
    details: { vendor: TYPE, ...opts.details },
  });
}

/** An argv as a reader would type it: plain words bare, others single-quoted. */
export function showArgv(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./{}-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function fill(args: readonly string[], t: RollbackTarget): string[] {
  return args.map((a) =>
    a.replace(PLACEHOLDER, (_m, name: string) => {
      const value = PLACEHOLDERS[name as Placeholder](t);
      if (!SAFE_VALUE.test(value)) {
        throw failed(
          `{${name}} is ${JSON.stringify(value.slice(0, 60))}, which Vigil does not put into a command line (letters, digits and ._:+@/=- only, not starting with -)`,
        );
      }
      return value;
    }),
  );
}

/** The environment the program sees: the agent's (unless inheritEnv is false), `env`, then the decision. */
function environment(o: CommandOptions, ctx: ActionContext, connector: string): NodeJS.ProcessEnv {
  const t = ctx.target;
  const base: NodeJS.ProcessEnv = o.inheritEnv ? { ...process.env } : { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  return {
    ...base,
    ...o.env,
    VIGIL_CONNECTOR: connector,
    VIGIL_SERVICE: t.service,
    VIGIL_ANALYSIS_ID: t.analysisId,
    VIGIL_DECISION_ID: t.decisionId,
    VIGIL_CANARY_VERSION: t.canaryVersion,
    VIGIL_BASELINE_VERSION: t.baselineVersion,
    VIGIL_REASON: t.reason,
    VIGIL_OUTCOME: ctx.decision.outcome,
    VIGIL_DECISION: JSON.stringify(ctx.decision),
  };
}

/** Whether `program` can be executed: an absolute or relative path, or a name found on PATH. */
async function executable(program: string, env: NodeJS.ProcessEnv, cwd: string | undefined): Promise<boolean> {
  const candidates = program.includes('/')
    ? [isAbsolute(program) ? program : join(cwd ?? process.cwd(), program)]
    : (env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, program));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

/**
 * Deployer that runs a configured program, e.g. `helm rollback checkout` or a team's own rollback script,
 * without a shell unless `shell: true`. The decision reaches it in environment variables (VIGIL_SERVICE,
 * VIGIL_CANARY_VERSION, VIGIL_BASELINE_VERSION, VIGIL_DECISION_ID, VIGIL_ANALYSIS_ID, VIGIL_REASON,
 * VIGIL_OUTCOME, VIGIL_CONNECTOR, VIGIL_DECISION = the decision as JSON) and in argument placeholders
 * ({service}, {canaryVersion}, {baselineVersion}, {decisionId}, {analysisId}), whose values must be plain
 * words (letters, digits, ._:+@/=-, not starting with -) or the step fails without running anything.
 *
 * Exit 0 = done (`changed: true`); any other exit fails the step (retryable only with `retryOnFailure`).
 * The tail of the combined output (`maxOutputBytes`) goes into the result detail or the error, hence into the
 * audit log and chat; values of `env` are masked in it, so pass secrets through `env`, not arguments.
 * Timeout (`timeoutMs`, and the step's own timeout through the abort signal): the program's whole process
 * group gets SIGTERM, then SIGKILL. SET semantics need the program's help: with `check`, that program runs
 * first and exit 0 means "already rolled back" (`changed: false`, the command does not run); without it
 * every apply runs the command, which must then be safe to repeat. Dry run runs nothing (not even `check`)
 * and shows the command line. Health check: the programs exist and are executable.
 */
export const commandDeployerFactory: ConnectorFactory<CommandOptions> = {
  type: TYPE,
  kind: 'deployer',
  parse: (options) => parseOptions(TYPE, schema, options),
  create(name: string, o: CommandOptions): PlanConnector<'deployer'> {
    const wrap = (args: readonly string[]) => (o.shell ? ['/bin/sh', '-c', args[0]!] : [...args]);
    const secrets = Object.values(o.env)
      .filter((v) => v.length >= 4)
      .sort((a, b) => b.length - a.length);
    const mask = (text: string) => secrets.reduce((t, s) => t.split(s).join('***'), text);
    const tail = (r: RunResult, max: number) => {
      const out = mask(r.output);
      const cut = out.length > max ? `…${out.slice(-max)}` : out;
      return r.dropped > 0 && !cut.startsWith('…') ? `…${cut}` : cut;
    };
    const exit = (r: RunResult) => (r.exitSignal ? `signal ${r.exitSignal}` : `exit ${r.exitCode}`);

    return {
      name,
      type: TYPE,
      kind: 'deployer',
      async apply(ctx: ActionContext): Promise<ActionResult> {
        if (ctx.signal.aborted) throw abortedError(TYPE, ctx.signal);
        const command = wrap(fill(o.command, ctx.target));
        const check = o.check ? wrap(fill(o.check, ctx.target)) : undefined;
        const shown = showArgv(command);
        if (ctx.dryRun) {
          return {
            changed: false,
            detail: `dry-run: would run ${check ? `${showArgv(check)}, and unless it exits 0, ` : ''}${shown} with the decision in VIGIL_* variables`,
          };
        }
        const env = environment(o, ctx, name);
        const run = (args: string[]) =>
          runProcess({
            vendor: TYPE,
            argv: args,
            env,
            cwd: o.cwd,
            timeoutMs: o.timeoutMs,
            signal: ctx.signal,
            maxOutputBytes: o.maxOutputBytes,
          });
        if (check) {
          const r = await run(check);
          if (r.exitCode === 0)
            return {
              changed: false,
              detail: `${showArgv(check)} exited 0: already rolled back${r.output ? `: ${tail(r, o.maxOutputBytes)}` : ''}`,
            };
        }
        const r = await run(command);
        if (r.exitCode !== 0) {
          throw failed(`${shown} failed (${exit(r)})${r.output ? `: ${tail(r, 500)}` : ''}`, {
            retryable: o.retryOnFailure,
            details: { exitCode: r.exitCode, exitSignal: r.exitSignal },
          });
        }
        withBindings(ctx.logger, { connector: name }).info({ program: command[0] }, 'rollback command succeeded');
        return { changed: true, detail: `ran ${shown} (exit 0)${r.output ? `: ${tail(r, o.maxOutputBytes)}` : ''}` };
      },
      async healthCheck(): Promise<void> {
        const env = o.inheritEnv ? process.env : { PATH: process.env.PATH ?? '/usr/bin:/bin' };
        for (const args of [o.command, ...(o.check ? [o.check] : [])]) {
          const program = wrap(args)[0]!;
          if (!(await executable(program, { ...env, ...o.env }, o.cwd)))
            throw failed(`${program} is not an executable program here (PATH=${env.PATH ?? ''})`);
        }
      },
    };
  },
};
