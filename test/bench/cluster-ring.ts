/**
 * Routing by service as the OpenTelemetry Collector's loadbalancing exporter does with `routing_key: service`: a
 * consistent hash ring over the live backends' endpoints ("host:port"), each endpoint on 100 positions of a
 * 36,000-position circle (CRC-32 IEEE of the endpoint followed by one byte, the point's index), a service routed to
 * the first position at or after CRC-32(service name) mod 36,000 (wrapping around). A position two endpoints share
 * goes to the first one listed. Removing an endpoint moves only the services routed to it.
 */
import { crc32 } from 'node:zlib';

const POSITIONS = 36_000;
const POINTS_PER_ENDPOINT = 100;

export class HashRing {
  private readonly positions: Uint32Array;
  private readonly owners: string[];

  constructor(endpoints: readonly string[]) {
    const taken = new Map<number, string>();
    for (const endpoint of endpoints) {
      for (let i = 0; i < POINTS_PER_ENDPOINT; i++) {
        const pos = crc32(Buffer.concat([Buffer.from(endpoint), Buffer.of(i)])) % POSITIONS;
        if (!taken.has(pos)) taken.set(pos, endpoint);
      }
    }
    const sorted = [...taken].sort((a, b) => a[0] - b[0]);
    this.positions = Uint32Array.from(sorted.map(([p]) => p));
    this.owners = sorted.map(([, e]) => e);
  }

  /** The endpoint a service is routed to (undefined when the ring is empty). */
  endpointFor(service: string): string | undefined {
    if (this.owners.length === 0) return undefined;
    const pos = crc32(service) % POSITIONS;
    let lo = 0;
    let hi = this.positions.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.positions[mid]! >= pos) hi = mid;
      else lo = mid + 1;
    }
    return this.owners[lo === this.owners.length ? 0 : lo];
  }
}
