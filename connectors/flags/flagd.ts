import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import type { ActionContext, ActionResult, ConnectorFactory, PlanConnector } from '../../src/contracts/connector.js';
import { VigilError } from '../../src/errors.js';
import { abortedError } from '../shared/http.js';
import { parseOptions } from '../shared/options.js';
import {
  readFlag,
  readSplit,
  setDefaultVariant,
  setFlagMember,
  splitTargeting,
  type FlagdFlag,
  type FractionalSplit,
} from './flagd-document.js';
import { checkShare, shareDetail, shareOf, shareWeights } from '../shared/share.js';
import { keyOption } from './flag-options.js';
import { applySetState, type StateSetter } from './set-state.js';

const VENDOR = 'flagd';

const schema = z.strictObject({
  path: z
    .string({
      error: (iss) =>
        iss.input === undefined ? 'is required: the flagd flag-definition JSON file' : 'must be a string: a file path',
    })
    .min(1, { error: 'must not be empty: the flagd flag-definition JSON file' }),
  flag: keyOption('the flag key in the file'),
  variant: z
    .string({
      error: (iss) =>
        iss.input === undefined
          ? 'is required: the variant the flag serves after a rollback (the baseline)'
          : 'must be a string: a variant name',
    })
    .min(1, { error: 'must not be empty: a variant name' }),
  canaryVariant: z
    .string({ error: 'must be a string: the variant that serves the canary (for setCanaryShare)' })
    .min(1, { error: 'must not be empty: a variant name' })
    .optional(),
});

export type FlagdOptions = z.output<typeof schema>;

/** Errors that more attempts cannot fix: wrong path, no permission, read-only volume. */
const PERMANENT_FS_CODES = new Set([
  'ENOENT',
  'ENOTDIR',
  'EISDIR',
  'EACCES',
  'EPERM',
  'EROFS',
  'ELOOP',
  'ENAMETOOLONG',
]);

function fsError(err: unknown, what: string, signal: AbortSignal): VigilError {
  if (signal.aborted) return abortedError(VENDOR, signal);
  if (err instanceof VigilError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
  const msg = err instanceof Error ? err.message : String(err);
  return new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`flagd: cannot ${what}: ${msg}`], {
    cause: err,
    details: { vendor: VENDOR, errno: code },
    retryable: !PERMANENT_FS_CODES.has(code),
  });
}

function permanent(why: string): VigilError {
  return new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`flagd: ${why}`], { details: { vendor: VENDOR } });
}

interface FlagdState {
  /** The file written: the target of `path` when it is a symlink, so the link stays a link. */
  file: string;
  text: string;
  flag: FlagdFlag;
  /** With `canaryVariant`: the flag's canary split (what `setCanaryShare` writes), when its targeting is one. */
  split?: FractionalSplit;
}

/**
 * Writes `text` to `file` atomically: a temp file in the same directory (same file system, same mode),
 * fsynced, then renamed over the original, then the directory fsynced. Readers (flagd's file watcher)
 * see the old or the new file, never a half-written one. Before the rename the file is read again: if
 * someone changed it since Vigil read it, nothing is replaced and the attempt fails retryably (the next
 * attempt reads the new content). The file's owner is not kept (rename creates a new inode).
 */
async function atomicReplace(file: string, before: string, text: string, signal: AbortSignal): Promise<void> {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.vigil-${randomUUID()}.tmp`);
  const { mode } = await stat(file);
  let renamed = false;
  try {
    const fh = await open(tmp, 'wx', mode & 0o777);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    const now = await readFile(file, { encoding: 'utf8', signal });
    if (now !== before) {
      throw new VigilError(
        'VIGIL_ERR_CONNECTOR_FAILED',
        [`flagd: ${file} changed while Vigil was editing it; the next attempt reads it again`],
        {
          details: { vendor: VENDOR },
          retryable: true,
        },
      );
    }
    if (signal.aborted) throw abortedError(VENDOR, signal);
    await rename(tmp, file);
    renamed = true;
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
}

/**
 * The OpenFeature flagd flag-definition file: the rollback state is "flag `flag` has defaultVariant
 * `variant`" (the baseline's variant) and, with `canaryVariant`, a canary split in its targeting (the one
 * `setCanaryShare` writes, e.g. left at 25% by a promotion plan) has the canary at weight 0, since the split
 * decides before defaultVariant. The file is edited in place textually (flagd-document.ts: every
 * other byte stays as it was) and replaced atomically (temp file + rename), which flagd's file watcher
 * picks up. `variant` must be one of the flag's variants, otherwise the step fails permanently. A flag
 * with targeting rules keeps them: they decide before defaultVariant for the contexts they match (the
 * result says so). Concurrent writers other than Vigil are detected just before the rename (retryable).
 * `healthCheck` reads the file, checks the flag and the variant, and that the directory is writable.
 *
 * With `canaryVariant` set, the connector also has `setCanaryShare(p)`: the flag's `targeting` becomes
 * `{"fractional": [[canaryVariant, p·k], [variant, (100 − p)·k]]}` (flagd's fractional operation: integer
 * weights, bucketed by flag key + targeting key; a bucketing expression already there is kept), written the
 * same way. A targeting that is anything other than such a split is never overwritten (permanent error). A share
 * equal to the current split's writes nothing. Share 0 keeps the split form with the canary at weight 0.
 */
export const flagdFactory: ConnectorFactory<FlagdOptions> = {
  setsShare: (o) => o.canaryVariant !== undefined,
  type: 'flagd',
  kind: 'flag',
  parse: (options) => parseOptions('flagd', schema, options),
  create(name: string, o: FlagdOptions): PlanConnector<'flag'> {
    const where = `flag "${o.flag}" in ${o.path}`;

    async function read(signal: AbortSignal): Promise<FlagdState> {
      let file: string;
      let text: string;
      try {
        file = await realpath(o.path);
        text = await readFile(file, { encoding: 'utf8', signal });
      } catch (err) {
        throw fsError(err, `read ${o.path}`, signal);
      }
      const flag = readFlag(text, o.path, o.flag);
      if (!flag.variants.includes(o.variant)) {
        throw new VigilError(
          'VIGIL_ERR_CONNECTOR_FAILED',
          [
            `flagd: ${where} has no variant "${o.variant}" (it has: ${flag.variants.join(', ') || 'none'}): fix options.variant`,
          ],
          { details: { vendor: VENDOR } },
        );
      }
      const split = o.canaryVariant === undefined ? undefined : readSplit(flag.targeting, o.canaryVariant, o.variant);
      return { file, text, flag, ...(split === undefined ? {} : { split }) };
    }

    /** The targeting a rollback writes: the split with the canary at 0 (as `setCanaryShare(0)`), when it has more. */
    const zeroSplit = (s: FlagdState): unknown => {
      if (s.split === undefined || s.split.canary === 0 || o.canaryVariant === undefined) return undefined;
      const { canary, baseline } = shareWeights(0, 1_000_000);
      return splitTargeting({ ...s.split, canary, baseline }, o.canaryVariant, o.variant);
    };

    const setter: StateSetter<FlagdState> = {
      vendor: VENDOR,
      read: (ctx) => read(ctx.signal),
      // a canary split a promotion plan left (setCanaryShare) is part of the rollback: its canary goes to 0
      isSet: (s) => s.flag.defaultVariant === o.variant && zeroSplit(s) === undefined,
      describe: (s) =>
        (typeof s.flag.defaultVariant === 'string'
          ? `${where} has defaultVariant "${s.flag.defaultVariant}"`
          : `${where} has no defaultVariant`) +
        (s.split === undefined ? '' : ` and targeting ${JSON.stringify(s.flag.targeting)}`),
      describeWrite: (s) => {
        const zero = zeroSplit(s);
        const edits = [
          ...(s.flag.defaultVariant === o.variant ? [] : [`defaultVariant of ${where} to "${o.variant}"`]),
          ...(zero === undefined ? [] : [`targeting of ${where} to ${JSON.stringify(zero)}`]),
        ];
        return `set ${edits.join(' and ')} (temp file + rename)`;
      },
      caveat: (s) => {
        const notes: string[] = [];
        if (s.flag.hasTargeting && s.split === undefined)
          notes.push('its targeting rules still decide for the contexts they match');
        if (s.flag.state === 'DISABLED') notes.push('the flag is DISABLED, so flagd does not serve it');
        return notes.length > 0 ? notes.join('; ') : undefined;
      },
      async write(s, ctx) {
        const zero = zeroSplit(s);
        let next = s.flag.defaultVariant === o.variant ? s.text : setDefaultVariant(s.text, o.path, o.flag, o.variant);
        if (zero !== undefined) next = setFlagMember(next, o.path, o.flag, 'targeting', zero);
        try {
          await atomicReplace(s.file, s.text, next, ctx.signal);
        } catch (err) {
          throw fsError(err, `write ${o.path}`, ctx.signal);
        }
      },
    };

    async function setCanaryShare(canary: string, percent: number, ctx: ActionContext): Promise<ActionResult> {
      const share = checkShare(VENDOR, percent);
      if (ctx.signal.aborted) throw abortedError(VENDOR, ctx.signal);
      const s = await read(ctx.signal);
      if (!s.flag.variants.includes(canary))
        throw permanent(
          `${where} has no variant "${canary}" (it has: ${s.flag.variants.join(', ')}): fix options.canaryVariant`,
        );
      const split = readSplit(s.flag.targeting, canary, o.variant);
      if (s.flag.hasTargeting && !split)
        throw permanent(
          `${where} has targeting rules that are not a fractional split of "${canary}" and "${o.variant}": Vigil does not overwrite them with a canary share`,
        );
      const dv = s.flag.defaultVariant;
      const was = split
        ? shareOf(split.canary, split.baseline)
        : dv === canary
          ? 100
          : dv === o.variant
            ? 0
            : undefined;
      const want = shareWeights(share, 1_000_000);
      const head = shareDetail(want.share, was);
      const targeting = splitTargeting({ ...split, canary: want.canary, baseline: want.baseline }, canary, o.variant);
      const what = `set targeting of ${where} to ${JSON.stringify(targeting)} (temp file + rename)`;
      if (split && was !== undefined && Math.abs(was - want.share) < 1e-9)
        return { changed: false, detail: `${head}: ${where} already splits ${JSON.stringify(s.flag.targeting)}` };
      if (ctx.dryRun) return { changed: true, detail: `dry-run: ${head}: would ${what}` };
      const next = setFlagMember(s.text, o.path, o.flag, 'targeting', targeting);
      try {
        await atomicReplace(s.file, s.text, next, ctx.signal);
      } catch (err) {
        throw fsError(err, `write ${o.path}`, ctx.signal);
      }
      return { changed: true, detail: `${head}: ${what}` };
    }

    const canary = o.canaryVariant;
    return {
      name,
      type: 'flagd',
      kind: 'flag',
      apply: (ctx: ActionContext): Promise<ActionResult> => applySetState(setter, ctx),
      ...(canary === undefined
        ? {}
        : { setCanaryShare: (percent: number, ctx: ActionContext) => setCanaryShare(canary, percent, ctx) }),
      async healthCheck(ctx) {
        if (ctx.signal.aborted) throw abortedError(VENDOR, ctx.signal);
        const s = await read(ctx.signal);
        try {
          await access(dirname(s.file), constants.W_OK);
        } catch (err) {
          throw fsError(err, `write into the directory of ${o.path}`, ctx.signal);
        }
      },
    };
  },
};
