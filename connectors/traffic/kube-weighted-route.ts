import type { ActionContext, ActionResult, PlanConnector } from '../../src/contracts/connector.js';
import { VigilError } from '../../src/errors.js';
import { abortedError } from '../shared/http.js';
import { KubeClient, PATCH_CONTENT_TYPE, type KubeConnection } from '../shared/kube-client.js';
import { type WeightedEntry, describeMoves, moveWeights } from './weights.js';
import { withBindings } from '../shared/log.js';

/** One weighted group of a route resource (an HTTPRoute rule, a VirtualService HTTP route). */
export interface WeightedGroup {
  /** How details name the group: "rule 0", "http[1] (primary)". */
  at: string;
  /** Effective weights (the resource kind's defaults applied) and roles, one per destination. */
  entries: WeightedEntry[];
  /** How details name each destination. */
  labels: string[];
  /** The JSON-patch ops that set destination `index`'s weight to `weight`, `test`s of its identity first. */
  setWeight(index: number, weight: number): unknown[];
}

/** What differs between the Kubernetes route kinds whose weights Vigil moves. */
export interface WeightedRouteKind<R> {
  /** Connector type, in errors and logs. */
  type: string;
  /** API path of the resource. */
  path: string;
  /** "HTTPRoute ns/name", in details and errors. */
  where: string;
  /** The baseline as details name it ("all weight already on <baseline>"). */
  baselineLabel: string;
  /** Log field that names the resource ("route", "virtualService"). */
  logField: string;
  /** The resource's weighted groups, in order. */
  groups(resource: R): WeightedGroup[];
  /** Why a resource with no group mentioning baseline or canary is refused, and what to check. */
  notMentioned: string;
}

interface Plan {
  ops: unknown[];
  changes: string[];
  /** Current weights of the groups that mention baseline or canary, for "already" details. */
  current: string[];
}

/**
 * The JSON patch that moves each group's canary weight to its baseline (see `moveCanaryWeight`): for every
 * changed weight, the kind's `test`s of the destination at that index, then an `add` of the weight, so a
 * resource edited between GET and PATCH fails with 422 instead of re-weighting the wrong destination.
 * Groups without baseline or canary are untouched; a resource with none of them is a permanent error.
 */
function plan<R>(resource: R, kind: WeightedRouteKind<R>): Plan {
  const out: Plan = { ops: [], changes: [], current: [] };
  let mentioned = false;
  for (const g of kind.groups(resource)) {
    if (!g.entries.some((e) => e.role !== 'other')) continue;
    mentioned = true;
    out.current.push(
      `${g.at}: ${g.entries.flatMap((e, j) => (e.role === 'other' ? [] : [`${g.labels[j]}=${e.weight}`])).join(', ')}`,
    );
    const next = moveWeights(g.entries, `${kind.where} ${g.at}`, kind.type);
    if (!next) continue;
    next.forEach((w, j) => {
      if (w !== g.entries[j]!.weight) out.ops.push(...g.setWeight(j, w));
    });
    out.changes.push(
      `${g.at}: ${describeMoves(
        g.labels,
        g.entries.map((e) => e.weight),
        next,
      )}`,
    );
  }
  if (!mentioned) {
    throw new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`${kind.type}: ${kind.where} ${kind.notMentioned}`], {
      details: { vendor: kind.type },
    });
  }
  return out;
}

/**
 * A traffic connector that moves the canary's weight to the baseline in one Kubernetes route resource
 * (Gateway API HTTPRoute, Istio VirtualService), with SET semantics: apply GETs the resource; when no
 * canary weight is left it reports `changed: false` and sends nothing, otherwise ONE JSON patch
 * (application/json-patch+json). Dry run GETs and describes the patch. Health check: GET (the resource must
 * mention baseline or canary), then an empty PATCH with `?dryRun=All`, which proves the credentials may
 * patch it without changing anything.
 */
export function kubeWeightedRouteConnector<R>(
  name: string,
  o: KubeConnection & { timeoutMs: number },
  kind: WeightedRouteKind<R>,
): PlanConnector<'traffic'> {
  const client = new KubeClient(kind.type, o);
  return {
    name,
    type: kind.type,
    kind: 'traffic',
    async apply(ctx: ActionContext): Promise<ActionResult> {
      if (ctx.signal.aborted) throw abortedError(kind.type, ctx.signal);
      const call = { signal: ctx.signal, timeoutMs: o.timeoutMs, logger: ctx.logger };
      const p = plan((await client.get(kind.path, call)) as R, kind);
      if (p.ops.length === 0) {
        return {
          changed: false,
          detail: `${kind.where}: all weight already on ${kind.baselineLabel} (${p.current.join('; ')})`,
        };
      }
      const what = `${kind.where} (${PATCH_CONTENT_TYPE.json}): ${p.changes.join('; ')}`;
      if (ctx.dryRun) return { changed: false, detail: `dry-run: would PATCH ${what}` };
      await client.patch(kind.path, PATCH_CONTENT_TYPE.json, p.ops, call);
      withBindings(ctx.logger, { connector: name }).info(
        { [kind.logField]: kind.where },
        'canary weight moved to baseline',
      );
      return { changed: true, detail: `PATCHed ${what}` };
    },
    async healthCheck(ctx): Promise<void> {
      const call = { signal: ctx.signal, timeoutMs: o.timeoutMs, logger: ctx.logger };
      plan((await client.get(kind.path, call)) as R, kind);
      await client.patch(`${kind.path}?dryRun=All`, PATCH_CONTENT_TYPE.json, [], call);
    },
  };
}
