import { z } from 'zod';
import type { ConnectorFactory, PlanConnector } from '../../src/contracts/connector.js';
import { jsonPointer } from '../shared/kube-client.js';
import { contextNeedsKubeconfig, kubeConnectionShape, kubeName } from '../shared/kube-options.js';
import { parseOptions } from '../shared/options.js';
import { type WeightedGroup, kubeWeightedRouteConnector } from './kube-weighted-route.js';
import type { Role } from './weights.js';

const TYPE = 'gateway-api';

const schema = z
  .strictObject({
    ...kubeConnectionShape,
    route: kubeName('the name of the HTTPRoute that splits traffic between baseline and canary'),
    baselineBackend: kubeName('the Service name of the baseline backendRef'),
    canaryBackend: kubeName('the Service name of the canary backendRef'),
    apiVersion: z
      .enum(['v1', 'v1beta1'], {
        error: 'must be v1 or v1beta1 (the gateway.networking.k8s.io version your cluster serves)',
      })
      .default('v1'),
  })
  .superRefine((o, ctx) => {
    contextNeedsKubeconfig(o, ctx);
    if (o.baselineBackend === o.canaryBackend) {
      ctx.addIssue({ code: 'custom', path: ['canaryBackend'], message: 'must differ from options.baselineBackend' });
    }
  });

export type GatewayApiOptions = z.output<typeof schema>;

interface BackendRef {
  group?: string;
  kind?: string;
  name?: string;
  weight?: number;
}
interface HttpRoute {
  spec?: { rules?: { backendRefs?: BackendRef[] }[] };
}

/** A backendRef to a core Service (`group` "" and `kind` Service are the defaults). */
function roleOf(ref: BackendRef, o: GatewayApiOptions): Role {
  if ((ref.group ?? '') !== '' || (ref.kind ?? 'Service') !== 'Service') return 'other';
  if (ref.name === o.baselineBackend) return 'baseline';
  if (ref.name === o.canaryBackend) return 'canary';
  return 'other';
}

/**
 * Each rule's backendRefs as a weighted group. A missing `weight` means 1 (Gateway API default); a changed
 * weight is preceded by a `test` of the backendRef's name at that index; `add` sets it whether or not it
 * exists.
 */
function groups(route: HttpRoute, o: GatewayApiOptions): WeightedGroup[] {
  return (route.spec?.rules ?? []).map((rule, i) => {
    const refs = rule.backendRefs ?? [];
    return {
      at: `rule ${i}`,
      entries: refs.map((ref) => ({ role: roleOf(ref, o), weight: ref.weight ?? 1 })),
      labels: refs.map((ref) => ref.name ?? '?'),
      setWeight: (j, w) => [
        { op: 'test', path: jsonPointer('spec', 'rules', i, 'backendRefs', j, 'name'), value: refs[j]!.name },
        { op: 'add', path: jsonPointer('spec', 'rules', i, 'backendRefs', j, 'weight'), value: w },
      ],
    };
  });
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
 *
 * `setCanaryShare(p)` (see `kubeWeightedRouteConnector`): in every rule with backendRefs to both Services,
 * `weight` canary p·k and baseline (100 − p)·k with the smallest integer k (25% → 25/75, 2.5% → 5/195); other
 * backendRefs keep their weights (the share is of the baseline + canary pair); 0 is exactly `apply`. One
 * JSON patch with the same `test`s of the backendRefs' names; the same share twice sends no PATCH.
 */
export const gatewayApiTrafficFactory: ConnectorFactory<GatewayApiOptions> = {
  setsShare: () => true,
  type: TYPE,
  kind: 'traffic',
  parse: (options) => parseOptions(TYPE, schema, options),
  create(name: string, o: GatewayApiOptions): PlanConnector<'traffic'> {
    return kubeWeightedRouteConnector<HttpRoute>(name, o, {
      type: TYPE,
      path: `/apis/gateway.networking.k8s.io/${o.apiVersion}/namespaces/${o.namespace}/httproutes/${o.route}`,
      where: `HTTPRoute ${o.namespace}/${o.route}`,
      baselineLabel: o.baselineBackend,
      canaryLabel: o.canaryBackend,
      groupNoun: 'rule',
      logField: 'route',
      groups: (route) => groups(route, o),
      notMentioned: `has no backendRef to Service ${o.baselineBackend} or ${o.canaryBackend}: check options.route and the backend names`,
    });
  },
};
