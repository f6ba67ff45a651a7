import { z } from 'zod';
import type { ConnectorFactory, PlanConnector } from '../../src/contracts/connector.js';
import { jsonPointer } from '../shared/kube-client.js';
import { contextNeedsKubeconfig, kubeConnectionShape, kubeName } from '../shared/kube-options.js';
import { parseOptions } from '../shared/options.js';
import { type WeightedGroup, kubeWeightedRouteConnector } from './kube-weighted-route.js';
import type { Role } from './weights.js';

const TYPE = 'istio';

const host = (what: string) =>
  z
    .string({
      error: (iss) =>
        iss.input === undefined
          ? `is required: the ${what} destination host, as the VirtualService writes it`
          : `must be a string: the ${what} destination host`,
    })
    .regex(/^[A-Za-z0-9*]([-A-Za-z0-9.*]*[A-Za-z0-9])?$/, {
      error: 'must be a host name, as written in the VirtualService',
    });
const subset = (what: string) =>
  z
    .string({ error: `must be a string: the DestinationRule subset of the ${what}` })
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { error: 'must be a subset name (lower-case letters, digits and -)' })
    .optional();

const schema = z
  .strictObject({
    ...kubeConnectionShape,
    virtualService: kubeName('the name of the VirtualService that splits traffic between baseline and canary'),
    baselineHost: host('baseline'),
    baselineSubset: subset('baseline'),
    canaryHost: host('canary').optional(),
    canarySubset: subset('canary'),
    apiVersion: z
      .enum(['v1', 'v1beta1', 'v1alpha3'], {
        error: 'must be v1, v1beta1 or v1alpha3 (the networking.istio.io version your cluster serves)',
      })
      .default('v1'),
  })
  .superRefine((o, ctx) => {
    contextNeedsKubeconfig(o, ctx);
    if ((o.canaryHost ?? o.baselineHost) === o.baselineHost && o.canarySubset === o.baselineSubset) {
      ctx.addIssue({
        code: 'custom',
        path: ['canarySubset'],
        message: 'must differ from options.baselineSubset, or set options.canaryHost to another host',
      });
    }
  });

export type IstioOptions = z.output<typeof schema>;

interface Destination {
  host?: string;
  subset?: string;
}
interface RouteDestination {
  destination?: Destination;
  weight?: number;
}
interface VirtualService {
  spec?: { http?: { name?: string; route?: RouteDestination[] }[] };
}

interface Target {
  baseline: Destination;
  canary: Destination;
}

/** Host and subset must both match; a configured destination without subset matches only subset-less ones. */
function roleOf(d: Destination | undefined, o: Target): Role {
  const is = (want: Destination) => d !== undefined && d.host === want.host && d.subset === want.subset;
  if (is(o.baseline)) return 'baseline';
  if (is(o.canary)) return 'canary';
  return 'other';
}

function label(d: Destination | undefined): string {
  return d?.subset ? `${d.host ?? '?'}/${d.subset}` : (d?.host ?? '?');
}

/**
 * Each HTTP route's destinations as a weighted group. An absent weight is 100 when the route has one
 * destination and 0 otherwise (Istio: weights of a route add up to 100). A changed weight is preceded by
 * `test`s of the destination's host and subset at that index.
 */
function groups(vs: VirtualService, o: Target): WeightedGroup[] {
  return (vs.spec?.http ?? []).map((http, i) => {
    const routes = http.route ?? [];
    return {
      at: `http[${i}]${http.name ? ` (${http.name})` : ''}`,
      entries: routes.map((r) => ({
        role: roleOf(r.destination, o),
        weight: r.weight ?? (routes.length === 1 ? 100 : 0),
      })),
      labels: routes.map((r) => label(r.destination)),
      setWeight: (j, w) => {
        const d = routes[j]!.destination!;
        return [
          { op: 'test', path: jsonPointer('spec', 'http', i, 'route', j, 'destination', 'host'), value: d.host },
          ...(d.subset === undefined
            ? []
            : [
                {
                  op: 'test',
                  path: jsonPointer('spec', 'http', i, 'route', j, 'destination', 'subset'),
                  value: d.subset,
                },
              ]),
          { op: 'add', path: jsonPointer('spec', 'http', i, 'route', j, 'weight'), value: w },
        ];
      },
    };
  });
}

/**
 * Traffic connector for Istio: in the VirtualService `options.virtualService`, every HTTP route (`spec.http[]`)
 * that sends traffic to the canary destination (`canaryHost`, default `baselineHost`, and `canarySubset`)
 * gets all of the canary's weight moved to the baseline destination (`baselineHost`, `baselineSubset`):
 * canary 0, total unchanged. TCP/TLS routes are not touched.
 *
 * SET semantics: GET first; no canary weight left → `changed: false`, nothing sent. Otherwise one JSON
 * patch (application/json-patch+json) to `/apis/networking.istio.io/<apiVersion>/namespaces/<ns>/virtualservices/<name>`.
 * Dry run GETs and describes the patch. Health check: GET, then an empty PATCH with `?dryRun=All`.
 * Options: kubeconfig/context (or in-cluster), namespace, virtualService, baselineHost, baselineSubset,
 * canaryHost, canarySubset, apiVersion (v1), timeoutMs.
 *
 * `setCanaryShare(p)` (see `kubeWeightedRouteConnector`): in every HTTP route with both destinations, `weight`
 * canary p·k and baseline (100 − p)·k with the smallest integer k (25% → 25/75, 2.5% → 5/195: Istio reads
 * weights as relative proportions); other destinations keep their weights (the share is of the baseline +
 * canary pair); 0 is exactly `apply`. One JSON patch with the same `test`s of host and subset; the same share
 * twice sends no PATCH. Istio before 1.15 wants a route's weights to add up to 100: there only whole shares of
 * a route with just the two destinations pass its validation, which refuses the others (a permanent error).
 */
export const istioTrafficFactory: ConnectorFactory<IstioOptions> = {
  setsShare: () => true,
  type: TYPE,
  kind: 'traffic',
  parse: (options) => parseOptions(TYPE, schema, options),
  create(name: string, options: IstioOptions): PlanConnector<'traffic'> {
    const o = {
      baseline: { host: options.baselineHost, subset: options.baselineSubset },
      canary: { host: options.canaryHost ?? options.baselineHost, subset: options.canarySubset },
    };
    return kubeWeightedRouteConnector<VirtualService>(name, options, {
      type: TYPE,
      path: `/apis/networking.istio.io/${options.apiVersion}/namespaces/${options.namespace}/virtualservices/${options.virtualService}`,
      where: `VirtualService ${options.namespace}/${options.virtualService}`,
      baselineLabel: label(o.baseline),
      canaryLabel: label(o.canary),
      groupNoun: 'HTTP route',
      logField: 'virtualService',
      groups: (vs) => groups(vs, o),
      notMentioned: `has no HTTP route to ${label(o.baseline)} or ${label(o.canary)}: check options.virtualService and the hosts and subsets`,
    });
  },
};
