import { z } from 'zod';
import type { ActionContext, ActionResult, ConnectorFactory, PlanConnector } from '../../src/contracts/connector.js';
import { VigilError } from '../../src/errors.js';
import { abortedError } from '../shared/http.js';
import { type KubeCall, KubeClient, PATCH_CONTENT_TYPE, jsonPointer } from '../shared/kube-client.js';
import { contextNeedsKubeconfig, kubeConnectionShape, kubeName } from '../shared/kube-options.js';
import { parseOptions } from '../shared/options.js';
import {
  type Deployment,
  type ReplicaSet,
  type VersionSource,
  controlledBy,
  equalIgnoreHash,
  revisionOf,
  rollbackAnnotations,
  selectorString,
  versionOf,
  withoutHash,
} from './kube-revisions.js';
import { withBindings } from '../shared/log.js';

const TYPE = 'kubernetes';

const schema = z
  .strictObject({
    ...kubeConnectionShape,
    deployment: kubeName(
      'the Deployment to roll back (mode undo) or the canary Deployment to scale to zero (mode scale-to-zero)',
    ),
    mode: z
      .enum(['undo', 'scale-to-zero'], {
        error:
          'must be undo (roll the Deployment back to the baseline ReplicaSet) or scale-to-zero (scale the canary Deployment to 0)',
      })
      .default('undo'),
    versionLabel: z
      .string({ error: 'must be a string: the pod template label that holds the version' })
      .min(1, { error: 'must not be empty' })
      .default('app.kubernetes.io/version'),
    versionContainer: z
      .string({ error: 'must be a string: the container whose image tag is the version (instead of versionLabel)' })
      .min(1, { error: 'must not be empty' })
      .optional(),
  })
  .superRefine(contextNeedsKubeconfig);

export type KubernetesDeployerOptions = z.output<typeof schema>;

interface Scale {
  spec?: { replicas?: number };
}

function failed(why: string): VigilError {
  return new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`${TYPE}: ${why}`], { details: { vendor: TYPE } });
}

/**
 * Deployer for Kubernetes Deployments, two modes:
 *
 * `undo` (default) does what `kubectl rollout undo --to-revision=<the baseline's>` does: it lists the
 * ReplicaSets the Deployment controls (its selector, then the controller owner reference), picks the newest
 * revision whose pod template carries the baseline version (label `versionLabel`, or the image tag of
 * `versionContainer`), and sends kubectl's JSON patch: replace `/spec/template` with that template (without
 * `pod-template-hash`) and set `/metadata/annotations` as kubectl computes them. A `test` of the current
 * version precedes it, so a Deployment redeployed since our GET fails (422) instead of being overwritten.
 * Already running the baseline template (equal ignoring the hash) → `changed: false`. Refused, permanently:
 * a paused Deployment (as kubectl), one now running a version that is neither canary nor baseline (a stale
 * decision), and no ReplicaSet of the baseline version left (revisionHistoryLimit).
 *
 * `scale-to-zero` scales the canary Deployment through its `scale` subresource with the merge patch
 * `{"spec":{"replicas":0}}`, as `kubectl scale` does; 0 already → `changed: false`; refused when the
 * Deployment runs another version than the decision's canary. An HPA with minReplicas >= 1 scales it back up.
 *
 * Dry run reads and describes. Health check: GET, then an empty PATCH with `?dryRun=All`.
 */
export const kubernetesDeployerFactory: ConnectorFactory<KubernetesDeployerOptions> = {
  type: TYPE,
  kind: 'deployer',
  parse: (options) => parseOptions(TYPE, schema, options),
  create(name: string, o: KubernetesDeployerOptions): PlanConnector<'deployer'> {
    const client = new KubeClient(TYPE, o);
    const apps = `/apis/apps/v1/namespaces/${o.namespace}`;
    const path = `${apps}/deployments/${o.deployment}`;
    const where = `Deployment ${o.namespace}/${o.deployment}`;
    const source: VersionSource =
      o.versionContainer !== undefined ? { container: o.versionContainer } : { label: o.versionLabel };
    const sourceName = 'label' in source ? `label ${source.label}` : `image tag of container ${source.container}`;

    /** The `test` operation that pins the version we read (label value or container image). */
    function versionTest(d: Deployment): unknown[] {
      const t = d.spec?.template;
      if ('label' in source) {
        const v = t?.metadata?.labels?.[source.label];
        return v === undefined
          ? []
          : [{ op: 'test', path: jsonPointer('spec', 'template', 'metadata', 'labels', source.label), value: v }];
      }
      const i = (t?.spec?.containers ?? []).findIndex((c) => c.name === source.container);
      return i < 0
        ? []
        : [
            {
              op: 'test',
              path: jsonPointer('spec', 'template', 'spec', 'containers', i, 'image'),
              value: t!.spec!.containers![i]!.image,
            },
          ];
    }

    async function undo(ctx: ActionContext, call: KubeCall): Promise<ActionResult> {
      const { canaryVersion, baselineVersion } = ctx.target;
      const d = (await client.get(path, call)) as Deployment;
      const current = versionOf(d.spec?.template, source);
      let selector: string;
      try {
        selector = selectorString(d.spec?.selector);
      } catch (e) {
        throw failed(`${where}: ${(e as Error).message}`);
      }
      const list = (await client.get(`${apps}/replicasets?labelSelector=${encodeURIComponent(selector)}`, call)) as {
        items?: ReplicaSet[];
      };
      const owned = (list.items ?? []).filter((rs) => controlledBy(rs, d));
      const target = owned
        .filter((rs) => versionOf(rs.spec?.template, source) === baselineVersion)
        .sort((a, b) => revisionOf(b) - revisionOf(a))[0];
      if (!target) {
        const seen = [...new Set(owned.map((rs) => versionOf(rs.spec?.template, source) ?? '?'))].join(', ') || 'none';
        throw failed(
          `${where} has no ReplicaSet whose ${sourceName} is the baseline ${baselineVersion} (versions found: ${seen}); raise revisionHistoryLimit or roll back by hand`,
        );
      }
      const revision = revisionOf(target);
      if (equalIgnoreHash(d.spec?.template, target.spec?.template)) {
        return {
          changed: false,
          detail: `${where} already runs the template of revision ${revision} (baseline ${baselineVersion})`,
        };
      }
      if (d.spec?.paused === true) {
        throw failed(
          `${where} is paused: Kubernetes does not roll back a paused Deployment; resume it (kubectl rollout resume deployment/${o.deployment}) and retry`,
        );
      }
      if (current !== undefined && current !== canaryVersion && current !== baselineVersion) {
        throw failed(
          `${where} now runs ${current}, not the canary ${canaryVersion} this decision is about: refusing to roll back a newer deployment`,
        );
      }
      const what =
        `${where} to revision ${revision} (${target.metadata?.name ?? '?'}, baseline ${baselineVersion}; now ${current ?? 'unknown version'}) ` +
        `with a JSON patch (${PATCH_CONTENT_TYPE.json}) replacing /spec/template and /metadata/annotations, as kubectl rollout undo`;
      if (ctx.dryRun) return { changed: false, detail: `dry-run: would roll back ${what}` };
      await client.patch(
        path,
        PATCH_CONTENT_TYPE.json,
        [
          ...versionTest(d),
          { op: 'replace', path: '/spec/template', value: withoutHash(target.spec?.template) },
          { op: 'add', path: '/metadata/annotations', value: rollbackAnnotations(d, target) },
        ],
        call,
      );
      withBindings(ctx.logger, { connector: name }).info({ deployment: where, revision }, 'deployment rolled back');
      return { changed: true, detail: `rolled back ${what}` };
    }

    async function scaleToZero(ctx: ActionContext, call: KubeCall): Promise<ActionResult> {
      const d = (await client.get(path, call)) as Deployment;
      const scale = (await client.get(`${path}/scale`, call)) as Scale;
      const replicas = scale.spec?.replicas ?? 0;
      if (replicas === 0) return { changed: false, detail: `${where} is already scaled to 0` };
      const current = versionOf(d.spec?.template, source);
      if (current !== undefined && current !== ctx.target.canaryVersion) {
        throw failed(
          `${where} runs ${current}, not the canary ${ctx.target.canaryVersion} this decision is about: refusing to scale it to 0`,
        );
      }
      const what = `${where} from ${replicas} to 0 replicas (merge patch {"spec":{"replicas":0}} to its scale subresource)`;
      if (ctx.dryRun) return { changed: false, detail: `dry-run: would scale ${what}` };
      await client.patch(`${path}/scale`, PATCH_CONTENT_TYPE.merge, { spec: { replicas: 0 } }, call);
      withBindings(ctx.logger, { connector: name }).info({ deployment: where }, 'canary deployment scaled to zero');
      return { changed: true, detail: `scaled ${what}` };
    }

    return {
      name,
      type: TYPE,
      kind: 'deployer',
      apply(ctx: ActionContext): Promise<ActionResult> {
        if (ctx.signal.aborted) return Promise.reject(abortedError(TYPE, ctx.signal));
        const call = { signal: ctx.signal, timeoutMs: o.timeoutMs, logger: ctx.logger };
        return o.mode === 'undo' ? undo(ctx, call) : scaleToZero(ctx, call);
      },
      async healthCheck(ctx): Promise<void> {
        const call = { signal: ctx.signal, timeoutMs: o.timeoutMs, logger: ctx.logger };
        await client.get(path, call);
        if (o.mode === 'undo') await client.patch(`${path}?dryRun=All`, PATCH_CONTENT_TYPE.json, [], call);
        else await client.patch(`${path}/scale?dryRun=All`, PATCH_CONTENT_TYPE.merge, {}, call);
      },
    };
  },
};
