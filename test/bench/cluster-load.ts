/**
 * The load side of the cluster benchmark: a sender that behaves as a Collector with the loadbalancing exporter
 * (`routing_key: service`) in front of the replicas. Each service's looks go, in order, to the replica the hash
 * ring (cluster-ring.ts) names among the LIVE replicas; each replica has its own keep-alive connection pool with
 * `concurrency` requests in flight at most (the exporter's per-backend consumers), taken first come first served.
 *
 * Failures are retried as the Collector's OTLP/HTTP exporter does: a 503 (or 429) after its Retry-After (1 s when
 * absent, at most `maxRetryAfterMs`), a connection error after a short back-off (100 ms doubling to 2 s); the ring is
 * read again before every attempt, so a replica removed from it (`remove`: the bench does so when the process
 * exits, as the k8s resolver would drop the endpoint) no longer gets traffic. A request still failing after
 * `giveUpMs` is dropped (counted). Every attempt's outcome is reported to `onAttempt` (the failover measure).
 */
import { Agent as HttpAgent, request } from 'node:http';
import { HashRing } from './cluster-ring.js';

export interface Backend {
  /** "host:port" of its OTLP/HTTP receiver: the ring's endpoint name. */
  key: string;
  /** Its label in the tables (r0, r1, ...). */
  label: string;
}

export interface AttemptEvent {
  service: string;
  look: number;
  backend: string;
  /** HTTP status, or -1 for a connection error. */
  status: number;
  /** Date.now() when the answer came. */
  atMs: number;
}

export interface SendCounters {
  accepted: number;
  spans: number;
  refused: number;
  connectionErrors: number;
  otherErrors: Record<string, number>;
  dropped: number;
}

const newCounters = (): SendCounters => ({
  accepted: 0,
  spans: 0,
  refused: 0,
  connectionErrors: 0,
  otherErrors: {},
  dropped: 0,
});

/** First come, first served permits. */
class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}

  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

interface Live {
  backend: Backend;
  url: URL;
  agent: HttpAgent;
  slots: Semaphore;
  counters: SendCounters;
}

export interface SenderOptions {
  /** Requests in flight per replica at most. */
  concurrency: number;
  /** Spans per request, unless `send` is told otherwise. */
  spansPerRequest: number;
  maxRetryAfterMs?: number;
  giveUpMs?: number;
  onAttempt?: (e: AttemptEvent) => void;
}

function post(live: Live, body: Buffer): Promise<{ status: number; retryAfterMs: number | undefined; atMs: number }> {
  return new Promise((resolve) => {
    const req = request(
      live.url,
      {
        method: 'POST',
        agent: live.agent,
        headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          const ra = Number(res.headers['retry-after']);
          resolve({
            status: res.statusCode ?? 0,
            retryAfterMs: Number.isFinite(ra) && ra >= 0 ? ra * 1000 : undefined,
            atMs: Date.now(),
          });
        });
      },
    );
    req.on('error', () => resolve({ status: -1, retryAfterMs: undefined, atMs: Date.now() }));
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Sender {
  private ring: HashRing;
  private readonly live = new Map<string, Live>();
  private readonly removed: Live[] = [];
  readonly totals = newCounters();

  constructor(
    backends: readonly Backend[],
    private readonly o: SenderOptions,
  ) {
    for (const b of backends) {
      this.live.set(b.key, {
        backend: b,
        url: new URL(`http://${b.key}/v1/traces`),
        agent: new HttpAgent({ keepAlive: true, maxSockets: o.concurrency }),
        slots: new Semaphore(o.concurrency),
        counters: newCounters(),
      });
    }
    this.ring = new HashRing([...this.live.keys()]);
  }

  /** The replica the ring routes a service to now. */
  backendFor(service: string): Backend | undefined {
    const key = this.ring.endpointFor(service);
    return key === undefined ? undefined : this.live.get(key)?.backend;
  }

  /** Drops a replica from the ring (its process exited: the resolver no longer lists it). */
  remove(key: string): void {
    const l = this.live.get(key);
    if (!l) return;
    this.live.delete(key);
    this.removed.push(l);
    this.ring = new HashRing([...this.live.keys()]);
  }

  /** Counters per replica label (removed replicas included). */
  perBackend(): Record<string, SendCounters> {
    const out: Record<string, SendCounters> = {};
    for (const l of [...this.live.values(), ...this.removed]) out[l.backend.label] = l.counters;
    return out;
  }

  /** One request of one service's look, retried as the Collector would; true once accepted, false when dropped. */
  async send(service: string, look: number, body: Buffer, spans = this.o.spansPerRequest): Promise<boolean> {
    const giveUpAt = Date.now() + (this.o.giveUpMs ?? 120_000);
    let backoff = 100;
    for (;;) {
      const key = this.ring.endpointFor(service);
      const l = key === undefined ? undefined : this.live.get(key);
      if (l === undefined) throw new Error('no replica left in the ring');
      await l.slots.acquire();
      let r;
      try {
        r = await post(l, body);
      } finally {
        l.slots.release();
      }
      this.o.onAttempt?.({ service, look, backend: l.backend.label, status: r.status, atMs: r.atMs });
      const c = l.counters;
      if (r.status === 200) {
        for (const x of [c, this.totals]) {
          x.accepted++;
          x.spans += spans;
        }
        return true;
      }
      let wait: number;
      if (r.status === 503 || r.status === 429) {
        c.refused++;
        this.totals.refused++;
        wait = Math.min(r.retryAfterMs ?? 1_000, this.o.maxRetryAfterMs ?? 30_000);
      } else if (r.status === -1) {
        c.connectionErrors++;
        this.totals.connectionErrors++;
        wait = backoff;
        backoff = Math.min(2_000, backoff * 2);
      } else {
        for (const x of [c, this.totals]) x.otherErrors[String(r.status)] = (x.otherErrors[String(r.status)] ?? 0) + 1;
        return false; // not retryable (the exporter drops it)
      }
      if (Date.now() + wait > giveUpAt) {
        c.dropped++;
        this.totals.dropped++;
        return false;
      }
      await sleep(wait);
    }
  }

  /**
   * Looks `from` to `to - 1` of every service: each service's looks in order (the next once the previous is
   * accepted or dropped), all services at once; `bodyOf` gives a look's request.
   */
  async run(
    services: readonly string[],
    from: number,
    to: number,
    bodyOf: (service: string, look: number) => Buffer,
  ): Promise<void> {
    await Promise.all(
      services.map(async (s) => {
        for (let n = from; n < to; n++) await this.send(s, n, bodyOf(s, n));
      }),
    );
  }

  close(): void {
    for (const l of [...this.live.values(), ...this.removed]) l.agent.destroy();
  }
}
