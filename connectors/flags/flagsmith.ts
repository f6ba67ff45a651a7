import { z } from 'zod';
import type {
  ActionContext,
  ActionResult,
  ConnectorDeps,
  ConnectorFactory,
  PlanConnector,
} from '../../src/contracts/connector.js';
import { VigilError } from '../../src/errors.js';
import { abortedError } from '../shared/http.js';
import { httpUrl, parseOptions, timeoutMsOption } from '../shared/options.js';
import { checkShare, shareDetail } from '../shared/share.js';
import { credentialOption, keyOption } from './flag-options.js';
import { applySetState, type StateSetter } from './set-state.js';
import { joinUrl, logUrlOf, parseVendorJson, vendorRequest } from './vendor-http.js';

const VENDOR = 'flagsmith';

const schema = z
  .strictObject({
    apiKey: credentialOption(
      'an Organisation API key (sent as "Api-Key <key>"), e.g. "${FLAGSMITH_API_KEY}"',
    ).optional(),
    token: credentialOption('a user API token (sent as "Token <token>"), e.g. "${FLAGSMITH_TOKEN}"').optional(),
    environmentKey: keyOption('the Flagsmith environment key (Environment settings → Environment key)'),
    feature: keyOption('the name of the feature to disable'),
    canaryValue: z
      .string({
        error:
          'must be a string: the value of the multivariate option that serves the canary, for setCanaryShare (e.g. "v2")',
      })
      .min(1, { error: "must not be empty: the value of one of the feature's multivariate options" })
      .optional(),
    baseUrl: httpUrl('the Flagsmith API origin, e.g. https://api.flagsmith.com or a self-hosted API URL', {
      httpsOnly: false,
    }).default('https://api.flagsmith.com'),
    timeoutMs: timeoutMsOption,
  })
  .superRefine((o, ctx) => {
    if ((o.apiKey === undefined) === (o.token === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['apiKey'],
        message: 'set exactly one of apiKey (Organisation API key) or token (user API token)',
      });
    }
  });

export type FlagsmithOptions = z.output<typeof schema>;

/** A multivariate option's allocation in a feature state (`id` absent only in answers Vigil does not expect). */
const mvValueSchema = z.object({
  id: z.number().int().optional(),
  multivariate_feature_option: z.number().int(),
  percentage_allocation: z.number(),
});

type MvValue = z.output<typeof mvValueSchema>;

const featureStateSchema = z.object({
  id: z.number().int(),
  enabled: z.boolean(),
  feature: z.number().int(),
  multivariate_feature_state_values: z
    .array(mvValueSchema)
    .nullish()
    .transform((v) => v ?? []),
});

/** A multivariate option of the feature, as "List multivariate options" answers it. */
const mvOptionSchema = z.object({
  id: z.number().int(),
  type: z.string().nullish(),
  string_value: z.string().nullish(),
  integer_value: z.number().nullish(),
  boolean_value: z.boolean().nullish(),
});

type MvOption = z.output<typeof mvOptionSchema>;

const mvOptionsSchema = z.union([
  z.object({ results: z.array(mvOptionSchema) }).transform((p) => p.results),
  z.array(mvOptionSchema),
]);

/** The fields of "Get an environment" (GET /api/v1/environments/{api_key}/) the connector reads. */
const environmentSchema = z.object({ project: z.number().int() });

/**
 * "List feature states" of an environment answers a paginated {count, next, previous, results} object;
 * a plain array is accepted too (unpaginated deployments).
 */
const listSchema = z.union([
  z.object({ results: z.array(featureStateSchema) }).transform((p) => p.results),
  z.array(featureStateSchema),
]);

interface FlagsmithState {
  id: number;
  enabled: boolean;
  /** The feature's numeric id (the mv-options route needs it). */
  feature: number;
  mv: MvValue[];
}

/** An option's value as people write it: the string, the integer or the boolean Flagsmith stores. */
function optionValue(o: MvOption): string {
  if (o.type === 'int' || o.type === 'integer') return String(o.integer_value);
  if (o.type === 'bool' || o.type === 'boolean') return String(o.boolean_value);
  if (o.type === 'unicode' || o.type === 'string') return String(o.string_value);
  return String(o.string_value ?? o.integer_value ?? o.boolean_value);
}

/** The option whose value is `wanted`; none or several is a configuration error. */
function resolveCanaryOption(options: readonly MvOption[], wanted: string, feature: string): MvOption {
  const found = options.filter((o) => optionValue(o) === wanted);
  if (found.length === 1) return found[0]!;
  const known = options.map((o) => `"${optionValue(o)}" (id ${o.id})`).join(', ') || 'none: it is not multivariate';
  const why =
    found.length === 0
      ? `feature "${feature}" has no multivariate option with the value "${wanted}" (it has: ${known})`
      : `${found.length} multivariate options of feature "${feature}" have the value "${wanted}"`;
  throw new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`flagsmith: ${why}: fix options.canaryValue`], {
    details: { vendor: VENDOR },
    retryable: false,
  });
}

/** The canary's share a feature state gives: 0 when disabled, else its option's percentage_allocation. */
function shareNow(s: FlagsmithState, canary: number): number {
  return s.enabled ? allocationOf(s, canary) : 0;
}

function allocationOf(s: FlagsmithState, option: number): number {
  return s.mv.find((v) => v.multivariate_feature_option === option)?.percentage_allocation ?? 0;
}

/**
 * The `multivariate_feature_state_values` that give the canary option `percent` and every other option 0: each
 * value the state has, with its id (Flagsmith updates listed values by id and deletes unlisted ones), plus the
 * canary's when the state has none for it.
 */
function mvBody(s: FlagsmithState, canary: number | undefined, percent: number): MvValue[] {
  const body = s.mv.map((v) => ({
    ...(v.id === undefined ? {} : { id: v.id }),
    multivariate_feature_option: v.multivariate_feature_option,
    percentage_allocation: v.multivariate_feature_option === canary ? percent : 0,
  }));
  if (canary !== undefined && !s.mv.some((v) => v.multivariate_feature_option === canary))
    body.push({ multivariate_feature_option: canary, percentage_allocation: percent });
  return body;
}

/** Whether the state already serves `percent` to the canary option and nothing to the others (enabled when > 0). */
function hasShare(s: FlagsmithState, canary: number, percent: number): boolean {
  const others = s.mv.every((v) => v.multivariate_feature_option === canary || v.percentage_allocation === 0);
  if (percent === 0) return !s.enabled && others && allocationOf(s, canary) === 0;
  return s.enabled && others && allocationOf(s, canary) === percent;
}

/**
 * Flagsmith Admin API: the rollback state is "the feature's environment default is disabled" (segment
 * and identity overrides are not touched). Reads GET /api/v1/environments/{environmentKey}/featurestates/?feature_name={feature}
 * (the environment-default feature state; Flagsmith matches the name case-insensitively), then, when
 * enabled, PATCH /api/v1/environments/{environmentKey}/featurestates/{id}/ with {"enabled": false}.
 * Auth: `Authorization: Api-Key <key>` (Organisation API key) or `Token <token>` (user token).
 * Environments with feature versioning v2 or change requests refuse direct writes with a 4xx: a
 * permanent failure whose message names the cause. `healthCheck` reads the feature state.
 *
 * With `canaryValue` (the value of one of a multivariate feature's options) the connector also has
 * `setCanaryShare(p)`, Flagsmith's percentage split: the environment default's `multivariate_feature_state_values`
 * give the canary option `percentage_allocation` p and every other option 0 (the control value gets the rest, 100 − p),
 * and the feature is enabled — one PATCH of the same feature state with {"enabled": true,
 * "multivariate_feature_state_values": [{id, multivariate_feature_option, percentage_allocation}, …]}, every value the
 * state has listed with its id (Flagsmith updates listed values and deletes unlisted ones). The option is resolved
 * by value with GET /api/v1/environments/{environmentKey}/ (its project) and GET
 * /api/v1/projects/{project}/features/{feature id}/mv-options/. Flagsmith allocations are floats: fractions are sent
 * as they are. Share 0 is the rollback's state, and in this mode `apply` leaves it too: the feature disabled AND
 * every allocation 0 (the PATCH carries the zeroed values when one is above 0), so no identity is bucketed into the
 * canary value even by code that reads a disabled feature's value. `healthCheck` also resolves the option.
 */
export const flagsmithFactory: ConnectorFactory<FlagsmithOptions> = {
  setsShare: (o) => o.canaryValue !== undefined,
  type: 'flagsmith',
  kind: 'flag',
  parse: (options) => parseOptions('flagsmith', schema, options),
  create(name: string, o: FlagsmithOptions, deps: ConnectorDeps): PlanConnector<'flag'> {
    const api = flagsmithApi(o, deps);
    const canaryMode = o.canaryValue !== undefined;
    const where = `feature "${o.feature}" in its environment default`;
    const allocations = (s: FlagsmithState): string =>
      s.mv.map((v) => `option ${v.multivariate_feature_option} ${v.percentage_allocation}%`).join(', ') || 'none';
    const describe = (s: FlagsmithState): string =>
      `${where} is ${s.enabled ? 'enabled' : 'disabled'} (feature state ${s.id})` +
      (canaryMode ? `, multivariate allocations: ${allocations(s)}` : '');
    // in canary mode the rollback also zeroes the allocations: share 0 and `apply` leave one state
    const zeroes = (s: FlagsmithState): boolean => canaryMode && s.mv.some((v) => v.percentage_allocation !== 0);
    const disableBody = (s: FlagsmithState): object =>
      zeroes(s) ? { enabled: false, multivariate_feature_state_values: mvBody(s, undefined, 0) } : { enabled: false };
    const disableWhat = (s: FlagsmithState): string =>
      `disable ${where}${zeroes(s) ? ' and set every multivariate allocation to 0%' : ''} (PATCH ${logUrlOf(api.stateUrl(s.id))})`;

    const setter: StateSetter<FlagsmithState> = {
      vendor: VENDOR,
      read: (ctx) => api.read(ctx.signal, ctx.logger),
      isSet: (s) => !s.enabled && !zeroes(s),
      describe,
      describeWrite: disableWhat,
      write: (s, ctx) => api.patch(s.id, disableBody(s), ctx),
    };

    async function setCanaryShare(canaryValue: string, percent: number, ctx: ActionContext): Promise<ActionResult> {
      const share = checkShare(VENDOR, percent);
      if (ctx.signal.aborted) throw abortedError(VENDOR, ctx.signal);
      const s = await api.read(ctx.signal, ctx.logger);
      const canary = resolveCanaryOption(await api.options(s, ctx), canaryValue, o.feature).id;
      const head = shareDetail(share, shareNow(s, canary));
      if (hasShare(s, canary, share)) return { changed: false, detail: `${head}: ${describe(s)}` };
      const body =
        share === 0 ? disableBody(s) : { enabled: true, multivariate_feature_state_values: mvBody(s, canary, share) };
      const what =
        share === 0
          ? disableWhat(s)
          : `enable ${where} with the multivariate option "${canaryValue}" (id ${canary}) at ${share}% and every other option at 0% (PATCH ${logUrlOf(api.stateUrl(s.id))})`;
      if (ctx.dryRun) return { changed: true, detail: `dry-run: ${head}: would ${what}; now ${describe(s)}` };
      if (ctx.signal.aborted) throw abortedError(VENDOR, ctx.signal);
      await api.patch(s.id, body, ctx);
      return { changed: true, detail: `${head}: ${what}; before: ${describe(s)}` };
    }

    const canaryValue = o.canaryValue;
    return {
      name,
      type: 'flagsmith',
      kind: 'flag',
      apply: (ctx: ActionContext): Promise<ActionResult> => applySetState(setter, ctx),
      ...(canaryValue === undefined
        ? {}
        : { setCanaryShare: (percent: number, ctx: ActionContext) => setCanaryShare(canaryValue, percent, ctx) }),
      async healthCheck(ctx) {
        const s = await api.read(ctx.signal, ctx.logger);
        if (canaryValue !== undefined) resolveCanaryOption(await api.options(s, ctx), canaryValue, o.feature);
      },
    };
  },
};

/** The Admin API requests the connector sends: read the feature state, its options, PATCH the feature state. */
function flagsmithApi(o: FlagsmithOptions, deps: ConnectorDeps) {
  const envPath = `/api/v1/environments/${encodeURIComponent(o.environmentKey)}/`;
  const statesPath = `${envPath}featurestates/`;
  const listUrl = `${joinUrl(o.baseUrl, statesPath)}?feature_name=${encodeURIComponent(o.feature)}`;
  const stateUrl = (id: number): string => joinUrl(o.baseUrl, `${statesPath}${id}/`);
  const authorization = o.apiKey !== undefined ? `Api-Key ${o.apiKey}` : `Token ${o.token ?? ''}`;

  async function get<S extends z.ZodType>(
    url: string,
    path: string,
    schema: S,
    signal: AbortSignal,
    logger: ActionContext['logger'],
  ): Promise<z.output<S>> {
    const res = await vendorRequest({
      vendor: VENDOR,
      method: 'GET',
      url,
      headers: { authorization, accept: 'application/json' },
      timeoutMs: o.timeoutMs,
      signal,
      fetch: deps.fetch,
      logger,
    });
    return parseVendorJson(VENDOR, `GET ${path}`, res.body, schema);
  }

  async function read(signal: AbortSignal, logger: ActionContext['logger']): Promise<FlagsmithState> {
    const states = await get(listUrl, statesPath, listSchema, signal, logger);
    if (states.length !== 1) {
      const why =
        states.length === 0
          ? `has no feature named "${o.feature}": fix options.feature or options.environmentKey`
          : `has ${states.length} environment-default feature states for "${o.feature}": name the feature exactly`;
      throw new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`flagsmith: the environment ${why}`], {
        details: { vendor: VENDOR },
      });
    }
    const [st] = states;
    return { id: st!.id, enabled: st!.enabled, feature: st!.feature, mv: st!.multivariate_feature_state_values };
  }

  /** The feature's multivariate options: the environment names its project, the project route lists them. */
  async function options(s: FlagsmithState, ctx: Pick<ActionContext, 'signal' | 'logger'>): Promise<MvOption[]> {
    const env = await get(joinUrl(o.baseUrl, envPath), envPath, environmentSchema, ctx.signal, ctx.logger);
    const path = `/api/v1/projects/${env.project}/features/${s.feature}/mv-options/`;
    return get(joinUrl(o.baseUrl, path), path, mvOptionsSchema, ctx.signal, ctx.logger);
  }

  async function patch(id: number, body: object, ctx: ActionContext): Promise<void> {
    await vendorRequest({
      vendor: VENDOR,
      method: 'PATCH',
      url: stateUrl(id),
      headers: { authorization, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      timeoutMs: o.timeoutMs,
      signal: ctx.signal,
      fetch: deps.fetch,
      logger: ctx.logger,
    });
  }

  return { read, options, patch, stateUrl };
}
