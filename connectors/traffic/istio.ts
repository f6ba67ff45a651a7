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

const TYPE = 'istio';

const host = (what: string) =>
  z
    .string({ error: (iss) => (iss.input === undefined ? `is required: the ${what} destination host, as the VirtualService writes it` : `must be a string: the ${what} destination host`) })
    .regex(/^[A-Za-z0-9*]([-A-Za-z0-9.*]*[A-Za-z0-9])?$/, { error: 'must be a host name, as written in the VirtualService' });
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
      .enum(['v1', 'v1beta1', 'v1alpha3'], { error: 'must be v1, v1beta1 or v1alpha3 (the networking.istio.io version your cluster serves)' })
      .default('v1'),
  })
  .superRefine((o, ctx) => {
    contextNeedsKubeconfig(o, ctx);
    if ((o.canaryHost ?? o.baselineHost) === o.baselineHost && o.canarySubset === o.baselineSubset) {
      ctx.addIssue({ code: 'custom', path: ['canarySubset'], message: 'must differ from options.baselineSubset, or set options.canaryHost to another host' });
    }
  });

export type IstioOptions = z.output<typeof schema>;

interface Destination { host?: string; subset?: string }
interface RouteDestination { destination?: Destination; weight?: number }
interface VirtualService { spec?: { http?: { name?: string; route?: RouteDestination[] }[] } }

interface Target { baseline: Destination; canary: Destination }

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
 * The JSON patch that moves each HTTP route's canary weight to the baseline. An absent weight is 100 when
 * the route has one destination and 0 otherwise (Istio: weights of a route add up to 100). Every changed
 * weight is preceded by `test`s of the destination's host and subset at that index.
 */
function plan(vs: VirtualService, o: Target, where: string) {
  const out = { ops: [] as unknown[], changes: [] as string[], current: [] as string[] };
  let mentioned = false;
  (vs.spec?.http ?? []).forEach((http, i) => {
    const routes = http.route ?? [];
    const entries = routes.map((r) => ({ role: roleOf(r.destination, o), weight: r.weight ?? (routes.length === 1 ? 100 : 0) }));
    if (!entries.some((e) => e.role !== 'other')) return;
    mentioned = true;
    const labels = routes.map((r) => label(r.destination));
    const at = `http[${i}]${http.name ? ` (${http.name})` : ''}`;
    out.current.push(`${at}: ${entries.flatMap((e, j) => (e.role === 'other' ? [] : [`${labels[j]}=${e.weight}`])).join(', ')}`);
    const next = moveWeights(entries, `${where} ${at}`, TYPE);
    if (!next) return;
    next.forEach((w, j) => {
      if (w === entries[j]!.weight) return;
      const d = routes[j]!.destination!;
      out.ops.push({ op: 'test', path: jsonPointer('spec', 'http', i, 'route', j, 'destination', 'host'), value: d.host });
      if (d.subset !== undefined) out.ops.push({ op: 'test', path: jsonPointer('spec', 'http', i, 'route', j, 'destination', 'subset'), value: d.subset });
      out.ops.push({ op: 'add', path: jsonPointer('spec', 'http', i, 'route', j, 'weight'), value: w });
    });
    out.changes.push(`${at}: ${describeMoves(labels, entries.map((e) => e.weight), next)}`);
  });
  if (!mentioned) {
    throw new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`${TYPE}: ${where} has no HTTP route to ${label(o.baseline)} or ${label(o.canary)}: check options.virtualService and the hosts and subsets`], {
      details: { vendor: TYPE },
    });
  }
  return out;
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
 */
export const istioTrafficFactory: ConnectorFactory<IstioOptions> = {
  type: TYPE,
  kind: 'traffic',
  parse: (options) => parseOptions(TYPE, schema, options),
  create(name: string, options: IstioOptions): TrafficConnector {
    const o = {
      ...options,
      baseline: { host: options.baselineHost, subset: options.baselineSubset },
      canary: { host: options.canaryHost ?? options.baselineHost, subset: options.canarySubset },
    };
    const client = new KubeClient(TYPE, o);
    const path = `/apis/networking.istio.io/${o.apiVersion}/namespaces/${o.namespace}/virtualservices/${o.virtualService}`;
    const where = `VirtualService ${o.namespace}/${o.virtualService}`;
    return {
      name,
      type: TYPE,
      kind: 'traffic',
      async apply(ctx: ActionContext): Promise<ActionResult> {
        if (ctx.signal.aborted) throw abortedError(TYPE, ctx.signal);
        const call = { signal: ctx.signal, timeoutMs: o.timeoutMs, logger: ctx.logger };
        const p = plan((await client.get(path, call)) as VirtualService, o, where);
        if (p.ops.length === 0) {
          return { changed: false, detail: `${where}: all weight already on ${label(o.baseline)} (${p.current.join('; ')})` };
        }
        const what = `${where} (${PATCH_CONTENT_TYPE.json}): ${p.changes.join('; ')}`;
        if (ctx.dryRun) return { changed: false, detail: `dry-run: would PATCH ${what}` };
        await client.patch(path, PATCH_CONTENT_TYPE.json, p.ops, call);
        ctx.logger.info({ connector: name, virtualService: where }, 'canary weight moved to baseline');
        return { changed: true, detail: `PATCHed ${what}` };
      },
      async healthCheck(ctx): Promise<void> {
        const call = { signal: ctx.signal, timeoutMs: o.timeoutMs, logger: ctx.logger };
        plan((await client.get(path, call)) as VirtualService, o, where);
        await client.patch(`${path}?dryRun=All`, PATCH_CONTENT_TYPE.json, [], call);
      },
    };
  },
};
