import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, inject } from 'vitest';

/**
 * A connection to the suite's Redis and fresh key prefixes for one test file: every key under a prefix handed out is
 * deleted after each test, and the connection is closed after the file. Call it at the top level of a test file.
 */
export function redisPrefixes(name: string): { redis: Redis; prefix: () => string } {
  const redis = new Redis(inject('redisUrl'), { lazyConnect: true, maxRetriesPerRequest: 1 });
  const handed: string[] = [];
  afterEach(async () => {
    for (const p of handed.splice(0)) {
      const keys = await redis.keys(`${p}*`);
      if (keys.length > 0) await redis.del(...keys);
    }
  });
  afterAll(async () => {
    await redis.quit();
  });
  return {
    redis,
    prefix: () => {
      const p = `vigil-test-${name}:${randomUUID()}:`;
      handed.push(p);
      return p;
    },
  };
}
