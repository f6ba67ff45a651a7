import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type * as KubeClientNode from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { VigilError, vendorFetchError, vendorHttpError } from '../../src/errors.js';
import { abortedError } from './http.js';

/** The PATCH content types Vigil sends (the API server also knows strategic-merge and apply-patch). */
export const PATCH_CONTENT_TYPE = {
  /** RFC 6902: a list of operations, with `test` operations that make the patch fail (422) on a surprise. */
  json: 'application/json-patch+json',
  /** RFC 7386: a partial object, merged; arrays are replaced whole. */
  merge: 'application/merge-patch+json',
} as const;
export type PatchContentType = (typeof PATCH_CONTENT_TYPE)[keyof typeof PATCH_CONTENT_TYPE];

/** An answer larger than this is refused (a ReplicaSet list with revisionHistoryLimit 10 is far smaller). */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

export interface KubeConnection {
  /** Path of a kubeconfig file; absent: the in-cluster service account. */
  kubeconfig?: string;
  /** Context of the kubeconfig to use; absent: its current-context. */
  context?: string;
}

export interface KubeCall {
  signal: AbortSignal;
  timeoutMs: number;
  logger?: Logger;
}

interface LoadedConfig {
  kc: KubeConfig;
  /** The API server base URL without a trailing slash (it may carry a path prefix, as Rancher's proxy does). */
  server: string;
}

/** Loads @kubernetes/client-node on first use: it takes a second to import, and most configs do not need it. */
let clientModule: Promise<typeof KubeClientNode> | undefined;
function kubeModule(): Promise<typeof KubeClientNode> {
  clientModule ??= import('@kubernetes/client-node');
  return clientModule;
}

function configError(vendor: string, why: string, cause?: unknown): VigilError {
  return new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`${vendor}: ${why}`], { cause, details: { vendor } });
}

/** The API server's own explanation (`Status.message`) when the body is a Status object, else the body. */
function statusMessage(body: string): string {
  try {
    const s = JSON.parse(body) as { kind?: unknown; message?: unknown };
    if (s.kind === 'Status' && typeof s.message === 'string') return s.message;
  } catch {
    // not JSON: a proxy's page or plain text, shown as it is (cut to 300 chars by vendorHttpError)
  }
  return body;
}

/**
 * A minimal Kubernetes API client for plan connectors: GET and PATCH of single objects and lists.
 *
 * Configuration, credentials and TLS come from @kubernetes/client-node's `KubeConfig` (kubeconfig file with
 * an optional context, or the in-cluster service account; tokens, client certificates, exec and OIDC
 * plugins, proxies), through `applyToHTTPSOptions`, which yields the agent and auth headers. The request
 * itself is sent here with node:http(s), because the generated API classes of client-node 1.x (node-fetch
 * underneath) take neither an abort signal nor a timeout and choose the PATCH content type themselves;
 * connectors need all three exactly.
 *
 * Errors: the caller's abort → VIGIL_ERR_CONNECTOR_ABORTED; timeout (whole exchange) → TIMEOUT; network →
 * NETWORK (all retryable); 3xx → FAILED (redirects are not followed); 409 Conflict → HTTP_4XX but retryable
 * (another writer won a race: reading again and re-deciding is right); other 4xx permanent, 408/429/5xx
 * retryable, with the API server's `Status.message`. Credentials never reach logs or errors.
 */
export class KubeClient {
  private loaded: Promise<LoadedConfig> | undefined;

  constructor(
    /** Vendor name in errors and logs: the connector type ("gateway-api"). */
    private readonly vendor: string,
    private readonly connection: KubeConnection,
  ) {}

  /** Reads the kubeconfig once; a failed load is not cached, so a fixed file is picked up next time. */
  private config(): Promise<LoadedConfig> {
    this.loaded ??= this.load().catch((e: unknown) => {
      this.loaded = undefined;
      throw e;
    });
    return this.loaded;
  }

  private async load(): Promise<LoadedConfig> {
    const { KubeConfig: Config } = await kubeModule();
    const kc = new Config();
    const { kubeconfig, context } = this.connection;
    try {
      if (kubeconfig !== undefined) {
        kc.loadFromFile(kubeconfig);
      } else {
        if (!process.env.KUBERNETES_SERVICE_HOST) {
          throw configError(
            this.vendor,
            'no kubeconfig option and not running in a cluster (KUBERNETES_SERVICE_HOST is unset): set options.kubeconfig',
          );
        }
        kc.loadFromCluster();
      }
    } catch (e) {
      if (e instanceof VigilError) throw e;
      throw configError(
        this.vendor,
        `cannot load kubeconfig ${kubeconfig ?? '(in-cluster)'}: ${e instanceof Error ? e.message : String(e)}`,
        e,
      );
    }
    if (context !== undefined) {
      if (!kc.getContextObject(context))
        throw configError(this.vendor, `kubeconfig ${kubeconfig} has no context "${context}"`);
      kc.setCurrentContext(context);
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster)
      throw configError(
        this.vendor,
        `kubeconfig ${kubeconfig ?? '(in-cluster)'}: the current context names no cluster`,
      );
    if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify) {
      throw configError(
        this.vendor,
        `cluster ${cluster.name} uses plain http: set insecure-skip-tls-verify: true for it, or use https`,
      );
    }
    return { kc, server: cluster.server.replace(/\/+$/, '') };
  }

  /** Loads the configuration (file, context, cluster) without calling the API server. */
  async check(): Promise<void> {
    await this.config();
  }

  /** GETs an object or list; `path` starts with `/api/` or `/apis/`, query included. */
  get(path: string, call: KubeCall): Promise<unknown> {
    return this.send('GET', path, undefined, call);
  }

  /** PATCHes an object with the given content type and returns the object as the server stored it. */
  patch(path: string, contentType: PatchContentType, body: unknown, call: KubeCall): Promise<unknown> {
    return this.send('PATCH', path, { contentType, text: JSON.stringify(body) }, call);
  }

  private async send(
    method: 'GET' | 'PATCH',
    path: string,
    body: { contentType: PatchContentType; text: string } | undefined,
    call: KubeCall,
  ): Promise<unknown> {
    if (call.signal.aborted) throw abortedError(this.vendor, call.signal);
    const { kc, server } = await this.config();
    const opts: RequestOptions = {};
    try {
      await kc.applyToHTTPSOptions(opts);
    } catch (e) {
      throw new VigilError(
        'VIGIL_ERR_CONNECTOR_FAILED',
        [`${this.vendor}: could not obtain Kubernetes credentials: ${e instanceof Error ? e.message : String(e)}`],
        {
          cause: e,
          retryable: true,
          details: { vendor: this.vendor },
        },
      );
    }
    if (call.signal.aborted) throw abortedError(this.vendor, call.signal);
    const headers: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {}))
      if (typeof v === 'string' || typeof v === 'number') headers[k] = v;
    headers.accept = 'application/json';
    headers['user-agent'] = 'vigil';
    if (body) {
      headers['content-type'] = body.contentType;
      headers['content-length'] = Buffer.byteLength(body.text);
    }
    const url = new URL(server + path);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const { status, text } = await this.exchange(() => send(url, { ...opts, method, headers }), body?.text, call);
    call.logger?.debug({ vendor: this.vendor, method, path, status }, 'kubernetes API answered');
    if (status >= 200 && status < 300) {
      try {
        return JSON.parse(text) as unknown;
      } catch (e) {
        throw new VigilError(
          'VIGIL_ERR_CONNECTOR_FAILED',
          [`${this.vendor}: the API server answered HTTP ${status} with a body that is not JSON`],
          {
            cause: e,
            retryable: true,
            details: { vendor: this.vendor, status },
          },
        );
      }
    }
    if (status >= 300 && status < 400) {
      throw new VigilError(
        'VIGIL_ERR_CONNECTOR_FAILED',
        [
          `${this.vendor} answered HTTP ${status} (redirect), which Vigil does not follow: point the kubeconfig at the API server itself`,
        ],
        {
          details: { vendor: this.vendor, status },
        },
      );
    }
    const err = vendorHttpError(this.vendor, status, statusMessage(text));
    if (status !== 409) throw err;
    throw new VigilError(
      err.code,
      [`${this.vendor} answered HTTP 409 (conflict, another writer): ${statusMessage(text).slice(0, 300)}`],
      {
        retryable: true,
        details: { vendor: this.vendor, status },
      },
    );
  }

  /** One request/answer with the caller's signal and a timeout over the whole exchange; the body is capped. */
  private exchange(
    start: () => ClientRequest,
    body: string | undefined,
    call: KubeCall,
  ): Promise<{ status: number; text: string }> {
    const timeout = AbortSignal.timeout(call.timeoutMs);
    return new Promise((resolve, reject) => {
      let req: ClientRequest;
      try {
        req = start();
      } catch (e) {
        reject(vendorFetchError(this.vendor, e, call.timeoutMs));
        return;
      }
      let settled = false;
      let res: IncomingMessage | undefined;
      const failure = (e: unknown): VigilError => {
        if (call.signal.aborted) return abortedError(this.vendor, call.signal);
        if (timeout.aborted) return vendorFetchError(this.vendor, timeout.reason, call.timeoutMs);
        return vendorFetchError(this.vendor, e, call.timeoutMs);
      };
      const onAbort = (): void => finish(failure(undefined));
      const finish = (err: VigilError | undefined, value?: { status: number; text: string }): void => {
        if (settled) return;
        settled = true;
        call.signal.removeEventListener('abort', onAbort);
        timeout.removeEventListener('abort', onAbort);
        if (err) {
          res?.destroy();
          req.destroy();
          reject(err);
        } else {
          resolve(value!);
        }
      };
      call.signal.addEventListener('abort', onAbort, { once: true });
      timeout.addEventListener('abort', onAbort, { once: true });
      req.on('error', (e) => finish(failure(e)));
      req.on('response', (r) => {
        res = r;
        const chunks: Buffer[] = [];
        let size = 0;
        r.on('data', (c: Buffer) => {
          size += c.byteLength;
          if (size > MAX_ANSWER_BYTES) {
            finish(
              new VigilError(
                'VIGIL_ERR_CONNECTOR_FAILED',
                [`${this.vendor}: the API server's answer exceeds ${MAX_ANSWER_BYTES} bytes`],
                {
                  details: { vendor: this.vendor, status: r.statusCode },
                },
              ),
            );
            return;
          }
          chunks.push(c);
        });
        r.on('error', (e) => finish(failure(e)));
        r.on('end', () =>
          finish(undefined, { status: r.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
      });
      req.end(body);
    });
  }
}

/** One segment of an RFC 6901 JSON pointer (`~` → `~0`, `/` → `~1`). */
export function pointerSegment(s: string | number): string {
  return String(s).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** `/seg/seg/...` from raw segments. */
export function jsonPointer(...segments: (string | number)[]): string {
  return segments.map((s) => `/${pointerSegment(s)}`).join('');
}
