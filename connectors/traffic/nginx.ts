import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import type { ActionContext, ActionResult, ConnectorFactory, PlanConnector } from '../../src/contracts/connector.js';
import { VigilError } from '../../src/errors.js';
import { runProcess } from '../shared/run-process.js';
import { abortedError } from '../shared/http.js';
import { parseOptions, timeoutMsOption } from '../shared/options.js';
import { applySplices } from './nginx-config.js';
import { type NginxTarget, type RollbackEdit, rollbackEdit } from './nginx-rollback.js';
import { type ShareEdit, shareEdit } from './nginx-share.js';
import { checkShare, shareDetail } from '../shared/share.js';
import { withBindings } from '../shared/log.js';

const TYPE = 'nginx';
/** nginx -t explains a failure in a few lines; keep enough of them for the audit log. */
const OUTPUT_BYTES = 4_096;

const word = (what: string) =>
  z
    .string({ error: `must be a string: ${what}` })
    .regex(/^[^\s;{}#"'\\]+$/, { error: `must be one nginx word (no spaces, quotes, ';', '{', '}' or '#'): ${what}` });
const absolutePath = (what: string) =>
  z
    .string({ error: (iss) => (iss.input === undefined ? `is required: ${what}` : `must be a string: ${what}`) })
    .refine(isAbsolute, { error: `must be an absolute path: ${what}` });

const schema = z
  .strictObject({
    includePath: absolutePath('the include file that holds the upstream or split_clients/map block Vigil rewrites'),
    upstream: word('the name of the upstream block').optional(),
    baselineServer: word('the baseline server address as written in the upstream (e.g. 10.0.0.1:8080)').optional(),
    canaryServer: word('the canary server address as written in the upstream').optional(),
    variable: z
      .string({ error: 'must be a string' })
      .regex(/^\$[A-Za-z0-9_]+$/, {
        error: 'must be an nginx variable such as $checkout_pool: the result of a split_clients or map block',
      })
      .optional(),
    baselineValue: word('the value the block yields for the baseline (e.g. the baseline upstream name)').optional(),
    canaryValue: word('the value the block yields for the canary').optional(),
    nginxBinary: z
      .string({ error: 'must be a string: the nginx program' })
      .min(1, { error: 'must not be empty' })
      .default('nginx'),
    config: absolutePath('the main nginx.conf, passed as -c to nginx -t and to the reload').optional(),
    reloadCommand: z
      .array(z.string({ error: 'must be strings' }).min(1, { error: 'must not be empty strings' }), {
        error: 'must be a list: program and arguments, e.g. [systemctl, reload, nginx]',
      })
      .min(1, { error: 'must name a program' })
      .optional(),
    timeoutMs: timeoutMsOption,
  })
  .superRefine((o, ctx) => {
    const upstream = [o.upstream, o.baselineServer, o.canaryServer];
    const mapping = [o.variable, o.baselineValue, o.canaryValue];
    const complete = (xs: unknown[]) => xs.every((x) => x !== undefined);
    const any = (xs: unknown[]) => xs.some((x) => x !== undefined);
    if (any(upstream) === any(mapping) || !(complete(upstream) || complete(mapping))) {
      ctx.addIssue({
        code: 'custom',
        path: ['upstream'],
        message:
          'set either upstream, baselineServer and canaryServer (an upstream block), or variable, baselineValue and canaryValue (a split_clients or map block)',
      });
    } else if (o.baselineServer !== undefined && o.baselineServer === o.canaryServer) {
      ctx.addIssue({ code: 'custom', path: ['canaryServer'], message: 'must differ from options.baselineServer' });
    } else if (o.baselineValue !== undefined && o.baselineValue === o.canaryValue) {
      ctx.addIssue({ code: 'custom', path: ['canaryValue'], message: 'must differ from options.baselineValue' });
    }
  });

export type NginxOptions = z.output<typeof schema>;

function failed(why: string, opts: { cause?: unknown; retryable?: boolean } = {}): VigilError {
  return new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`${TYPE}: ${why}`], {
    cause: opts.cause,
    retryable: opts.retryable,
    details: { vendor: TYPE },
  });
}

/** Replaces `path` atomically (temp file in the same directory, fsync, rename), keeping its mode. */
async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.vigil-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Traffic connector for nginx: rewrites the include file `includePath` so all traffic goes to the baseline,
 * validates the whole configuration with `nginx -t`, then reloads nginx. Two forms (see `rollbackEdit`):
 * an `upstream` block whose canary server gets `down`, or a `split_clients`/`map` block (`variable`) whose
 * canary entries yield `baselineValue`. Only those tokens change; the rest of the file stays byte for byte.
 *
 * SET semantics: the file is read first; when it already sends everything to the baseline, apply reports
 * `changed: false` and neither writes nor reloads. Otherwise: atomic write (temp file, fsync, rename, same
 * mode), `<nginxBinary> -t -q [-c config]`; if that fails, the previous file is restored the same way and the
 * step fails permanently with nginx's message. Then `reloadCommand` (default `<nginxBinary> -s reload
 * [-c config]`); if the reload fails, the previous file is restored too and the step fails retryably (nginx
 * may be restarting), so a retry redoes the whole change. A file edited by someone else between our read and
 * our write is not overwritten (retryable). If Vigil dies between the rename and the reload, the file is
 * already rewritten and a retry reports `changed: false` without reloading: reload nginx by hand then.
 * Dry run reads, describes the edits and runs nothing. Health check: the file holds the named block and
 * servers, and `nginx -t` passes. Commands run without a shell, each with `timeoutMs`.
 *
 * `setCanaryShare(p)` rewrites the same file the same way (read, edit, write, nginx -t, reload, restore on
 * failure; see `shareEdit`): upstream form `weight=` canary p·k / baseline (100 − p)·k, split_clients form
 * `p% canary` and `* baseline`; 0 is exactly the rollback edit. The same share twice writes nothing.
 */
export const nginxTrafficFactory: ConnectorFactory<NginxOptions> = {
  setsShare: () => true,
  type: TYPE,
  kind: 'traffic',
  parse: (options) => parseOptions(TYPE, schema, options),
  create(name: string, o: NginxOptions): PlanConnector<'traffic'> {
    const target: NginxTarget =
      o.variable !== undefined
        ? { kind: 'mapping', variable: o.variable, baselineValue: o.baselineValue!, canaryValue: o.canaryValue! }
        : { kind: 'upstream', upstream: o.upstream!, baselineServer: o.baselineServer!, canaryServer: o.canaryServer! };
    const configArgs = o.config !== undefined ? ['-c', o.config] : [];
    const testCommand = [o.nginxBinary, '-t', '-q', ...configArgs];
    const reloadCommand = o.reloadCommand ?? [o.nginxBinary, '-s', 'reload', ...configArgs];
    const show = (argv: readonly string[]) => argv.join(' ');

    async function read(): Promise<{ text: string; mode: number }> {
      try {
        const [text, st] = await Promise.all([readFile(o.includePath, 'utf8'), stat(o.includePath)]);
        return { text, mode: st.mode & 0o7777 };
      } catch (e) {
        throw failed(`cannot read ${o.includePath}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
      }
    }

    function edit(text: string): RollbackEdit;
    function edit(text: string, share: number): ShareEdit;
    function edit(text: string, share?: number): RollbackEdit | ShareEdit {
      try {
        return share === undefined ? rollbackEdit(text, target) : shareEdit(text, target, share);
      } catch (e) {
        // NginxSyntaxError or NginxTargetError: the file or the options need an operator, not a retry.
        throw failed(`${o.includePath}: ${(e as Error).message}`, { cause: e });
      }
    }

    /** Runs a command; a non-zero exit is returned as its output, so the caller decides what it means. */
    async function run(argv: readonly string[], signal: AbortSignal): Promise<{ ok: boolean; output: string }> {
      const r = await runProcess({ vendor: TYPE, argv, timeoutMs: o.timeoutMs, signal, maxOutputBytes: OUTPUT_BYTES });
      return { ok: r.exitCode === 0, output: r.output || `exit ${r.exitCode ?? r.exitSignal}` };
    }

    /**
     * Writes `next` over the file read as `before` (unless someone changed it since), validates with nginx -t
     * and reloads; on a failure the previous file is restored and the error says so.
     */
    async function commit(ctx: ActionContext, before: { text: string; mode: number }, next: string): Promise<void> {
      if ((await read()).text !== before.text)
        throw failed(`${o.includePath} changed while Vigil was editing it; retrying`, { retryable: true });
      if (ctx.signal.aborted) throw abortedError(TYPE, ctx.signal);
      try {
        await writeAtomic(o.includePath, next, before.mode);
      } catch (err) {
        throw failed(`cannot write ${o.includePath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
          cause: err,
        });
      }
      /** Puts the previous file back; the returned error says what happened, restore included. */
      const undo = async (why: string, retryable: boolean, cause?: unknown): Promise<VigilError> => {
        try {
          await writeAtomic(o.includePath, before.text, before.mode);
        } catch (err) {
          return failed(
            `${why}; restoring the previous ${o.includePath} FAILED too (${(err as NodeJS.ErrnoException).code ?? String(err)}): fix the file by hand`,
            { cause: err },
          );
        }
        withBindings(ctx.logger, { connector: name }).warn(
          { file: o.includePath },
          'nginx step failed: previous include file restored',
        );
        if (cause instanceof VigilError) return cause;
        return failed(`${why}; the previous ${o.includePath} is restored`, { cause, retryable });
      };
      const step = async (argv: readonly string[], what: string, retryable: boolean): Promise<void> => {
        let r: { ok: boolean; output: string };
        try {
          r = await run(argv, ctx.signal);
        } catch (err) {
          throw await undo(`${show(argv)} did not complete`, true, err);
        }
        if (!r.ok) throw await undo(`${show(argv)} ${what}: ${r.output}`, retryable);
      };
      await step(testCommand, `rejected the rewritten ${o.includePath}`, false);
      await step(reloadCommand, 'failed', true);
    }

    return {
      name,
      type: TYPE,
      kind: 'traffic',
      async apply(ctx: ActionContext): Promise<ActionResult> {
        if (ctx.signal.aborted) throw abortedError(TYPE, ctx.signal);
        const before = await read();
        const e = edit(before.text);
        if (e.splices.length === 0)
          return { changed: false, detail: `${o.includePath} already sends all traffic to the baseline (${e.found})` };
        const next = applySplices(before.text, e.splices);
        const steps = `${e.changes.join('; ')}; then ${show(testCommand)} and ${show(reloadCommand)}`;
        if (ctx.dryRun) return { changed: false, detail: `dry-run: would rewrite ${o.includePath}: ${steps}` };

        await commit(ctx, before, next);
        withBindings(ctx.logger, { connector: name }).info({ file: o.includePath }, 'nginx rewritten and reloaded');
        return {
          changed: true,
          detail: `rewrote ${o.includePath}: ${e.changes.join('; ')}; ${show(testCommand)} passed; reloaded with ${show(reloadCommand)}`,
        };
      },
      async setCanaryShare(percent: number, ctx: ActionContext): Promise<ActionResult> {
        const share = checkShare(TYPE, percent);
        if (ctx.signal.aborted) throw abortedError(TYPE, ctx.signal);
        const before = await read();
        const e = edit(before.text, share);
        const head = shareDetail(e.share, e.was);
        if (e.splices.length === 0)
          return { changed: false, detail: `${head}: ${o.includePath} already has it (${e.found})` };
        const steps = `${e.changes.join('; ')}; then ${show(testCommand)} and ${show(reloadCommand)}`;
        if (ctx.dryRun) return { changed: true, detail: `dry-run: ${head}: would rewrite ${o.includePath}: ${steps}` };
        await commit(ctx, before, applySplices(before.text, e.splices));
        withBindings(ctx.logger, { connector: name }).info({ file: o.includePath, share: e.share }, 'canary share set');
        return {
          changed: true,
          detail: `${head}: rewrote ${o.includePath}: ${e.changes.join('; ')}; ${show(testCommand)} passed; reloaded with ${show(reloadCommand)}`,
        };
      },
      async healthCheck(ctx): Promise<void> {
        edit((await read()).text);
        const check = await run(testCommand, ctx.signal);
        if (!check.ok) throw failed(`${show(testCommand)} fails: ${check.output}`);
      },
    };
  },
};
