/**
 * Unleash Admin API stand-in (for machines without PostgreSQL, and for failure injection): answers the
 * two documented requests the `unleash` connector may send, and nothing else:
 * - GET  /api/admin/projects/{projectId}/features/{featureName}            ("Get a feature")
 * - POST /api/admin/projects/{projectId}/features/{featureName}/environments/{environment}/off
 *   ("Disable a feature flag": no request body)
 * both with `Authorization: <admin token>` (401 AuthenticationRequired otherwise, as Unleash answers).
 * Answers are shaped like unleash-server 7.5.1's (recorded against the real server).
 */
import type { RecordedRequest } from '../../../helpers/http-peer.js';
import { FakeVendor, type FakeReply } from './fake-vendor.js';

export interface UnleashFeatureState {
  project: string;
  name: string;
  environments: Record<string, boolean>;
}

export class FakeUnleash {
  feature: UnleashFeatureState = {
    project: 'default',
    name: 'checkout-v2',
    environments: { development: false, production: true },
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

  private handle(req: RecordedRequest): FakeReply {
    const v = this.vendor;
    if (req.headers.authorization !== this.token) {
      const message = 'You must log in to use Unleash.';
      return { status: 401, json: { name: 'UnauthorizedError', message, details: [{ message }] } };
    }
    const m = /^\/api\/admin\/projects\/([^/?]+)\/features\/([^/?]+)(\/environments\/([^/?]+)\/off)?$/.exec(req.path);
    if (!m) return v.reject(req, 'not an Unleash Admin API route the connector may use', 404);
    const [project, feature] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
    if (project !== this.feature.project || feature !== this.feature.name) return this.notFound(project, feature);
    if (m[3] === undefined) {
      if (req.method !== 'GET') return v.reject(req, `expected GET, got ${req.method}`, 405);
      if (req.text !== '') return v.reject(req, 'a GET has no body');
      return { status: 200, json: this.representation() };
    }
    if (req.method !== 'POST') return v.reject(req, `expected POST, got ${req.method}`, 405);
    if (req.text !== '') return v.reject(req, 'POST .../off takes no request body');
    const env = decodeURIComponent(m[4]!);
    if (!(env in this.feature.environments)) {
      const message = `Could not find environment ${env} for feature: ${feature}`;
      return { status: 404, json: { name: 'NotFoundError', message, details: [{ message }] } };
    }
    this.feature.environments[env] = false;
    return { status: 200, text: '' };
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
        strategies: [
          {
            name: 'flexibleRollout',
            constraints: [],
            variants: [],
            parameters: { groupId: this.feature.name, rollout: '100', stickiness: 'default' },
            segments: [],
            sortOrder: 0,
            id: `s-${i}`,
            title: null,
            disabled: false,
          },
        ],
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
