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

const VENDOR = 'unleash';

const schema = z.strictObject({
  url: httpUrl('the Unleash base URL, e.g. https://unleash.example.com (with its base path, if any)', {
    httpsOnly: false,
  }),
  token: credentialOption('an Unleash admin API token or personal access token, e.g. "${UNLEASH_ADMIN_TOKEN}"'),
  project: keyOption('the Unleash project id').default('default'),
  feature: keyOption('the name of the feature flag to disable'),
  environment: keyOption('the Unleash environment to disable the feature in, e.g. production'),
  timeoutMs: timeoutMsOption,
});

export type UnleashOptions = z.output<typeof schema>;

/** The fields of "Get a feature" (GET /api/admin/projects/{project}/features/{feature}) the connector reads. */
const featureSchema = z.object({
  name: z.string(),
  environments: z.array(z.object({ name: z.string(), enabled: z.boolean() })),
});

interface UnleashState {
  enabled: boolean;
}

/**
 * Unleash Admin API (open source and enterprise): the rollback state is "feature disabled in the
 * environment". Reads GET /api/admin/projects/{project}/features/{feature} (its `environments[].enabled`),
 * then, when enabled, POST /api/admin/projects/{project}/features/{feature}/environments/{environment}/off
 * (no body). Auth: `Authorization: <token>` (an admin API token or a personal access token), as Unleash
 * documents. Disabling is idempotent on Unleash's side too; strategies and variants are left as they are.
 * An environment with change requests enabled answers the write with a 4xx: a permanent failure whose
 * message names the cause. `healthCheck` reads the feature: it proves the URL, the token, the project,
 * the feature and the environment.
 */
export const unleashFactory: ConnectorFactory<UnleashOptions> = {
  type: 'unleash',
  kind: 'flag',
  parse: (options) => parseOptions('unleash', schema, options),
  create(name: string, o: UnleashOptions, deps: ConnectorDeps): PlanConnector<'flag'> {
    const featurePath = `/api/admin/projects/${encodeURIComponent(o.project)}/features/${encodeURIComponent(o.feature)}`;
    const featureUrl = joinUrl(o.url, featurePath);
    const offUrl = joinUrl(o.url, `${featurePath}/environments/${encodeURIComponent(o.environment)}/off`);
    const what = `feature "${o.feature}" (project "${o.project}") in environment "${o.environment}"`;
    const headers = { authorization: o.token, accept: 'application/json' };

    async function read(signal: AbortSignal, logger: ActionContext['logger']): Promise<UnleashState> {
      const res = await vendorRequest({
        vendor: VENDOR,
        method: 'GET',
        url: featureUrl,
        headers,
        timeoutMs: o.timeoutMs,
        signal,
        fetch: deps.fetch,
        logger,
      });
      const feature = parseVendorJson(VENDOR, `GET ${featurePath}`, res.body, featureSchema);
      const env = feature.environments.find((e) => e.name === o.environment);
      if (!env) {
        const known = feature.environments.map((e) => e.name).join(', ') || 'none';
        throw new VigilError(
          'VIGIL_ERR_CONNECTOR_FAILED',
          [
            `unleash: feature "${o.feature}" has no environment "${o.environment}" in project "${o.project}" (it has: ${known}): fix options.environment or enable the environment for the project`,
          ],
          { details: { vendor: VENDOR } },
        );
      }
      return { enabled: env.enabled };
    }

    const setter: StateSetter<UnleashState> = {
      vendor: VENDOR,
      read: (ctx) => read(ctx.signal, ctx.logger),
      isSet: (s) => !s.enabled,
      describe: (s) => `${what} is ${s.enabled ? 'enabled' : 'disabled'}`,
      describeWrite: () => `disable ${what} (POST ${logUrlOf(offUrl)})`,
      async write(_s, ctx) {
        await vendorRequest({
          vendor: VENDOR,
          method: 'POST',
          url: offUrl,
          headers,
          timeoutMs: o.timeoutMs,
          signal: ctx.signal,
          fetch: deps.fetch,
          logger: ctx.logger,
        });
      },
    };

    return {
      name,
      type: 'unleash',
      kind: 'flag',
      apply: (ctx: ActionContext): Promise<ActionResult> => applySetState(setter, ctx),
      async healthCheck(ctx) {
        await read(ctx.signal, ctx.logger);
      },
    };
  },
};
