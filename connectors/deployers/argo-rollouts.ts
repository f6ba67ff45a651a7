import { z } from 'zod';
import type { ActionContext, ActionResult, ConnectorFactory, PlanConnector } from '../../src/contracts/connector.js';
import { VigilError, isVigilError } from '../../src/errors.js';
import { abortedError } from '../shared/http.js';
import { type KubeCall, KubeClient, PATCH_CONTENT_TYPE } from '../shared/kube-client.js';
import { contextNeedsKubeconfig, kubeConnectionShape, kubeName } from '../shared/kube-options.js';
import { parseOptions } from '../shared/options.js';
import { withBindings } from '../shared/log.js';

const TYPE = 'argo-rollouts';

const schema = z
  .strictObject({
    ...kubeConnectionShape,
    rollout: kubeName('the name of the Argo Rollout to abort'),
    versionLabel: z
      .string({ error: 'must be a string: the pod template label that holds the version' })
      .min(1, { error: 'must not be empty' })
      .default('app.kubernetes.io/version'),
  })
  .superRefine(contextNeedsKubeconfig);

export type ArgoRolloutsOptions = z.output<typeof schema>;

/** The patch `kubectl argo rollouts abort` sends (pkg/kubectl-argo-rollouts/cmd/abort/abort.go). */
export const ABORT_PATCH = { status: { abort: true } } as const;

interface Rollout {
  spec?: { template?: { metadata?: { labels?: Record<string, string> } } };
  status?: { abort?: boolean; phase?: string; currentPodHash?: string; stableRS?: string; message?: string };
}

/**
 * Deployer for Argo Rollouts: aborts the Rollout `options.rollout`, the way `kubectl argo rollouts abort`
 * does: a merge patch `{"status":{"abort":true}}` (application/merge-patch+json) to the `status`
 * subresource, and to the object itself when the cluster's CRD has no status subresource (404). The Argo
 * controller then scales the canary down and sends all traffic back to the stable ReplicaSet.
 *
 * SET semantics: GET first; `status.abort: true` already → `changed: false`. A Rollout with no update in
 * progress (`status.currentPodHash == status.stableRS`) has nothing to abort: if its pod template is the
 * baseline version (label `versionLabel`) it is already rolled back (`changed: false`); otherwise the canary
 * was promoted, abort would do nothing, and the step fails permanently so an operator undoes it.
 * Dry run GETs and describes. Health check: GET, then an empty merge patch to `status` with `?dryRun=All`.
 */
export const argoRolloutsDeployerFactory: ConnectorFactory<ArgoRolloutsOptions> = {
  type: TYPE,
  kind: 'deployer',
  parse: (options) => parseOptions(TYPE, schema, options),
  create(name: string, o: ArgoRolloutsOptions): PlanConnector<'deployer'> {
    const client = new KubeClient(TYPE, o);
    const path = `/apis/argoproj.io/v1alpha1/namespaces/${o.namespace}/rollouts/${o.rollout}`;
    const where = `Rollout ${o.namespace}/${o.rollout}`;

    /** PATCH the status subresource, or the object when the CRD has no status subresource (as the CLI). */
    async function patchAbort(call: KubeCall, dryRun = false): Promise<string> {
      const q = dryRun ? '?dryRun=All' : '';
      const body = dryRun ? {} : ABORT_PATCH;
      try {
        await client.patch(`${path}/status${q}`, PATCH_CONTENT_TYPE.merge, body, call);
        return `${path}/status`;
      } catch (e) {
        if (!isVigilError(e) || e.details.status !== 404) throw e;
        await client.patch(`${path}${q}`, PATCH_CONTENT_TYPE.merge, body, call);
        return path;
      }
    }

    return {
      name,
      type: TYPE,
      kind: 'deployer',
      async apply(ctx: ActionContext): Promise<ActionResult> {
        if (ctx.signal.aborted) throw abortedError(TYPE, ctx.signal);
        const call = { signal: ctx.signal, timeoutMs: o.timeoutMs, logger: ctx.logger };
        const ro = (await client.get(path, call)) as Rollout;
        const st = ro.status ?? {};
        const phase = st.phase ? ` (phase ${st.phase})` : '';
        if (st.abort === true) return { changed: false, detail: `${where} is already aborted${phase}` };
        if (st.currentPodHash !== undefined && st.currentPodHash === st.stableRS) {
          const version = ro.spec?.template?.metadata?.labels?.[o.versionLabel];
          if (version === ctx.target.baselineVersion) {
            return {
              changed: false,
              detail: `${where} has no update in progress and runs the baseline ${version}: already rolled back`,
            };
          }
          throw new VigilError(
            'VIGIL_ERR_CONNECTOR_FAILED',
            [
              `${TYPE}: ${where} has no update in progress (stable ReplicaSet ${st.stableRS} is current, version ${version ?? 'unknown'}): ` +
                `abort cannot roll back a promoted canary; undo the Rollout (kubectl argo rollouts undo ${o.rollout})`,
            ],
            { details: { vendor: TYPE } },
          );
        }
        const what = `${where}: merge patch ${JSON.stringify(ABORT_PATCH)} (${PATCH_CONTENT_TYPE.merge}) to its status subresource`;
        if (ctx.dryRun) return { changed: false, detail: `dry-run: would abort ${what}${phase}` };
        const sentTo = await patchAbort(call);
        withBindings(ctx.logger, { connector: name }).info({ rollout: where }, 'rollout aborted');
        return {
          changed: true,
          detail: `aborted ${where}${phase}: PATCHed ${sentTo} with ${JSON.stringify(ABORT_PATCH)}`,
        };
      },
      async healthCheck(ctx): Promise<void> {
        const call = { signal: ctx.signal, timeoutMs: o.timeoutMs, logger: ctx.logger };
        await client.get(path, call);
        await patchAbort(call, true);
      },
    };
  },
};
