import { describe, expect, it } from 'vitest';
import { redactRedisUrl } from '../../src/redis-url.js';

describe('redactRedisUrl', () => {
  it('masks username and password, keeps host, port and db', () => {
    expect(redactRedisUrl('redis://default:s3cr3t@cache.internal:6380/2')).toBe(
      'redis://***:***@cache.internal:6380/2',
    );
    expect(redactRedisUrl('rediss://:s3cr3t@cache:6379')).toBe('rediss://:***@cache:6379');
    expect(redactRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactRedisUrl('not a url s3cr3t')).toBe('[unparsable url]');
  });
});
