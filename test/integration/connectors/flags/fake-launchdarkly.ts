/**
 * LaunchDarkly REST API stand-in that answers the documented requests the `launchdarkly` connector may
 * send, and refuses anything else:
 * - GET   /api/v2/flags/{projectKey}/{featureFlagKey}?env={environmentKey}   ("Get feature flag": the
 *   `env` query keeps only that environment in `environments`)
 * - PATCH /api/v2/flags/{projectKey}/{featureFlagKey} with `Content-Type: application/json;
 *   domain-model=launchdarkly.semanticpatch` and {environmentKey, comment?, instructions: [...]}, where
 *   an instruction is {kind: "turnFlagOff"}, {kind: "updateFallthroughVariationOrRollout", variationId} or
 *   {kind: "updateFallthroughVariationOrRollout", rolloutWeights, rolloutBucketBy?, rolloutContextKind?}
 *   (rolloutWeights: variation _id → weight in thousandths of a percent, integers 0–100000 summing to exactly
 *   100000; the flag then stores fallthrough.rollout {variations: [{variation, weight}], bucketBy?, contextKind?})
 *   ("Update feature flag", semantic patch). Without the domain-model parameter LaunchDarkly reads the body
 *   as a JSON patch and answers 400.
 * Both with `Authorization: <api key>` (401 otherwise). Answers follow the documented flag representation.
 */
import type { RecordedRequest } from '../../../helpers/http-peer.js';
import { FakeVendor, jsonBody, type FakeReply } from './fake-vendor.js';

export interface LdRollout {
  variations: { variation: number; weight: number }[];
  bucketBy?: string;
  contextKind?: string;
}

export interface LdEnvState {
  on: boolean;
  fallthrough: { variation?: number; rollout?: LdRollout };
  offVariation: number;
  rules: unknown[];
}

export interface LdFlagState {
  project: string;
  key: string;
  variations: { _id: string; value: unknown; name?: string }[];
  environments: Record<string, LdEnvState>;
}

const SEMANTIC = 'application/json; domain-model=launchdarkly.semanticpatch';

export function ldFlag(): LdFlagState {
  return {
    project: 'shop',
    key: 'checkout-v2',
    variations: [
      { _id: '86208e6e-468f-4425-b334-7f318397f95c', value: 'v1.8.0', name: 'canary' },
      { _id: '7b32de80-f346-4276-bb77-28dfa7ddc2d8', value: 'v1.7.3', name: 'baseline' },
      { _id: 'c0ffee00-0000-4000-8000-000000000003', value: 'legacy' },
    ],
    environments: {
      production: { on: true, fallthrough: { variation: 0 }, offVariation: 1, rules: [] },
      staging: { on: true, fallthrough: { variation: 0 }, offVariation: 1, rules: [] },
    },
  };
}

export class FakeLaunchDarkly {
  flag: LdFlagState = ldFlag();
  /** Bodies of the semantic patches applied. */
  readonly patches: unknown[] = [];

  private constructor(
    readonly vendor: FakeVendor,
    readonly apiKey: string,
  ) {}

  static async start(apiKey: string): Promise<FakeLaunchDarkly> {
    const ref: { self?: FakeLaunchDarkly } = {};
    const vendor = await FakeVendor.start((_v, req) => ref.self!.handle(req));
    const self = (ref.self = new FakeLaunchDarkly(vendor, apiKey));
    return self;
  }

  get url(): string {
    return this.vendor.url;
  }

  private error(status: number, code: string, message: string): FakeReply {
    return { status, json: { code, message } };
  }

  private handle(req: RecordedRequest): FakeReply {
    const v = this.vendor;
    if (req.headers.authorization !== this.apiKey) return this.error(401, 'unauthorized', 'Invalid access token');
    const u = new URL(req.path, 'http://ld.invalid');
    const m = /^\/api\/v2\/flags\/([^/]+)\/([^/]+)$/.exec(u.pathname);
    if (!m) return v.reject(req, 'not a LaunchDarkly flag route the connector may use', 404);
    if (decodeURIComponent(m[1]!) !== this.flag.project || decodeURIComponent(m[2]!) !== this.flag.key) {
      return this.error(404, 'not_found', 'Unknown resource');
    }
    if (req.method === 'GET') {
      if ([...u.searchParams.keys()].join() !== 'env') return v.reject(req, 'expected exactly the query parameter env');
      return { status: 200, json: this.representation(u.searchParams.get('env')!) };
    }
    if (req.method !== 'PATCH') return v.reject(req, `expected GET or PATCH, got ${req.method}`, 405);
    if (u.search !== '') return v.reject(req, 'PATCH takes no query');
    if (req.headers['content-type'] !== SEMANTIC)
      return v.reject(req, `not a semantic patch: content-type ${req.headers['content-type']}`);
    return this.semanticPatch(req);
  }

  private semanticPatch(req: RecordedRequest): FakeReply {
    const v = this.vendor;
    const body = jsonBody(req) as { environmentKey?: unknown; comment?: unknown; instructions?: unknown } | undefined;
    if (!body || typeof body !== 'object') return v.reject(req, 'body is not a JSON object');
    const extra = Object.keys(body).filter((k) => !['environmentKey', 'comment', 'instructions'].includes(k));
    if (extra.length > 0) return v.reject(req, `unknown body fields ${extra.join(',')}`);
    if (body.comment !== undefined && typeof body.comment !== 'string')
      return v.reject(req, 'comment must be a string');
    const env = typeof body.environmentKey === 'string' ? this.flag.environments[body.environmentKey] : undefined;
    if (!env) return v.reject(req, 'environmentKey missing or unknown');
    if (!Array.isArray(body.instructions) || body.instructions.length === 0)
      return v.reject(req, 'instructions must be a non-empty array');
    for (const ins of body.instructions as Record<string, unknown>[]) {
      if (ins.kind === 'turnFlagOff' && Object.keys(ins).length === 1) {
        env.on = false;
      } else if (ins.kind === 'updateFallthroughVariationOrRollout' && Object.keys(ins).join() === 'kind,variationId') {
        const index = this.flag.variations.findIndex((x) => x._id === ins.variationId);
        if (index < 0) return v.reject(req, 'variationId is not a variation of the flag');
        env.fallthrough = { variation: index };
      } else if (ins.kind === 'updateFallthroughVariationOrRollout' && 'rolloutWeights' in ins) {
        const rollout = this.rollout(ins);
        if (typeof rollout === 'string') return v.reject(req, rollout);
        env.fallthrough = { rollout };
      } else {
        return v.reject(req, `unsupported instruction ${JSON.stringify(ins)}`);
      }
    }
    this.patches.push(body);
    return { status: 200, json: this.representation(body.environmentKey as string) };
  }

  /** The stored rollout of a rolloutWeights instruction, or why the instruction is not the documented shape. */
  private rollout(ins: Record<string, unknown>): LdRollout | string {
    const extra = Object.keys(ins).filter(
      (k) => !['kind', 'rolloutWeights', 'rolloutBucketBy', 'rolloutContextKind'].includes(k),
    );
    if (extra.length > 0) return `unknown instruction fields ${extra.join(',')} next to rolloutWeights`;
    const weights = ins.rolloutWeights;
    if (typeof weights !== 'object' || weights === null || Array.isArray(weights))
      return 'rolloutWeights must be an object of variation _id to weight';
    const entries = Object.entries(weights as Record<string, unknown>);
    for (const [id, w] of entries) {
      if (!this.flag.variations.some((x) => x._id === id)) return `rolloutWeights: ${id} is not a variation _id`;
      if (typeof w !== 'number' || !Number.isInteger(w) || w < 0 || w > 100_000)
        return `rolloutWeights: ${id} must weigh an integer 0-100000 (thousandths of a percent)`;
    }
    const total = entries.reduce((sum, [, w]) => sum + (w as number), 0);
    if (total !== 100_000) return `rolloutWeights must sum to 100000, got ${total}`;
    for (const k of ['rolloutBucketBy', 'rolloutContextKind'])
      if (k in ins && (typeof ins[k] !== 'string' || ins[k] === '')) return `${k} must be a non-empty string`;
    return {
      variations: this.flag.variations.flatMap((x, variation) =>
        x._id in weights ? [{ variation, weight: (weights as Record<string, number>)[x._id]! }] : [],
      ),
      ...(typeof ins.rolloutBucketBy === 'string' ? { bucketBy: ins.rolloutBucketBy } : {}),
      ...(typeof ins.rolloutContextKind === 'string' ? { contextKind: ins.rolloutContextKind } : {}),
    };
  }

  /** The documented flag representation, `environments` filtered to `env` as the `env` query does. */
  representation(env: string): unknown {
    const e = this.flag.environments[env];
    return {
      name: 'Checkout v2',
      kind: 'multivariate',
      key: this.flag.key,
      _version: 7,
      creationDate: 1418684722483,
      variations: this.flag.variations,
      temporary: true,
      tags: [],
      archived: false,
      deprecated: false,
      defaults: { onVariation: 0, offVariation: 1 },
      _links: { self: { href: `/api/v2/flags/${this.flag.project}/${this.flag.key}`, type: 'application/json' } },
      environments:
        e === undefined
          ? {}
          : {
              [env]: {
                on: e.on,
                archived: false,
                salt: '61eddeadbeef4da1facecafe3a60a397',
                sel: '810edeadbeef',
                lastModified: 1627071171347,
                version: 3,
                targets: [],
                contextTargets: [],
                rules: e.rules,
                fallthrough: e.fallthrough,
                offVariation: e.offVariation,
                prerequisites: [],
                _site: { href: `/${this.flag.project}/${env}/features/${this.flag.key}`, type: 'text/html' },
                _environmentName: env,
                trackEvents: false,
                trackEventsFallthrough: false,
              },
            },
    };
  }
}
