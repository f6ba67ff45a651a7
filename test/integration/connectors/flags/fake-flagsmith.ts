/**
 * Flagsmith Admin API stand-in that answers the documented requests the `flagsmith` connector may send,
 * and refuses anything else:
 * - GET   /api/v1/environments/{environment_api_key}/featurestates/?feature_name={name}
 *   (environment-default feature states, paginated {count, next, previous, results}; the name matches
 *   case-insensitively, as Flagsmith's `feature__name__iexact` filter does)
 * - PATCH /api/v1/environments/{environment_api_key}/featurestates/{id}/ with `Content-Type:
 *   application/json` and {"enabled": false} (Django routes need the trailing slash)
 * Both with `Authorization: Api-Key <key>` or `Authorization: Token <token>` (401 otherwise).
 */
import type { RecordedRequest } from '../../../helpers/http-peer.js';
import { FakeVendor, jsonBody, type FakeReply } from './fake-vendor.js';

export interface FlagsmithFeatureState {
  id: number;
  featureId: number;
  name: string;
  enabled: boolean;
}

export function flagsmithStates(): FlagsmithFeatureState[] {
  return [
    { id: 9101, featureId: 51, name: 'checkout_v2', enabled: true },
    { id: 9102, featureId: 52, name: 'search_v3', enabled: true },
  ];
}

export class FakeFlagsmith {
  states: FlagsmithFeatureState[] = flagsmithStates();

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
    const body = jsonBody(req);
    if (JSON.stringify(body) !== '{"enabled":false}') return v.reject(req, `unexpected body ${req.text}`);
    const state = this.states.find((s) => s.id === Number(m[2]));
    if (!state) return { status: 404, json: { detail: 'Not found.' } };
    state.enabled = false;
    return { status: 200, json: this.representation(state) };
  }

  representation(s: FlagsmithFeatureState): unknown {
    return {
      id: s.id,
      feature_state_value: null,
      multivariate_feature_state_values: [],
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
