/**
 * Unleash Admin API stand-in (for machines without PostgreSQL, and for failure injection): answers the
 * documented requests the `unleash` connector may send, and nothing else:
 * - GET  /api/admin/projects/{projectId}/features/{featureName}            ("Get a feature")
 * - POST /api/admin/projects/{projectId}/features/{featureName}/environments/{environment}/off
 *   ("Disable a feature flag": no request body), and `/on` ("Enable a feature flag", same shape)
 * - POST .../environments/{environment}/strategies ("Add a strategy to a feature flag": a JSON body
 *   {name, constraints?, parameters?}; only `flexibleRollout` with rollout "0".."100" is accepted here)
 * - PATCH .../environments/{environment}/strategies/{strategyId} ("Change specific properties of a strategy":
 *   a JSON patch array; only `add`/`replace` of /parameters/rollout with "0".."100" is accepted here)
 * all with `Authorization: <admin token>` (401 AuthenticationRequired otherwise, as Unleash answers).
 * Answers are shaped like unleash-server 7.5.1's (recorded against the real server).
 */
import type { RecordedRequest } from '../../../helpers/http-peer.js';
import { FakeVendor, jsonBody, type FakeReply } from './fake-vendor.js';

export interface UnleashFeatureState {
  project: string;
  name: string;
  environments: Record<string, boolean>;
  /** The strategies of each environment (an environment not listed has none). */
  strategies: Record<string, FakeStrategy[]>;
}

export interface FakeStrategy {
  id: string;
  name: string;
  parameters: Record<string, string>;
  constraints: unknown[];
  segments: number[];
  disabled: boolean;
}

/** The strategy Unleash gives a feature's environment by default: flexibleRollout at 100%. */
export function rollout100(feature: string, id: string): FakeStrategy {
  return {
    id,
    name: 'flexibleRollout',
    parameters: { groupId: feature, rollout: '100', stickiness: 'default' },
    constraints: [],
    segments: [],
    disabled: false,
  };
}

/** What a feature's environments start with here: each the one flexibleRollout at 100%. */
export function defaultStrategies(feature: string, envs: readonly string[]): Record<string, FakeStrategy[]> {
  return Object.fromEntries(envs.map((env) => [env, [rollout100(feature, `s-${env}`)]]));
}

const ROLLOUT = /^(100|[1-9]?[0-9])$/;

export class FakeUnleash {
  feature: UnleashFeatureState = {
    project: 'default',
    name: 'checkout-v2',
    environments: { development: false, production: true },
    strategies: defaultStrategies('checkout-v2', ['development', 'production']),
  };

  private constructor(
    readonly vendor: FakeVendor,
    readonly token: string,
  ) {}

  static async start(token: string): Promise<FakeUnleash> {
    const ref: { self?: FakeUnleash } = {};
    const vendor = await FakeVendor.start((_v, req) => ref.self!.handle(req));
    const self = (ref.self = new FakeUnleash(vendor, token));
    return self;
  }

  get url(): string {
    return this.vendor.url;
  }

  private notFound(project: string, feature: string): FakeReply {
    const message = `There's no feature named "${feature}" in project "${project}".`;
    return { status: 404, json: { name: 'NotFoundError', message, details: [{ message }] } };
  }

  /** The strategies of an environment (an array kept in the state). */
  strategiesOf(env: string): FakeStrategy[] {
    return (this.feature.strategies[env] ??= []);
  }

  private handle(req: RecordedRequest): FakeReply {
    const v = this.vendor;
    if (req.headers.authorization !== this.token) {
      const message = 'You must log in to use Unleash.';
      return { status: 401, json: { name: 'UnauthorizedError', message, details: [{ message }] } };
    }
    const m =
      /^\/api\/admin\/projects\/([^/?]+)\/features\/([^/?]+)(\/environments\/([^/?]+)\/(on|off|strategies(\/[^/?]+)?))?$/.exec(
        req.path,
      );
    if (!m) return v.reject(req, 'not an Unleash Admin API route the connector may use', 404);
    const [project, feature] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
    if (project !== this.feature.project || feature !== this.feature.name) return this.notFound(project, feature);
    if (m[3] === undefined) {
      if (req.method !== 'GET') return v.reject(req, `expected GET, got ${req.method}`, 405);
      if (req.text !== '') return v.reject(req, 'a GET has no body');
      return { status: 200, json: this.representation() };
    }
    const env = decodeURIComponent(m[4]!);
    if (!(env in this.feature.environments)) {
      const message = `Could not find environment ${env} for feature: ${feature}`;
      return { status: 404, json: { name: 'NotFoundError', message, details: [{ message }] } };
    }
    if (m[5] === 'on' || m[5] === 'off') {
      if (req.method !== 'POST') return v.reject(req, `expected POST, got ${req.method}`, 405);
      if (req.text !== '') return v.reject(req, `POST .../${m[5]} takes no request body`);
      this.feature.environments[env] = m[5] === 'on';
      return { status: 200, text: '' };
    }
    return m[6] === undefined
      ? this.addStrategy(req, env)
      : this.patchStrategy(req, env, decodeURIComponent(m[6].slice(1)));
  }

  private addStrategy(req: RecordedRequest, env: string): FakeReply {
    const v = this.vendor;
    if (req.method !== 'POST') return v.reject(req, `expected POST, got ${req.method}`, 405);
    if (req.headers['content-type'] !== 'application/json') return v.reject(req, 'expected a JSON body');
    const body = jsonBody(req) as { name?: unknown; constraints?: unknown; parameters?: Record<string, unknown> };
    const extra = Object.keys(body ?? {}).filter((k) => !['name', 'constraints', 'parameters'].includes(k));
    if (!body || body.name !== 'flexibleRollout' || extra.length > 0)
      return v.reject(req, `expected {name: "flexibleRollout", constraints?, parameters?}, got ${req.text}`);
    if (body.constraints !== undefined && (!Array.isArray(body.constraints) || body.constraints.length > 0))
      return v.reject(req, 'constraints must be an empty array here');
    const p = body.parameters ?? {};
    if (typeof p.rollout !== 'string' || !ROLLOUT.test(p.rollout)) return v.reject(req, 'rollout must be "0".."100"');
    if (Object.values(p).some((x) => typeof x !== 'string')) return v.reject(req, 'parameters are strings');
    const strategy: FakeStrategy = {
      ...rollout100(this.feature.name, `s-${env}-${this.strategiesOf(env).length + 1}`),
      parameters: { groupId: this.feature.name, stickiness: 'default', ...(p as Record<string, string>) },
    };
    this.strategiesOf(env).push(strategy);
    return { status: 200, json: strategy };
  }

  private patchStrategy(req: RecordedRequest, env: string, id: string): FakeReply {
    const v = this.vendor;
    if (req.method !== 'PATCH') return v.reject(req, `expected PATCH, got ${req.method}`, 405);
    if (req.headers['content-type'] !== 'application/json') return v.reject(req, 'expected a JSON patch body');
    const strategy = this.strategiesOf(env).find((x) => x.id === id);
    if (!strategy) return { status: 404, json: { name: 'NotFoundError', message: `No strategy with id ${id}` } };
    const patch = jsonBody(req) as { op?: unknown; path?: unknown; value?: unknown }[] | undefined;
    if (!Array.isArray(patch) || patch.length !== 1) return v.reject(req, 'expected a JSON patch of one operation');
    const [op] = patch;
    if (
      !['add', 'replace'].includes(op!.op as string) ||
      op!.path !== '/parameters/rollout' ||
      Object.keys(op!).length !== 3
    )
      return v.reject(req, `unsupported patch ${req.text}`);
    if (typeof op!.value !== 'string' || !ROLLOUT.test(op!.value)) return v.reject(req, 'rollout must be "0".."100"');
    strategy.parameters.rollout = op!.value;
    return { status: 200, json: strategy };
  }

  /** "Get a feature" as unleash-server 7.5.1 answers it (fields the connector does not read included). */
  representation(): unknown {
    return {
      environments: Object.entries(this.feature.environments).map(([name, enabled], i) => ({
        name,
        lastSeenAt: null,
        enabled,
        yes: 0,
        no: 0,
        type: name,
        sortOrder: i + 2,
        strategies: (this.feature.strategies[name] ?? []).map((s, sortOrder) => ({
          ...s,
          variants: [],
          sortOrder,
          title: null,
        })),
      })),
      name: this.feature.name,
      impressionData: false,
      description: null,
      project: this.feature.project,
      stale: false,
      createdAt: '2026-01-01T00:00:00.000Z',
      type: 'release',
      lastSeenAt: null,
      variants: [],
      archived: false,
      dependencies: [],
      children: [],
      links: [],
    };
  }
}
