import { z } from 'zod';
import type {
  ActionContext,
  ActionResult,
  ConnectorDeps,
  ConnectorFactory,
  PlanConnector,
} from '../../src/contracts/connector.js';
import { VigilError } from '../../src/errors.js';
import { httpUrl, parseOptions, timeoutMsOption } from '../shared/options.js';
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

const featureStateSchema = z.object({
  id: z.number().int(),
  enabled: z.boolean(),
});

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
}

/**
 * Flagsmith Admin API: the rollback state is "the feature's environment default is disabled" (segment
 * and identity overrides are not touched). Reads GET /api/v1/environments/{environmentKey}/featurestates/?feature_name={feature}
 * (the environment-default feature state; Flagsmith matches the name case-insensitively), then, when
 * enabled, PATCH /api/v1/environments/{environmentKey}/featurestates/{id}/ with {"enabled": false}.
 * Auth: `Authorization: Api-Key <key>` (Organisation API key) or `Token <token>` (user token).
 * Environments with feature versioning v2 or change requests refuse direct writes with a 4xx: a
 * permanent failure whose message names the cause. `healthCheck` reads the feature state.
 */
export const flagsmithFactory: ConnectorFactory<FlagsmithOptions> = {
  type: 'flagsmith',
  kind: 'flag',
  parse: (options) => parseOptions('flagsmith', schema, options),
  create(name: string, o: FlagsmithOptions, deps: ConnectorDeps): PlanConnector<'flag'> {
    const statesPath = `/api/v1/environments/${encodeURIComponent(o.environmentKey)}/featurestates/`;
    const listUrl = `${joinUrl(o.baseUrl, statesPath)}?feature_name=${encodeURIComponent(o.feature)}`;
    const stateUrl = (id: number): string => joinUrl(o.baseUrl, `${statesPath}${id}/`);
    const authorization = o.apiKey !== undefined ? `Api-Key ${o.apiKey}` : `Token ${o.token ?? ''}`;
    const where = `feature "${o.feature}" in its environment default`;

    async function read(signal: AbortSignal, logger: ActionContext['logger']): Promise<FlagsmithState> {
      const res = await vendorRequest({
        vendor: VENDOR,
        method: 'GET',
        url: listUrl,
        headers: { authorization, accept: 'application/json' },
        timeoutMs: o.timeoutMs,
        signal,
        fetch: deps.fetch,
        logger,
      });
      const states = parseVendorJson(VENDOR, `GET ${statesPath}`, res.body, listSchema);
      if (states.length !== 1) {
        const why =
          states.length === 0
            ? `has no feature named "${o.feature}": fix options.feature or options.environmentKey`
            : `has ${states.length} environment-default feature states for "${o.feature}": name the feature exactly`;
        throw new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`flagsmith: the environment ${why}`], {
          details: { vendor: VENDOR },
        });
      }
      return states[0]!;
    }

    const setter: StateSetter<FlagsmithState> = {
      vendor: VENDOR,
      read: (ctx) => read(ctx.signal, ctx.logger),
      isSet: (s) => !s.enabled,
      describe: (s) => `${where} is ${s.enabled ? 'enabled' : 'disabled'} (feature state ${s.id})`,
      describeWrite: (s) => `disable ${where} (PATCH ${logUrlOf(stateUrl(s.id))})`,
      async write(s, ctx) {
        await vendorRequest({
          vendor: VENDOR,
          method: 'PATCH',
          url: stateUrl(s.id),
          headers: { authorization, 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ enabled: false }),
          timeoutMs: o.timeoutMs,
          signal: ctx.signal,
          fetch: deps.fetch,
          logger: ctx.logger,
        });
      },
    };

    return {
      name,
      type: 'flagsmith',
      kind: 'flag',
      apply: (ctx: ActionContext): Promise<ActionResult> => applySetState(setter, ctx),
      async healthCheck(ctx) {
        await read(ctx.signal, ctx.logger);
      },
    };
  },
};
