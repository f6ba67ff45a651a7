/**
 * A small, strict stand-in for a Kubernetes API server (on the test HTTP peer, test/helpers/http-peer.ts), for the
 * gateway-api, istio, kubernetes and argo-rollouts connectors. It keeps objects by their REST path, answers
 * what the API server answers for what those connectors send, and records every request so tests can check
 * the exact method, path, Content-Type and body:
 * - bearer-token authentication (401 Status otherwise);
 * - GET of an object, of a list with `labelSelector` (=, ==, !=, in, notin, exists, !exists), of `/scale`;
 * - PATCH with `application/json-patch+json` (RFC 6902: add, remove, replace, test; a failed `test` or a
 *   bad path is 422, as the API server answers) or `application/merge-patch+json` (RFC 7386); any other
 *   content type is 415, a body that is not JSON is 400;
 * - status subresource rules: a PATCH of the object keeps `status`, a PATCH of `/status` changes only
 *   `status`; `?dryRun=All` validates and answers without storing; `metadata.resourceVersion` and
 *   `metadata.generation` move as the API server moves them.
 */
import { HttpPeer, type RecordedRequest, type Reply } from '../http-peer.js';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

export interface KubeRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  contentType: string | undefined;
  authorization: string | undefined;
  body: unknown;
}

class HttpStatus extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const clone = <T>(v: T): T => structuredClone(v);

function unescape(seg: string): string {
  return seg.replace(/~1/g, '/').replace(/~0/g, '~');
}

function parsePointer(p: string): string[] {
  if (typeof p !== 'string' || (p !== '' && !p.startsWith('/')))
    throw new HttpStatus(422, 'Invalid', `invalid JSON pointer ${String(p)}`);
  return p === '' ? [] : p.slice(1).split('/').map(unescape);
}

function container(doc: Json, segs: string[]): { parent: Obj | Json[]; key: string } {
  let cur: Json = doc;
  for (const s of segs.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(s)] as Json;
    else if (cur && typeof cur === 'object') cur = cur[s] as Json;
    else cur = undefined as unknown as Json;
    if (cur === undefined || cur === null || typeof cur !== 'object') {
      throw new HttpStatus(422, 'Invalid', `doc is missing path: /${segs.join('/')}`);
    }
  }
  return { parent: cur as Obj | Json[], key: segs[segs.length - 1]! };
}

function getAt(doc: Json, segs: string[]): Json | undefined {
  let cur: Json | undefined = doc;
  for (const s of segs) {
    if (Array.isArray(cur)) cur = cur[Number(s)];
    else if (cur && typeof cur === 'object') cur = cur[s];
    else return undefined;
  }
  return cur;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** RFC 6902 add/remove/replace/test on a copy of `doc`. */
export function applyJsonPatch(doc: Obj, ops: unknown): Obj {
  if (!Array.isArray(ops)) throw new HttpStatus(400, 'BadRequest', 'a JSON patch must be a JSON array of operations');
  const out = clone(doc) as Json;
  for (const raw of ops as { op?: unknown; path?: unknown; value?: Json }[]) {
    const segs = parsePointer(raw.path as string);
    if (segs.length === 0) throw new HttpStatus(422, 'Invalid', 'the fake does not patch the document root');
    const { parent, key } = container(out, segs);
    switch (raw.op) {
      case 'test': {
        if (!deepEqual(getAt(out, segs), raw.value)) {
          throw new HttpStatus(
            422,
            'Invalid',
            `the server rejected our request due to an error in our request: testing value /${segs.join('/')} failed`,
          );
        }
        break;
      }
      case 'add':
        if (Array.isArray(parent)) {
          const i = key === '-' ? parent.length : Number(key);
          if (!(i >= 0 && i <= parent.length)) throw new HttpStatus(422, 'Invalid', `add index out of bounds: ${key}`);
          parent.splice(i, 0, clone(raw.value as Json));
        } else {
          parent[key] = clone(raw.value as Json);
        }
        break;
      case 'replace':
      case 'remove': {
        const exists = Array.isArray(parent) ? Number(key) >= 0 && Number(key) < parent.length : key in parent;
        if (!exists)
          throw new HttpStatus(
            422,
            'Invalid',
            `${raw.op} operation does not apply: doc is missing key: /${segs.join('/')}`,
          );
        if (raw.op === 'remove') {
          if (Array.isArray(parent)) parent.splice(Number(key), 1);
          else delete parent[key];
        } else if (Array.isArray(parent)) {
          parent[Number(key)] = clone(raw.value as Json);
        } else {
          parent[key] = clone(raw.value as Json);
        }
        break;
      }
      default:
        throw new HttpStatus(422, 'Invalid', `unexpected JSON patch operation ${String(raw.op)}`);
    }
  }
  return out as Obj;
}

/** RFC 7386 merge patch. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  const out: Obj = target && typeof target === 'object' && !Array.isArray(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k] ?? null, v);
  }
  return out;
}

/** Matches a label selector string as the API server parses it (the subset connectors send). */
export function matchesSelector(labels: Record<string, string>, selector: string): boolean {
  if (selector.trim() === '') return true;
  const terms = selector.match(/[^,(]+(\([^)]*\))?/g) ?? [];
  return terms.every((t) => {
    const term = t.trim();
    let m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (m) {
      const values = m[3]!.split(',').map((v) => v.trim());
      const has = m[1]! in labels && values.includes(labels[m[1]!]!);
      return m[2] === 'in' ? has : !has;
    }
    m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(term);
    if (m) return m[2] === '!=' ? labels[m[1]!] !== m[3] : labels[m[1]!] === m[3];
    m = /^(!?)([\w./-]+)$/.exec(term);
    if (m) return m[1] === '!' ? !(m[2]! in labels) : m[2]! in labels;
    throw new HttpStatus(400, 'BadRequest', `unable to parse requirement: ${term}`);
  });
}

const OBJECT_PATH = /^(\/apis\/[^/]+\/[^/]+|\/api\/v1)\/namespaces\/([^/]+)\/([^/]+)\/([^/]+)(\/status|\/scale)?$/;
const LIST_PATH = /^(\/apis\/[^/]+\/[^/]+|\/api\/v1)\/namespaces\/([^/]+)\/([^/]+)$/;
const PATCH_TYPES = new Set(['application/json-patch+json', 'application/merge-patch+json']);

export class FakeKubeApi {
  readonly requests: KubeRequest[] = [];
  readonly token: string;
  /** False: like a CRD without `subresources.status`: `/status` is 404 and the object's PATCH sets status. */
  statusSubresource = true;
  /** Runs before a PATCH is applied: lets a test play another writer racing the connector. */
  beforePatch: ((path: string) => void) | undefined;
  private readonly objects = new Map<string, Obj>();
  private peer: HttpPeer | undefined;
  private version = 100;

  private constructor(token: string) {
    this.token = token;
  }

  static async start(opts: { token?: string } = {}): Promise<FakeKubeApi> {
    const api = new FakeKubeApi(opts.token ?? 'fake-kube-token-3c41b7');
    api.peer = await HttpPeer.start((rec) => api.answer(rec));
    return api;
  }

  get url(): string {
    return this.peer?.url ?? '';
  }

  private answer(raw: RecordedRequest): Reply {
    const url = new URL(raw.path || '/', 'http://fake');
    const rec: KubeRequest = {
      method: raw.method,
      path: url.pathname,
      query: url.searchParams,
      contentType: raw.headers['content-type'],
      authorization: raw.headers.authorization,
      body: undefined,
    };
    this.requests.push(rec);
    let status = 200;
    let answer: unknown;
    try {
      if (raw.text !== '') {
        try {
          rec.body = JSON.parse(raw.text);
        } catch {
          throw new HttpStatus(400, 'BadRequest', 'the request body is not JSON');
        }
      }
      answer = this.handle(rec);
    } catch (e) {
      if (!(e instanceof HttpStatus)) throw e;
      status = e.code;
      answer = {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: e.message,
        reason: e.reason,
        code: e.code,
      };
    }
    return { status, body: JSON.stringify(answer), headers: { 'content-type': 'application/json' } };
  }

  /** Stores (or replaces) an object at its REST path; fills resourceVersion, generation and uid. */
  put(path: string, obj: object): void {
    const o = clone(obj) as Obj;
    const meta = (o.metadata ?? {}) as Obj;
    meta.resourceVersion = String(++this.version);
    meta.generation ??= 1;
    meta.uid ??= `uid-${path.split('/').pop()}`;
    o.metadata = meta;
    this.objects.set(path, o);
  }

  /** The stored object at a REST path (a copy), or undefined. */
  object<T = Obj>(path: string): T | undefined {
    const o = this.objects.get(path);
    return o === undefined ? undefined : (clone(o) as T);
  }

  delete(path: string): void {
    this.objects.delete(path);
  }

  /** Requests other than GET (what changed or tried to). */
  writes(): KubeRequest[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }

  async close(): Promise<void> {
    await this.peer?.close();
  }

  private handle(req: KubeRequest): unknown {
    if (req.authorization !== `Bearer ${this.token}`) throw new HttpStatus(401, 'Unauthorized', 'Unauthorized');
    const obj = OBJECT_PATH.exec(req.path);
    if (obj) {
      const [, , , plural, name, sub] = obj;
      const path = req.path.replace(/\/(status|scale)$/, '');
      if (sub === '/status' && !this.statusSubresource) {
        throw new HttpStatus(404, 'NotFound', 'the server could not find the requested resource');
      }
      const stored = this.objects.get(path);
      if (!stored) throw new HttpStatus(404, 'NotFound', `${plural} "${name}" not found`);
      if (req.method === 'GET') return sub === '/scale' ? this.scaleOf(stored) : stored;
      if (req.method === 'PATCH') {
        this.beforePatch?.(path);
        return this.patch(path, this.objects.get(path) ?? stored, req, sub);
      }
      throw new HttpStatus(405, 'MethodNotAllowed', `${req.method} is not allowed here`);
    }
    const list = LIST_PATH.exec(req.path);
    if (list && req.method === 'GET') {
      const prefix = `${req.path}/`;
      const selector = req.query.get('labelSelector') ?? '';
      const items = [...this.objects.entries()]
        .filter(([p]) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/'))
        .map(([, o]) => o)
        .filter((o) => matchesSelector(((o.metadata as Obj).labels ?? {}) as Record<string, string>, selector));
      return { kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: String(this.version) }, items };
    }
    throw new HttpStatus(
      404,
      'NotFound',
      `the server could not find the requested resource (${req.method} ${req.path})`,
    );
  }

  private scaleOf(o: Obj): Obj {
    const meta = o.metadata as Obj;
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name: meta.name ?? null,
        namespace: meta.namespace ?? null,
        resourceVersion: meta.resourceVersion ?? null,
      },
      spec: { replicas: (o.spec as Obj | undefined)?.replicas ?? 1 },
      status: { replicas: (o.status as Obj | undefined)?.replicas ?? 0 },
    };
  }

  private patch(path: string, stored: Obj, req: KubeRequest, sub: string | undefined): unknown {
    const type = (req.contentType ?? '').split(';')[0]!.trim();
    if (!PATCH_TYPES.has(type)) {
      throw new HttpStatus(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: ${[...PATCH_TYPES].join(', ')}`,
      );
    }
    const base = sub === '/scale' ? this.scaleOf(stored) : stored;
    const patched =
      type === 'application/json-patch+json'
        ? applyJsonPatch(base, req.body)
        : (applyMergePatch(base, (req.body ?? null) as Json) as Obj);
    let next: Obj;
    if (sub === '/scale') {
      next = clone(stored);
      next.spec = { ...((next.spec ?? {}) as Obj), replicas: (patched.spec as Obj).replicas ?? null };
    } else if (sub === '/status') {
      next = { ...clone(stored), status: patched.status ?? null };
    } else if (this.statusSubresource) {
      next = { ...patched, status: clone(stored.status ?? null) };
      if (stored.status === undefined) delete next.status;
    } else {
      next = patched;
    }
    const rv = (patched.metadata as Obj | undefined)?.resourceVersion;
    if (
      type === 'application/merge-patch+json' &&
      rv !== undefined &&
      rv !== (stored.metadata as Obj).resourceVersion
    ) {
      throw new HttpStatus(
        409,
        'Conflict',
        'the object has been modified; please apply your changes to the latest version and try again',
      );
    }
    (next.metadata as Obj).resourceVersion = (stored.metadata as Obj).resourceVersion ?? null;
    if (deepEqual(next, stored)) return sub === '/scale' ? this.scaleOf(stored) : stored;
    const meta = next.metadata as Obj;
    if (!deepEqual(next.spec, stored.spec)) meta.generation = Number(meta.generation ?? 1) + 1;
    if (req.query.get('dryRun') === 'All') return sub === '/scale' ? this.scaleOf(next) : next;
    meta.resourceVersion = String(++this.version);
    this.objects.set(path, next);
    return sub === '/scale' ? this.scaleOf(next) : next;
  }
}

/** Writes a kubeconfig for `server` (plain http, so insecure-skip-tls-verify) with a bearer token. */
export function writeKubeconfig(
  dir: string,
  server: string,
  token: string,
  opts: { file?: string; context?: string; namespace?: string } = {},
): string {
  const context = opts.context ?? 'test';
  const file = join(
    dir,
    opts.file ?? `kubeconfig-${createHash('sha256').update(server).digest('hex').slice(0, 12)}.yaml`,
  );
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `current-context: ${context}`,
      'clusters:',
      '  - name: fake',
      `    cluster: { server: "${server}", insecure-skip-tls-verify: true }`,
      'users:',
      '  - name: vigil',
      `    user: { token: "${token}" }`,
      'contexts:',
      `  - name: ${context}`,
      `    context: { cluster: fake, user: vigil${opts.namespace ? `, namespace: ${opts.namespace}` : ''} }`,
      '',
    ].join('\n'),
  );
  return file;
}
