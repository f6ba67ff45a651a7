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
import { httpUrl, parseOptions, timeoutMsOption } from '../shared/options.js';
import { credentialOption, keyOption } from './flag-options.js';
import { applySetState, type StateSetter } from './set-state.js';
import { joinUrl, logUrlOf, parseVendorJson, vendorRequest } from './vendor-http.js';

const VENDOR = 'launchdarkly';
export const SEMANTIC_PATCH_CONTENT_TYPE = 'application/json; domain-model=launchdarkly.semanticpatch';

const schema = z.strictObject({
  apiKey: credentialOption('a LaunchDarkly API access token with writer rights, e.g. "${LD_API_KEY}"'),
  project: keyOption('the LaunchDarkly project key'),
  flag: keyOption('the feature flag key'),
  environment: keyOption('the LaunchDarkly environment key, e.g. production'),
  variation: z
    .string({ error: 'must be a string: the variation to serve by default (its _id, name or value)' })
    .min(1, { error: 'must not be empty: remove it to turn the flag off instead' })
    .optional(),
  baseUrl: httpUrl('the LaunchDarkly API origin, e.g. https://app.launchdarkly.com', { httpsOnly: true }).default(
    'https://app.launchdarkly.com',
  ),
  timeoutMs: timeoutMsOption,
});

export type LaunchDarklyOptions = z.output<typeof schema>;

const variationSchema = z.object({ _id: z.string(), value: z.unknown(), name: z.string().optional() });

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
        [`launchdarkly: options.variation "${wanted}" matches ${found.length} variations: use the variation _id`],
        { details: { vendor: VENDOR } },
      );
    }
  }
  const known = variations.map((v, i) => `${label(v, i)} _id ${v._id}`).join(', ');
  throw new VigilError(
    'VIGIL_ERR_CONNECTOR_FAILED',
    [`launchdarkly: the flag has no variation "${wanted}" (it has: ${known || 'none'}): fix options.variation`],
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
  };
}

function comment(t: RollbackTarget): string {
  return `Vigil rollback of ${t.service} canary ${t.canaryVersion} to baseline ${t.baselineVersion} (decision ${t.decisionId}): ${t.reason}`;
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
 * project, flag, environment and the variation option are proved).
 */
export const launchDarklyFactory: ConnectorFactory<LaunchDarklyOptions> = {
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
        await vendorRequest({
          vendor: VENDOR,
          method: 'PATCH',
          url: flagUrl,
          headers: { authorization: o.apiKey, 'content-type': SEMANTIC_PATCH_CONTENT_TYPE, accept: 'application/json' },
          body: JSON.stringify({
            environmentKey: o.environment,
            comment: comment(ctx.target),
            instructions: [instruction],
          }),
          timeoutMs: o.timeoutMs,
          signal: ctx.signal,
          fetch: deps.fetch,
          logger: ctx.logger,
        });
      },
    };

    return {
      name,
      type: 'launchdarkly',
      kind: 'flag',
      apply: (ctx: ActionContext): Promise<ActionResult> => applySetState(setter, ctx),
      async healthCheck(ctx) {
        await read(ctx.signal, ctx.logger);
      },
    };
  },
};
