import type { Redis } from 'ioredis';

/**
 * Every key under `prefix` with its string value (SCAN in pages of 500, then MGET per page): a key that expires
 * between the two is left out. O(keys under the prefix); for small sets (replicas, leases), never per request.
 */
export async function scanValues(redis: Redis, prefix: string): Promise<[key: string, value: string][]> {
  const out: [string, string][] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    const values = keys.length === 0 ? [] : await redis.mget(...keys);
    keys.forEach((k, i) => {
      const v = values[i];
      if (v !== null && v !== undefined) out.push([k, v]);
    });
  } while (cursor !== '0');
  return out;
}
