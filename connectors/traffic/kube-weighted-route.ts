import type { ActionContext, ActionResult, PlanConnector } from '../../src/contracts/connector.js';
import { VigilError } from '../../src/errors.js';
import { abortedError } from '../shared/http.js';
import { KubeClient, PATCH_CONTENT_TYPE, type KubeConnection } from '../shared/kube-client.js';
import { type WeightedEntry, describeMoves, moveWeights, pairShare, setPairShare } from './weights.js';
import { withBindings } from '../shared/log.js';
import { type ShareWeights, checkShare, roundedNote, shareDetail, shareWeights } from '../shared/share.js';

/**
 * Pair weights end here: Gateway API caps a backendRef's weight at 1,000,000, and every share with up to four
 * decimals (0.0001% → 1/999999) is still exact. A share no total up to this expresses (12.345678%) is rounded
 * on it.
 */
const MAX_PAIR_TOTAL = 1_000_000;

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
  /** The canary as details name it. */
  canaryLabel: string;
  /** What a group is, in errors: "rule" (HTTPRoute), "HTTP route" (VirtualService). */
  groupNoun: string;
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
  /** The canary's share of the pair in the first group that has both, before the change (see `pairShare`). */
  was?: number;
}

/** "rule 0: checkout-stable=90, checkout-canary=10": a group's baseline and canary weights. */
function currentOf(g: WeightedGroup): string {
  return `${g.at}: ${g.entries.flatMap((e, j) => (e.role === 'other' ? [] : [`${g.labels[j]}=${e.weight}`])).join(', ')}`;
}

/** Whether a group has both a baseline and a canary destination (the groups a share is set in). */
const splits = (g: WeightedGroup) =>
  g.entries.some((e) => e.role === 'baseline') && g.entries.some((e) => e.role === 'canary');

/** The share before a change: the canary's share of the pair in the first group that has both. */
function wasOf(groups: WeightedGroup[]): number | undefined {
  const first = groups.find(splits);
  return first && pairShare(first.entries);
}

/** Pushes the ops and the change description that take group `g` to the weights `next`. */
function change(out: Plan, g: WeightedGroup, next: number[]): void {
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

/**
 * The JSON patch that moves each group's canary weight to its baseline (see `moveCanaryWeight`): for every
 * changed weight, the kind's `test`s of the destination at that index, then an `add` of the weight, so a
 * resource edited between GET and PATCH fails with 422 instead of re-weighting the wrong destination.
 * Groups without baseline or canary are untouched; a resource with none of them is a permanent error.
 */
function plan<R>(resource: R, kind: WeightedRouteKind<R>): Plan {
  const out: Plan = { ops: [], changes: [], current: [] };
  let mentioned = false;
  const groups = kind.groups(resource);
  out.was = wasOf(groups);
  for (const g of groups) {
    if (!g.entries.some((e) => e.role !== 'other')) continue;
    mentioned = true;
    out.current.push(currentOf(g));
    const next = moveWeights(g.entries, `${kind.where} ${g.at}`, kind.type);
    if (next) change(out, g, next);
  }
  if (!mentioned) {
    throw new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`${kind.type}: ${kind.where} ${kind.notMentioned}`], {
      details: { vendor: kind.type },
    });
  }
  return out;
}

/**
 * The JSON patch that gives the canary `want.share` percent of the pair in every group that has both a
 * baseline and a canary destination (see `setPairShare`: first canary p·k, first baseline (100 − p)·k, other
 * baseline and canary entries 0, other destinations untouched), with the same `test`s of identity as
 * `plan`. Groups with only one of the two, or neither, are left alone; a resource with no group that has
 * both is a permanent error (there is nowhere to set a share). Share 0 is not planned here but by `plan`.
 */
function sharePlan<R>(resource: R, kind: WeightedRouteKind<R>, want: ShareWeights): Plan {
  const groups = kind.groups(resource);
  const out: Plan = { ops: [], changes: [], current: [], was: wasOf(groups) };
  for (const g of groups.filter(splits)) {
    out.current.push(currentOf(g));
    const next = setPairShare(g.entries, want);
    if (next) change(out, g, next);
  }
  if (out.current.length === 0) {
    throw new VigilError(
      'VIGIL_ERR_CONNECTOR_FAILED',
      [
        `${kind.type}: ${kind.where} has no ${kind.groupNoun} with both ${kind.baselineLabel} and ${kind.canaryLabel} as destinations: a canary share can only be set where traffic is split between them`,
      ],
      { details: { vendor: kind.type }, retryable: false },
    );
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
 *
 * `setCanaryShare(p)`: the same GET → plan → one PATCH cycle. In every group that has both the baseline and
 * the canary as destinations, the pair's weights become canary p·k and baseline (100 − p)·k with the smallest
 * integer k that makes both integers (25% → 25/75, 2.5% → 5/195, a third → 100/200; a share that needs a
 * total above 1,000,000 is rounded on 1,000,000 and the detail says so). The share is of the baseline + canary pair: other destinations
 * keep their weights (their part of the group's traffic moves only with the pair's total), groups with just
 * one of the two are left alone, and a resource without a group that has both fails permanently. A group
 * whose pair already gives p% (150/50 is 25%) is not rewritten, so the same share twice sends no PATCH.
 * Share 0 is exactly `apply`'s patch (canary weight moved to the first baseline entry, total kept), so `apply`
 * after it reports `changed: false`. The detail's "was" is the share of the first group that has both.
 */
export function kubeWeightedRouteConnector<R>(
  name: string,
  o: KubeConnection & { timeoutMs: number },
  kind: WeightedRouteKind<R>,
): PlanConnector<'traffic'> {
  const client = new KubeClient(kind.type, o);

  async function read(ctx: ActionContext) {
    if (ctx.signal.aborted) throw abortedError(kind.type, ctx.signal);
    const call = { signal: ctx.signal, timeoutMs: o.timeoutMs, logger: ctx.logger };
    return { call, resource: (await client.get(kind.path, call)) as R };
  }
  const patchOf = (p: Plan) => `${kind.where} (${PATCH_CONTENT_TYPE.json}): ${p.changes.join('; ')}`;
  const onBaseline = (p: Plan) =>
    `${kind.where}: all weight already on ${kind.baselineLabel} (${p.current.join('; ')})`;
  const log = (ctx: ActionContext) => withBindings(ctx.logger, { connector: name });

  return {
    name,
    type: kind.type,
    kind: 'traffic',
    async apply(ctx: ActionContext): Promise<ActionResult> {
      const { call, resource } = await read(ctx);
      const p = plan(resource, kind);
      if (p.ops.length === 0) return { changed: false, detail: onBaseline(p) };
      if (ctx.dryRun) return { changed: false, detail: `dry-run: would PATCH ${patchOf(p)}` };
      await client.patch(kind.path, PATCH_CONTENT_TYPE.json, p.ops, call);
      log(ctx).info({ [kind.logField]: kind.where }, 'canary weight moved to baseline');
      return { changed: true, detail: `PATCHed ${patchOf(p)}` };
    },
    async setCanaryShare(percent: number, ctx: ActionContext): Promise<ActionResult> {
      const share = checkShare(kind.type, percent);
      const want = share === 0 ? undefined : shareWeights(share, MAX_PAIR_TOTAL);
      const { call, resource } = await read(ctx);
      const p = want ? sharePlan(resource, kind, want) : plan(resource, kind);
      const head = shareDetail(want?.share ?? 0, p.was);
      const rounded = want ? roundedNote(share, want.share, `integer weights on a total of ${MAX_PAIR_TOTAL}`) : '';
      if (p.ops.length === 0) {
        const state = want ? `${kind.where} already gives it (${p.current.join('; ')})` : onBaseline(p);
        return { changed: false, detail: `${head}: ${state}${rounded}` };
      }
      if (ctx.dryRun) return { changed: true, detail: `dry-run: ${head}: would PATCH ${patchOf(p)}${rounded}` };
      await client.patch(kind.path, PATCH_CONTENT_TYPE.json, p.ops, call);
      log(ctx).info({ [kind.logField]: kind.where, share: want?.share ?? 0 }, 'canary share set');
      return { changed: true, detail: `${head}: PATCHed ${patchOf(p)}${rounded}` };
    },
    async healthCheck(ctx): Promise<void> {
      const call = { signal: ctx.signal, timeoutMs: o.timeoutMs, logger: ctx.logger };
      plan((await client.get(kind.path, call)) as R, kind);
      await client.patch(`${kind.path}?dryRun=All`, PATCH_CONTENT_TYPE.json, [], call);
    },
  };
}
