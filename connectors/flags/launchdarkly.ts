import { z } from 'zod';
import type {
  ActionContext,
  ActionResult,
  ConnectorDeps,
  ConnectorFactory,
  PlanConnector,
  RollbackTarget,
} from '../../src/contracts/connector.js';
import { VigilError } from '../../src/errors.js';
import { abortedError } from '../shared/http.js';
import { httpUrl, parseOptions, timeoutMsOption } from '../shared/options.js';
import { checkShare, formatShare, roundedNote, shareDetail } from '../shared/share.js';
import { credentialOption, keyOption } from './flag-options.js';
import { applySetState, type StateSetter } from './set-state.js';
import { joinUrl, logUrlOf, parseVendorJson, vendorRequest } from './vendor-http.js';

const VENDOR = 'launchdarkly';
export const SEMANTIC_PATCH_CONTENT_TYPE = 'application/json; domain-model=launchdarkly.semanticpatch';

/** A percentage rollout's total: LaunchDarkly weights are thousandths of a percent. */
const WEIGHT_TOTAL = 100_000;

const schema = z
  .strictObject({
    apiKey: credentialOption('a LaunchDarkly API access token with writer rights, e.g. "${LD_API_KEY}"'),
    project: keyOption('the LaunchDarkly project key'),
    flag: keyOption('the feature flag key'),
    environment: keyOption('the LaunchDarkly environment key, e.g. production'),
    variation: z
      .string({ error: 'must be a string: the variation to serve by default (its _id, name or value)' })
      .min(1, { error: 'must not be empty: remove it to turn the flag off instead' })
      .optional(),
    canaryVariation: z
      .string({
        error: 'must be a string: the variation that serves the canary (its _id, name or value), for setCanaryShare',
      })
      .min(1, { error: 'must not be empty: a variation _id, name or value' })
      .optional(),
    baseUrl: httpUrl('the LaunchDarkly API origin, e.g. https://app.launchdarkly.com', { httpsOnly: true }).default(
      'https://app.launchdarkly.com',
    ),
    timeoutMs: timeoutMsOption,
  })
  .superRefine((o, ctx) => {
    if (o.canaryVariation !== undefined && o.variation === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['canaryVariation'],
        message: 'needs options.variation: the baseline variation the rest of the percentage rollout serves',
      });
  });

export type LaunchDarklyOptions = z.output<typeof schema>;

const variationSchema = z.object({ _id: z.string(), value: z.unknown(), name: z.string().optional() });

/** A percentage rollout as the flag representation has it (weights in thousandths of a percent). */
const rolloutSchema = z.object({
  variations: z.array(z.object({ variation: z.number().int(), weight: z.number() })),
  bucketBy: z.string().optional(),
  contextKind: z.string().optional(),
});

type Rollout = z.output<typeof rolloutSchema>;

/** The fields of "Get feature flag" (GET /api/v2/flags/{projectKey}/{flagKey}?env=...) the connector reads. */
const flagSchema = z.object({
  key: z.string(),
  variations: z.array(variationSchema),
  environments: z.record(
    z.string(),
    z.object({
      on: z.boolean(),
      fallthrough: z.object({ variation: z.number().int().optional(), rollout: z.unknown().optional() }).optional(),
      rules: z.array(z.unknown()).optional(),
    }),
  ),
});

type Flag = z.output<typeof flagSchema>;
type Variation = z.output<typeof variationSchema>;

interface LdState {
  on: boolean;
  /** Index of the variation the default rule serves; undefined for a percentage rollout. */
  fallthrough: number | undefined;
  rollout: boolean;
  rules: number;
  /** The variation option resolved against the flag (variation mode only). */
  target?: { index: number; variation: Variation };
  /** The fallthrough's percentage rollout, when it is one of the documented shape. */
  weights?: Rollout;
  variations: Variation[];
}

function label(v: Variation, index: number): string {
  return v.name !== undefined && v.name !== '' ? `"${v.name}"` : `#${index} (${JSON.stringify(v.value)})`;
}

/**
 * Resolves `options.variation` against the flag's variations: an exact `_id` first, then a `name`, then
 * the JSON value written as text (`true`, `"blue"` as `blue`, `42`). No match or two matches at the same
 * level is a permanent error naming the variations the flag has.
 */
export function resolveVariation(
  variations: readonly Variation[],
  wanted: string,
  option = 'variation',
): { index: number; variation: Variation } {
  const levels: ((v: Variation) => boolean)[] = [
    (v) => v._id === wanted,
    (v) => v.name === wanted,
    (v) => (typeof v.value === 'string' ? v.value : JSON.stringify(v.value)) === wanted,
  ];
  for (const matches of levels) {
    const found = variations.flatMap((v, index) => (matches(v) ? [{ index, variation: v }] : []));
    if (found.length === 1) return found[0]!;
    if (found.length > 1) {
      throw new VigilError(
        'VIGIL_ERR_CONNECTOR_FAILED',
        [`launchdarkly: options.${option} "${wanted}" matches ${found.length} variations: use the variation _id`],
        { details: { vendor: VENDOR } },
      );
    }
  }
  const known = variations.map((v, i) => `${label(v, i)} _id ${v._id}`).join(', ');
  throw new VigilError(
    'VIGIL_ERR_CONNECTOR_FAILED',
    [`launchdarkly: the flag has no variation "${wanted}" (it has: ${known || 'none'}): fix options.${option}`],
    { details: { vendor: VENDOR } },
  );
}

function stateOf(flag: Flag, o: LaunchDarklyOptions): LdState {
  const env = flag.environments[o.environment];
  if (!env) {
    throw new VigilError(
      'VIGIL_ERR_CONNECTOR_FAILED',
      [
        `launchdarkly: flag "${o.flag}" has no environment "${o.environment}" in project "${o.project}": fix options.environment`,
      ],
      { details: { vendor: VENDOR } },
    );
  }
  return {
    on: env.on,
    fallthrough: env.fallthrough?.variation,
    rollout: env.fallthrough?.rollout !== undefined && env.fallthrough.rollout !== null,
    rules: env.rules?.length ?? 0,
    target: o.variation === undefined ? undefined : resolveVariation(flag.variations, o.variation),
    weights: rolloutSchema.safeParse(env.fallthrough?.rollout).data,
    variations: flag.variations,
  };
}

function comment(t: RollbackTarget): string {
  return `Vigil rollback of ${t.service} canary ${t.canaryVersion} to baseline ${t.baselineVersion} (decision ${t.decisionId}): ${t.reason}`;
}

function shareComment(t: RollbackTarget, share: number): string {
  return `Vigil: canary share ${formatShare(share)} for ${t.service} canary ${t.canaryVersion} (baseline ${t.baselineVersion})`;
}

/** The canary's share the fallthrough gives (percent), undefined when it serves neither canary nor baseline alone. */
function shareNow(s: LdState, canary: number, baseline: number): number | undefined {
  if (s.rollout) {
    const w = s.weights?.variations;
    const total = w?.reduce((sum, v) => sum + v.weight, 0) ?? 0;
    if (!w || total === 0) return undefined;
    return (w.filter((v) => v.variation === canary).reduce((sum, v) => sum + v.weight, 0) * 100) / total;
  }
  return s.fallthrough === canary ? 100 : s.fallthrough === baseline ? 0 : undefined;
}

/** Whether the fallthrough already is the rollout canary `weight` / baseline the rest (nothing else weighted). */
function hasRollout(s: LdState, canary: number, baseline: number, weight: number): boolean {
  if (!s.rollout || !s.weights) return weight === WEIGHT_TOTAL && s.fallthrough === canary;
  const of = (i: number) =>
    s.weights!.variations.filter((v) => v.variation === i).reduce((sum, v) => sum + v.weight, 0);
  const others = s.weights.variations.filter((v) => v.variation !== canary && v.variation !== baseline);
  return of(canary) === weight && of(baseline) === WEIGHT_TOTAL - weight && others.every((v) => v.weight === 0);
}

/**
 * LaunchDarkly REST API, semantic patch. Without `variation` the rollback state is "flag targeting off in
 * the environment" (instruction `turnFlagOff`: every context gets the off variation). With `variation`
 * it is "the default rule (fallthrough) serves that variation" (`updateFallthroughVariationOrRollout`
 * with its `variationId`); targeting rules and individual targets are left alone, and an off flag keeps
 * serving its off variation. Reads GET /api/v2/flags/{project}/{flag}?env={environment} first; writes
 * PATCH /api/v2/flags/{project}/{flag} with `Content-Type: application/json; domain-model=launchdarkly.semanticpatch`
 * and body {environmentKey, comment, instructions}. Auth: `Authorization: <api key>`. An environment
 * that requires approvals answers the PATCH with a 4xx: permanent. `healthCheck` reads the flag (token,
 * project, flag, environment and the variation options are proved).
 *
 * With `canaryVariation` (which needs `variation`, the baseline), the connector also has `setCanaryShare(p)`:
 * LaunchDarkly's percentage rollout on the default rule, `updateFallthroughVariationOrRollout` with
 * `rolloutWeights` {canary _id: p·1000, baseline _id: 100000 − p·1000} (thousandths of a percent, so shares
 * down to 0.001% are exact; finer ones are rounded and the detail says so). A rollout's `bucketBy` and
 * `contextKind` already there are sent again (`rolloutBucketBy`, `rolloutContextKind`): contexts stay in their
 * buckets. Share 0 is the rollback's state: the default rule serves `variation` (`variationId`), and `apply`
 * replaces any rollout with it, so no canary is left in the default rule. Targeting rules and the on/off state are
 * left alone (the detail notes an off flag and rules, as `apply`'s does).
 */
export const launchDarklyFactory: ConnectorFactory<LaunchDarklyOptions> = {
  setsShare: (o) => o.canaryVariation !== undefined,
  type: 'launchdarkly',
  kind: 'flag',
  parse: (options) => parseOptions('launchdarkly', schema, options),
  create(name: string, o: LaunchDarklyOptions, deps: ConnectorDeps): PlanConnector<'flag'> {
    const flagPath = `/api/v2/flags/${encodeURIComponent(o.project)}/${encodeURIComponent(o.flag)}`;
    const flagUrl = joinUrl(o.baseUrl, flagPath);
    const readUrl = `${flagUrl}?env=${encodeURIComponent(o.environment)}`;
    const where = `flag "${o.flag}" (project "${o.project}") in environment "${o.environment}"`;

    async function read(signal: AbortSignal, logger: ActionContext['logger']): Promise<LdState> {
      const res = await vendorRequest({
        vendor: VENDOR,
        method: 'GET',
        url: readUrl,
        headers: { authorization: o.apiKey, accept: 'application/json' },
        timeoutMs: o.timeoutMs,
        signal,
        fetch: deps.fetch,
        logger,
      });
      return stateOf(parseVendorJson(VENDOR, `GET ${flagPath}`, res.body, flagSchema), o);
    }

    function served(s: LdState): string {
      if (s.rollout) return 'a percentage rollout';
      return s.fallthrough === undefined ? 'nothing set' : `variation #${s.fallthrough}`;
    }

    const setter: StateSetter<LdState> = {
      vendor: VENDOR,
      read: (ctx) => read(ctx.signal, ctx.logger),
      isSet: (s) => (s.target ? !s.rollout && s.fallthrough === s.target.index : !s.on),
      describe: (s) =>
        s.target
          ? `${where} is ${s.on ? 'on' : 'off'}, its default rule serves ${served(s)}`
          : `${where} is ${s.on ? 'on' : 'off'}`,
      describeWrite: (s) =>
        s.target
          ? `set the default rule of ${where} to variation ${label(s.target.variation, s.target.index)} (PATCH ${logUrlOf(flagUrl)}, updateFallthroughVariationOrRollout)`
          : `turn ${where} off (PATCH ${logUrlOf(flagUrl)}, turnFlagOff)`,
      caveat: (s) => {
        if (!s.target) return undefined;
        const notes: string[] = [];
        if (!s.on) notes.push('the flag is off, so it serves its off variation until it is turned on');
        if (s.rules > 0) notes.push(`${s.rules} targeting rule(s) still serve their own variations`);
        return notes.length > 0 ? notes.join('; ') : undefined;
      },
      async write(s, ctx) {
        const instruction = s.target
          ? { kind: 'updateFallthroughVariationOrRollout', variationId: s.target.variation._id }
          : { kind: 'turnFlagOff' };
        await patch(instruction, comment(ctx.target), ctx);
      },
    };

    async function patch(instruction: object, note: string, ctx: ActionContext): Promise<void> {
      await vendorRequest({
        vendor: VENDOR,
        method: 'PATCH',
        url: flagUrl,
        headers: { authorization: o.apiKey, 'content-type': SEMANTIC_PATCH_CONTENT_TYPE, accept: 'application/json' },
        body: JSON.stringify({ environmentKey: o.environment, comment: note, instructions: [instruction] }),
        timeoutMs: o.timeoutMs,
        signal: ctx.signal,
        fetch: deps.fetch,
        logger: ctx.logger,
      });
    }

    async function setCanaryShare(canaryOption: string, percent: number, ctx: ActionContext): Promise<ActionResult> {
      const share = checkShare(VENDOR, percent);
      if (ctx.signal.aborted) throw abortedError(VENDOR, ctx.signal);
      const s = await read(ctx.signal, ctx.logger);
      const baseline = s.target!;
      const canary = resolveVariation(s.variations, canaryOption, 'canaryVariation');
      if (canary.index === baseline.index)
        throw new VigilError(
          'VIGIL_ERR_CONNECTOR_FAILED',
          [`launchdarkly: options.canaryVariation and options.variation name the same variation of the flag`],
          { details: { vendor: VENDOR }, retryable: false },
        );
      // a share above 0 stays above 0 (at least one thousandth of a percent)
      const weight = share === 0 ? 0 : Math.max(1, Math.round(share * 1000));
      const want = weight / 1000;
      const head = shareDetail(want, shareNow(s, canary.index, baseline.index));
      const rounded = roundedNote(share, want, "LaunchDarkly's thousandths of a percent");
      const note = setter.caveat!(s);
      const tail = `${rounded}${note ? `; note: ${note}` : ''}`;
      const same = weight === 0 ? setter.isSet(s) : hasRollout(s, canary.index, baseline.index, weight);
      if (same) return { changed: false, detail: `${head}: ${setter.describe(s)}${tail}` };
      // share 0 is the rollback's own state: the default rule serves the baseline variation
      const instruction =
        weight === 0
          ? { kind: 'updateFallthroughVariationOrRollout', variationId: baseline.variation._id }
          : {
              kind: 'updateFallthroughVariationOrRollout',
              rolloutWeights: { [canary.variation._id]: weight, [baseline.variation._id]: WEIGHT_TOTAL - weight },
              ...(s.weights?.bucketBy === undefined ? {} : { rolloutBucketBy: s.weights.bucketBy }),
              ...(s.weights?.contextKind === undefined ? {} : { rolloutContextKind: s.weights.contextKind }),
            };
      const what =
        weight === 0
          ? `set the default rule of ${where} to variation ${label(baseline.variation, baseline.index)}`
          : `set the default rule of ${where} to a percentage rollout: ${label(canary.variation, canary.index)} ${weight}, ${label(baseline.variation, baseline.index)} ${WEIGHT_TOTAL - weight} (thousandths of a percent)`;
      const how = ` (PATCH ${logUrlOf(flagUrl)}, updateFallthroughVariationOrRollout)`;
      if (ctx.dryRun)
        return { changed: true, detail: `dry-run: ${head}: would ${what}${how}; now ${setter.describe(s)}${tail}` };
      if (ctx.signal.aborted) throw abortedError(VENDOR, ctx.signal);
      await patch(instruction, shareComment(ctx.target, want), ctx);
      return { changed: true, detail: `${head}: ${what}${how}; before: ${setter.describe(s)}${tail}` };
    }

    const canaryOption = o.canaryVariation;

    return {
      name,
      type: 'launchdarkly',
      kind: 'flag',
      apply: (ctx: ActionContext): Promise<ActionResult> => applySetState(setter, ctx),
      ...(canaryOption === undefined
        ? {}
        : {
            setCanaryShare: (percent: number, ctx: ActionContext) => setCanaryShare(canaryOption, percent, ctx),
          }),
      async healthCheck(ctx) {
        const s = await read(ctx.signal, ctx.logger);
        if (canaryOption !== undefined) resolveVariation(s.variations, canaryOption, 'canaryVariation');
      },
    };
  },
};
