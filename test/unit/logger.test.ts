import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';

describe('logger', () => {
  it('redacts secrets by path and keeps the rest', () => {
    let out = '';
    const destination = new Writable({
      write(chunk: Buffer, _e, cb) {
        out += chunk.toString();
        cb();
      },
    });
    const log = createLogger({ level: 'info', destination });
    log.info(
      {
        options: { url: 'https://hooks.example/x', secret: 's3cret' },
        token: 'tok',
        headers: { authorization: 'Bearer abc' },
        redis: 'redis://:pw@host',
      },
      'connector',
    );
    const line = JSON.parse(out) as Record<string, unknown>;
    expect(out).not.toMatch(/s3cret|tok"|Bearer abc|:pw@/);
    expect(line).toMatchObject({
      options: { url: 'https://hooks.example/x', secret: '[redacted]' },
      token: '[redacted]',
      msg: 'connector',
    });
  });
});
