/**
 * Flagsmith Admin API stand-in that answers the documented requests the `flagsmith` connector may send,
 * and refuses anything else:
 * - GET   /api/v1/environments/{environment_api_key}/featurestates/?feature_name={name}
 *   (environment-default feature states, paginated {count, next, previous, results}; the name matches
 *   case-insensitively, as Flagsmith's `feature__name__iexact` filter does)
 * - PATCH /api/v1/environments/{environment_api_key}/featurestates/{id}/ with `Content-Type:
 *   application/json` and {"enabled": false} or {"enabled": bool, "multivariate_feature_state_values":
 *   [{id?, multivariate_feature_option, percentage_allocation}]} (Django routes need the trailing slash): listed
 *   values are updated by id (or created, without one), unlisted ones deleted; allocations 0–100, summing to ≤ 100
 * - GET   /api/v1/environments/{environment_api_key}/ (the environment, naming its project)
 * - GET   /api/v1/projects/{project}/features/{feature}/mv-options/ (the feature's multivariate options)
 * Both with `Authorization: Api-Key <key>` or `Authorization: Token <token>` (401 otherwise).
 */
import type { RecordedRequest } from '../../../helpers/http-peer.js';
import { FakeVendor, jsonBody, type FakeReply } from './fake-vendor.js';

export interface FlagsmithMvValue {
  id: number;
  option: number;
  percentage: number;
}

export interface FlagsmithFeatureState {
  id: number;
  featureId: number;
  name: string;
  enabled: boolean;
  mv: FlagsmithMvValue[];
}

export const FLAGSMITH_PROJECT = 3;

/** checkout_v2 is multivariate: options 301 "v1" (string), 302 "v2" (string), 303 42 (integer), all at 0%. */
export function flagsmithStates(): FlagsmithFeatureState[] {
  return [
    {
      id: 9101,
      featureId: 51,
      name: 'checkout_v2',
      enabled: true,
      mv: [
        { id: 7001, option: 301, percentage: 0 },
        { id: 7002, option: 302, percentage: 0 },
        { id: 7003, option: 303, percentage: 0 },
      ],
    },
    { id: 9102, featureId: 52, name: 'search_v3', enabled: true, mv: [] },
  ];
}

export function flagsmithOptions(): Record<number, unknown[]> {
  const option = (id: number, type: string, value: string | number) => ({
    id,
    uuid: `00000000-0000-4000-8000-000000000${id}`,
    type,
    integer_value: typeof value === 'number' ? value : null,
    string_value: typeof value === 'string' ? value : null,
    boolean_value: null,
    default_percentage_allocation: 0,
    feature: 51,
  });
  return { 51: [option(301, 'unicode', 'v1'), option(302, 'unicode', 'v2'), option(303, 'int', 42)], 52: [] };
}

export class FakeFlagsmith {
  states: FlagsmithFeatureState[] = flagsmithStates();
  options: Record<number, unknown[]> = flagsmithOptions();
  private nextMvId = 8000;

  private constructor(
    readonly vendor: FakeVendor,
    readonly environmentKey: string,
    readonly accepted: string[],
  ) {}

  /** `accepted`: the exact Authorization values this fake takes (e.g. "Api-Key k", "Token t"). */
  static async start(environmentKey: string, accepted: string[]): Promise<FakeFlagsmith> {
    const ref: { self?: FakeFlagsmith } = {};
    const vendor = await FakeVendor.start((_v, req) => ref.self!.handle(req));
    const self = (ref.self = new FakeFlagsmith(vendor, environmentKey, accepted));
    return self;
  }

  get url(): string {
    return this.vendor.url;
  }

  private handle(req: RecordedRequest): FakeReply {
    const v = this.vendor;
    if (!this.accepted.includes(String(req.headers.authorization))) {
      return { status: 401, json: { detail: 'Invalid token.' } };
    }
    const u = new URL(req.path, 'http://flagsmith.invalid');
    const other = this.otherRoute(req, u);
    if (other) return other;
    const m = /^\/api\/v1\/environments\/([^/]+)\/featurestates\/(?:(\d+)\/)?$/.exec(u.pathname);
    if (!m) return v.reject(req, 'not a Flagsmith feature-state route the connector may use (trailing slash?)', 404);
    if (decodeURIComponent(m[1]!) !== this.environmentKey)
      return { status: 404, json: { detail: 'Environment not found.' } };
    if (m[2] === undefined) {
      if (req.method !== 'GET') return v.reject(req, `expected GET, got ${req.method}`, 405);
      if ([...u.searchParams.keys()].join() !== 'feature_name')
        return v.reject(req, 'expected exactly the query parameter feature_name');
      const name = u.searchParams.get('feature_name')!.toLowerCase();
      const results = this.states.filter((s) => s.name.toLowerCase() === name).map((s) => this.representation(s));
      return { status: 200, json: { count: results.length, next: null, previous: null, results } };
    }
    if (req.method !== 'PATCH') return v.reject(req, `expected PATCH, got ${req.method}`, 405);
    if (req.headers['content-type'] !== 'application/json')
      return v.reject(req, `content-type ${req.headers['content-type']}`);
    const state = this.states.find((s) => s.id === Number(m[2]));
    if (!state) return { status: 404, json: { detail: 'Not found.' } };
    const body = jsonBody(req) as { enabled?: unknown; multivariate_feature_state_values?: unknown } | undefined;
    const keys = Object.keys(body ?? {}).join();
    if (typeof body?.enabled !== 'boolean' || !['enabled', 'enabled,multivariate_feature_state_values'].includes(keys))
      return v.reject(req, `unexpected body ${req.text}`);
    if (body.multivariate_feature_state_values === undefined && body.enabled)
      return v.reject(req, `unexpected body ${req.text}`);
    if (body.multivariate_feature_state_values !== undefined) {
      const why = this.setMv(state, body.multivariate_feature_state_values);
      if (why) return v.reject(req, why);
    }
    state.enabled = body.enabled;
    return { status: 200, json: this.representation(state) };
  }

  /** The environment and mv-options routes; undefined for the feature-state routes. */
  private otherRoute(req: RecordedRequest, u: URL): FakeReply | undefined {
    const env = /^\/api\/v1\/environments\/([^/]+)\/$/.exec(u.pathname);
    const mv = /^\/api\/v1\/projects\/(\d+)\/features\/(\d+)\/mv-options\/$/.exec(u.pathname);
    if (!env && !mv) return undefined;
    if (req.method !== 'GET') return this.vendor.reject(req, `expected GET, got ${req.method}`, 405);
    if (u.search !== '') return this.vendor.reject(req, 'expected no query');
    if (env) {
      if (decodeURIComponent(env[1]!) !== this.environmentKey)
        return { status: 404, json: { detail: 'Environment not found.' } };
      return {
        status: 200,
        json: { id: 7, name: 'Production', api_key: this.environmentKey, project: FLAGSMITH_PROJECT },
      };
    }
    const options = this.options[Number(mv![2])];
    if (Number(mv![1]) !== FLAGSMITH_PROJECT || !options) return { status: 404, json: { detail: 'Not found.' } };
    return { status: 200, json: { count: options.length, next: null, previous: null, results: options } };
  }

  /** Applies a documented multivariate_feature_state_values list as Flagsmith's nested serializer does. */
  private setMv(state: FlagsmithFeatureState, raw: unknown): string | undefined {
    if (!Array.isArray(raw)) return 'multivariate_feature_state_values must be a list';
    const next: FlagsmithMvValue[] = [];
    const known = new Set((this.options[state.featureId] ?? []).map((o) => (o as { id: number }).id));
    for (const item of raw as Record<string, unknown>[]) {
      const keys = Object.keys(item).sort().join();
      if (
        keys !== 'id,multivariate_feature_option,percentage_allocation' &&
        keys !== 'multivariate_feature_option,percentage_allocation'
      )
        return `unexpected multivariate value ${JSON.stringify(item)}`;
      const { id, multivariate_feature_option: option, percentage_allocation: pct } = item;
      if (typeof option !== 'number' || !known.has(option)) return `unknown multivariate option ${String(option)}`;
      if (typeof pct !== 'number' || pct < 0 || pct > 100) return `percentage_allocation ${String(pct)}`;
      if (id !== undefined && !state.mv.some((x) => x.id === id && x.option === option))
        return `multivariate value ${JSON.stringify(id)} is not option ${option}'s in this feature state`;
      if (id === undefined && state.mv.some((x) => x.option === option))
        return `option ${option} already has a value in this feature state: send its id (unique together)`;
      next.push({ id: typeof id === 'number' ? id : this.nextMvId++, option, percentage: pct });
    }
    if (next.reduce((sum, x) => sum + x.percentage, 0) > 100) return 'Invalid percentage allocation';
    state.mv = next;
    return undefined;
  }

  representation(s: FlagsmithFeatureState): unknown {
    return {
      id: s.id,
      feature_state_value: null,
      multivariate_feature_state_values: s.mv.map((x) => ({
        id: x.id,
        multivariate_feature_option: x.option,
        percentage_allocation: x.percentage,
      })),
      identity: null,
      uuid: `00000000-0000-4000-8000-00000000${s.id}`,
      enabled: s.enabled,
      created_at: '2026-01-01T00:00:00Z',
      updated_at: '2026-01-01T00:00:00Z',
      version: 1,
      live_from: '2026-01-01T00:00:00Z',
      feature: s.featureId,
      environment: 7,
      feature_segment: null,
      change_request: null,
      environment_feature_version: null,
    };
  }
}
