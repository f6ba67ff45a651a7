import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Sender } from '../../bench/cluster-load.js';
import { monitorArgs } from '../../bench/cluster-redis.js';
import { HashRing } from '../../bench/cluster-ring.js';

const services = Array.from({ length: 300 }, (_, i) => `svc-${String(i).padStart(3, '0')}`);
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** A local OTLP stand-in answering each request with `answer(path count so far)`. */
async function backend(answer: (n: number) => { status: number; retryAfter?: string }): Promise<string> {
  let n = 0;
  const srv = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const a = answer(n++);
      res.writeHead(a.status, a.retryAfter === undefined ? {} : { 'retry-after': a.retryAfter });
      res.end();
    });
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(srv.address() as AddressInfo).port}`;
}

describe('the cluster benchmark sender', () => {
  it('routes by service over a consistent hash ring: balanced, and removing a replica moves only its services', () => {
    const endpoints = ['10.0.0.1:4318', '10.0.0.2:4318', '10.0.0.3:4318'];
    const ring = new HashRing(endpoints);
    const before = new Map(services.map((s) => [s, ring.endpointFor(s)!]));
    for (const e of endpoints) expect([...before.values()].filter((x) => x === e).length).toBeGreaterThan(45);
    expect(new HashRing([...endpoints].reverse()).endpointFor('svc-042')).toBe(before.get('svc-042'));
    const smaller = new HashRing(endpoints.slice(1));
    for (const s of services) {
      if (before.get(s) !== endpoints[0]) expect(smaller.endpointFor(s)).toBe(before.get(s));
      else expect(endpoints.slice(1)).toContain(smaller.endpointFor(s));
    }
    expect(new HashRing([]).endpointFor('svc-000')).toBeUndefined();
  });

  it('retries a 503 after its Retry-After, and a removed replica no longer gets requests', async () => {
    const refusing = await backend((n) => (n === 0 ? { status: 503, retryAfter: '0' } : { status: 200 }));
    const other = await backend(() => ({ status: 200 }));
    const sender = new Sender(
      [
        { key: refusing, label: 'a' },
        { key: other, label: 'b' },
      ],
      { concurrency: 2, spansPerRequest: 10 },
    );
    try {
      const onRefusing = services.find((s) => sender.backendFor(s)?.key === refusing)!;
      expect(await sender.send(onRefusing, 0, Buffer.from('{}'))).toBe(true);
      expect(sender.perBackend().a).toMatchObject({ accepted: 1, refused: 1, spans: 10 });
      sender.remove(refusing);
      expect(sender.backendFor(onRefusing)?.key).toBe(other);
      expect(await sender.send(onRefusing, 1, Buffer.from('{}'), 4)).toBe(true);
      expect(sender.perBackend().b).toMatchObject({ accepted: 1, spans: 4 });
      expect(sender.totals).toMatchObject({ accepted: 2, refused: 1, spans: 14, dropped: 0 });
    } finally {
      sender.close();
    }
  });

  it('reads the quoted arguments of a redis-cli monitor line, escaped quotes included, up to the first key', () => {
    const line = '1733380000.123456 [0 127.0.0.1:50736] "EVAL" "return \\"x\\\\\\"" "2" "p:cluster:lease:a" "more"';
    const args = monitorArgs(line, line.indexOf(']'), 'p:');
    expect(args).toEqual(['EVAL', 'return \\"x\\\\\\"', '2', 'p:cluster:lease:a']);
  });
});
