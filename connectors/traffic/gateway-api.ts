import { z } from 'zod';
import type {
  ActionContext, ActionResult, ConnectorFactory, TrafficConnector,
} from '../../src/contracts/connector.js';
import { VigilError } from '../../src/errors.js';
import { abortedError } from '../shared/http.js';
import { KubeClient, PATCH_CONTENT_TYPE, jsonPointer } from '../shared/kube-client.js';
import { contextNeedsKubeconfig, kubeConnectionShape, kubeName } from '../shared/kube-options.js';
import { parseOptions } from '../shared/options.js';
import { type Role, describeMoves, moveWeights } from './weights.js';

const TYPE = 'gateway-api';

const schema = z
  .strictObject({
    ...kubeConnectionShape,
    route: kubeName('the name of the HTTPRoute that splits traffic between baseline and canary'),
    baselineBackend: kubeName('the Service name of the baseline backendRef'),
    canaryBackend: kubeName('the Service name of the canary backendRef'),
    apiVersion: z
      .enum(['v1', 'v1beta1'], { error: 'must be v1 or v1beta1 (the gateway.networking.k8s.io version your cluster serves)' })
      .default('v1'),
  })
  .superRefine((o, ctx) => {
    contextNeedsKubeconfig(o, ctx);
    if (o.baselineBackend === o.canaryBackend) {
      ctx.addIssue({ code: 'custom', path: ['canaryBackend'], message: 'must differ from options.baselineBackend' });
    }
  });

export type GatewayApiOptions = z.output<typeof schema>;

interface BackendRef { group?: string; kind?: string; name?: string; weight?: number }
interface HttpRoute { spec?: { rules?: { backendRefs?: BackendRef[] }[] } }

/** A backendRef to a core Service (`group` "" and `kind` Service are the defaults). */
function roleOf(ref: BackendRef, o: GatewayApiOptions): Role {
  if ((ref.group ?? '') !== '' || (ref.kind ?? 'Service') !== 'Service') return 'other';
  if (ref.name === o.baselineBackend) return 'baseline';
  if (ref.name === o.canaryBackend) return 'canary';
  return 'other';
}

interface Plan {
  ops: unknown[];
  changes: string[];
  /** Current weights of the rules that mention baseline or canary, for "already" details. */
  current: string[];
}

/**
 * Computes the JSON patch that moves every rule's canary weight to the baseline (see `moveCanaryWeight`).
 * Each changed weight is preceded by a `test` of the backendRef's name at that index, so a route edited
 * between our GET and PATCH fails with 422 instead of re-weighting the wrong backend. A missing `weight`
 * means 1 (Gateway API default); `add` sets it whether or not it exists.
 */
function plan(route: HttpRoute, o: GatewayApiOptions, where: string): Plan {
  const out: Plan = { ops: [], changes: [], current: [] };
  let mentioned = false;
  (route.spec?.rules ?? []).forEach((rule, i) => {
    const refs = rule.backendRefs ?? [];
    const entries = refs.map((ref) => ({ role: roleOf(ref, o), weight: ref.weight ?? 1 }));
    if (!entries.some((e) => e.role !== 'other')) return;
    mentioned = true;
    const labels = refs.map((ref) => ref.name ?? '?');
    out.current.push(`rule ${i}: ${entries.flatMap((e, j) => (e.role === 'other' ? [] : [`${labels[j]}=${e.weight}`])).join(', ')}`);
    const next = moveWeights(entries, `${where} rule ${i}`, TYPE);
    if (!next) return;
    next.forEach((w, j) => {
      if (w === entries[j]!.weight) return;
      out.ops.push({ op: 'test', path: jsonPointer('spec', 'rules', i, 'backendRefs', j, 'name'), value: refs[j]!.name });
      out.ops.push({ op: 'add', path: jsonPointer('spec', 'rules', i, 'backendRefs', j, 'weight'), value: w });
    });
    out.changes.push(`rule ${i}: ${describeMoves(labels, entries.map((e) => e.weight), next)}`);
  });
  if (!mentioned) {
    throw new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`${TYPE}: ${where} has no backendRef to Service ${o.baselineBackend} or ${o.canaryBackend}: check options.route and the backend names`], {
      details: { vendor: TYPE },
    });
  }
  return out;
}

/**
 * Traffic connector for the Kubernetes Gateway API: in the HTTPRoute `options.route`, every rule that
 * splits traffic between the Services `baselineBackend` and `canaryBackend` gets all of the canary's weight
 * moved to the baseline (canary 0). Rules without the canary, and other backends' weights, are untouched.
 *
 * SET semantics: apply GETs the route first; when no canary weight is left it reports `changed: false` and
 * sends nothing. Otherwise one JSON patch (application/json-patch+json) to
 * `/apis/gateway.networking.k8s.io/<apiVersion>/namespaces/<ns>/httproutes/<route>`. Dry run GETs and
 * describes the patch. Health check: GET the route, then the same PATCH path with `?dryRun=All` and an empty
 * patch, which proves the credentials may patch it without changing anything.
 * Options: kubeconfig/context (or in-cluster), namespace, route, baselineBackend, canaryBackend, apiVersion
 * (v1), timeoutMs (per request).
 */
export const gatewayApiTrafficFactory: ConnectorFactory<GatewayApiOptions> = {
  type: TYPE,
  kind: 'traffic',
  parse: (options) => parseOptions(TYPE, schema, options),
  create(name: string, o: GatewayApiOptions): TrafficConnector {
    const client = new KubeClient(TYPE, o);
    const path = `/apis/gateway.networking.k8s.io/${o.apiVersion}/namespaces/${o.namespace}/httproutes/${o.route}`;
    const where = `HTTPRoute ${o.namespace}/${o.route}`;
    return {
      name,
      type: TYPE,
      kind: 'traffic',
      async apply(ctx: ActionContext): Promise<ActionResult> {
        if (ctx.signal.aborted) throw abortedError(TYPE, ctx.signal);
        const call = { signal: ctx.signal, timeoutMs: o.timeoutMs, logger: ctx.logger };
        const route = (await client.get(path, call)) as HttpRoute;
        const p = plan(route, o, where);
        if (p.ops.length === 0) {
          return { changed: false, detail: `${where}: all weight already on ${o.baselineBackend} (${p.current.join('; ')})` };
        }
        const what = `${where} (${PATCH_CONTENT_TYPE.json}): ${p.changes.join('; ')}`;
        if (ctx.dryRun) return { changed: false, detail: `dry-run: would PATCH ${what}` };
        await client.patch(path, PATCH_CONTENT_TYPE.json, p.ops, call);
        ctx.logger.info({ connector: name, route: where }, 'canary weight moved to baseline');
        return { changed: true, detail: `PATCHed ${what}` };
      },
      async healthCheck(ctx): Promise<void> {
        const call = { signal: ctx.signal, timeoutMs: o.timeoutMs, logger: ctx.logger };
        plan((await client.get(path, call)) as HttpRoute, o, where);
        await client.patch(`${path}?dryRun=All`, PATCH_CONTENT_TYPE.json, [], call);
      },
    };
  },
};
