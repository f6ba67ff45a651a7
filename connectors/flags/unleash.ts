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
import { checkShare, roundedNote, shareDetail } from '../shared/share.js';
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

/** A strategy of a feature's environment, as "Get a feature" lists it (the fields `setCanaryShare` reads). */
const strategySchema = z.object({
  id: z.string(),
  name: z.string(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  constraints: z.array(z.unknown()).nullish(),
  segments: z.array(z.unknown()).nullish(),
  disabled: z.boolean().nullish(),
});

/** The fields of "Get a feature" (GET /api/admin/projects/{project}/features/{feature}) the connector reads. */
const featureSchema = z.object({
  name: z.string(),
  environments: z.array(
    z.object({ name: z.string(), enabled: z.boolean(), strategies: z.array(strategySchema).optional() }),
  ),
});

type Strategy = z.output<typeof strategySchema>;

interface UnleashState {
  enabled: boolean;
  /** The environment's strategies that Unleash evaluates (disabled ones left out). */
  strategies: Strategy[];
}

/** The rollout percentage of a flexibleRollout strategy, undefined when it has none that is a number. */
function rolloutOf(s: Strategy): number | undefined {
  const raw = s.parameters?.rollout;
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : typeof raw === 'number' ? raw : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** The one strategy a canary share lives in: a flexibleRollout without constraints or segments, alone in the environment. */
function canaryStrategy(strategies: readonly Strategy[]): Strategy | undefined {
  const [only] = strategies;
  if (strategies.length !== 1 || only === undefined || only.name !== 'flexibleRollout') return undefined;
  return (only.constraints?.length ?? 0) === 0 && (only.segments?.length ?? 0) === 0 ? only : undefined;
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
 *
 * `setCanaryShare(p)` (Unleash's gradual rollout): the environment's one strategy, a `flexibleRollout` without
 * constraints or segments, gets `rollout` = p (PATCH .../environments/{environment}/strategies/{id}, a JSON patch of
 * `/parameters/rollout` only: its stickiness and groupId stay); an environment without strategies gets one
 * (POST .../strategies: rollout p, stickiness `default`, groupId the feature name); a disabled environment is
 * enabled after that (POST .../on). Unleash rolls out whole percents: p is rounded (a share above 0 to at least 1%).
 * Other strategies (several, other types, constraints, segments) are never overwritten: permanent error. Share 0 is
 * the rollback: the environment disabled, the strategy left as it is, exactly what `apply` leaves.
 */
export const unleashFactory: ConnectorFactory<UnleashOptions> = {
  setsShare: () => true,
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
      return { enabled: env.enabled, strategies: (env.strategies ?? []).filter((x) => x.disabled !== true) };
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

    const envPath = `${featurePath}/environments/${encodeURIComponent(o.environment)}`;
    const strategiesUrl = joinUrl(o.url, `${envPath}/strategies`);
    const onUrl = joinUrl(o.url, `${envPath}/on`);

    async function send(method: 'POST' | 'PATCH', url: string, body: unknown, ctx: ActionContext): Promise<void> {
      if (ctx.signal.aborted) throw abortedError(VENDOR, ctx.signal);
      await vendorRequest({
        vendor: VENDOR,
        method,
        url,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        timeoutMs: o.timeoutMs,
        signal: ctx.signal,
        fetch: deps.fetch,
        logger: ctx.logger,
      });
    }

    interface Write {
      what: string;
      run(ctx: ActionContext): Promise<void>;
    }

    /** The writes that give `want` percent (a whole number): strategy first, then the environment switch. */
    function shareWrites(s: UnleashState, strategy: Strategy | undefined, want: number): Write[] {
      if (want === 0) {
        if (!s.enabled) return [];
        return [
          { what: `disable ${what} (POST ${logUrlOf(offUrl)})`, run: (ctx) => send('POST', offUrl, undefined, ctx) },
        ];
      }
      const writes: Write[] = [];
      const rollout = String(want);
      if (strategy === undefined) {
        const body = {
          name: 'flexibleRollout',
          constraints: [],
          parameters: { rollout, stickiness: 'default', groupId: o.feature },
        };
        writes.push({
          what: `add a flexibleRollout strategy at ${rollout}% (stickiness default, groupId "${o.feature}") to ${what} (POST ${logUrlOf(strategiesUrl)})`,
          run: (ctx) => send('POST', strategiesUrl, body, ctx),
        });
      } else if (rolloutOf(strategy) !== want) {
        const url = `${strategiesUrl}/${encodeURIComponent(strategy.id)}`;
        // JSON patch "add" sets the member whether or not it is there (RFC 6902 §4.1); the rest stays as it is
        const patch = [{ op: 'add', path: '/parameters/rollout', value: rollout }];
        writes.push({
          what: `set the rollout of the flexibleRollout strategy ${strategy.id} of ${what} to ${rollout}% (PATCH ${logUrlOf(url)})`,
          run: (ctx) => send('PATCH', url, patch, ctx),
        });
      }
      if (!s.enabled)
        writes.push({
          what: `enable ${what} (POST ${logUrlOf(onUrl)})`,
          run: (ctx) => send('POST', onUrl, undefined, ctx),
        });
      return writes;
    }

    function describeShare(s: UnleashState, strategy: Strategy | undefined): string {
      if (!s.enabled) return `${what} is disabled`;
      if (strategy === undefined) return `${what} is enabled without strategies`;
      return `${what} is enabled with a flexibleRollout at ${String(strategy.parameters?.rollout)}%`;
    }

    async function setCanaryShare(percent: number, ctx: ActionContext): Promise<ActionResult> {
      const asked = checkShare(VENDOR, percent);
      if (ctx.signal.aborted) throw abortedError(VENDOR, ctx.signal);
      const s = await read(ctx.signal, ctx.logger);
      // Unleash rolls out whole percents (its SDKs bucket contexts into 1..100): a share above 0 stays above 0
      const want = asked === 0 ? 0 : Math.max(1, Math.round(asked));
      const strategy = canaryStrategy(s.strategies);
      if (want > 0 && s.strategies.length > 0 && strategy === undefined) {
        const names = s.strategies.map((x) => x.name).join(', ');
        throw new VigilError(
          'VIGIL_ERR_CONNECTOR_FAILED',
          [
            `unleash: ${what} has strategies other than one flexibleRollout without constraints or segments (${names}): Vigil does not overwrite them with a canary share`,
          ],
          { details: { vendor: VENDOR }, retryable: false },
        );
      }
      const was = !s.enabled ? 0 : s.strategies.length === 0 ? 100 : strategy && rolloutOf(strategy);
      const head = shareDetail(want, was);
      const rounded = roundedNote(asked, want, "Unleash's whole percent");
      const writes = shareWrites(s, strategy, want);
      if (writes.length === 0) return { changed: false, detail: `${head}: ${describeShare(s, strategy)}${rounded}` };
      const todo = writes.map((w) => w.what).join(', then ');
      if (ctx.dryRun) return { changed: true, detail: `dry-run: ${head}: would ${todo}${rounded}` };
      for (const w of writes) await w.run(ctx);
      return { changed: true, detail: `${head}: ${todo}${rounded}` };
    }

    return {
      name,
      type: 'unleash',
      kind: 'flag',
      apply: (ctx: ActionContext): Promise<ActionResult> => applySetState(setter, ctx),
      setCanaryShare,
      async healthCheck(ctx) {
        await read(ctx.signal, ctx.logger);
      },
    };
  },
};
