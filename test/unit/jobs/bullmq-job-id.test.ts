import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeJobId, encodeJobId } from '../../../src/jobs/bullmq-job-id.js';

/** What BullMQ 6.7.0 (Job.validateOptions) rejects as a custom job id. */
function bullmqRejects(id: string): boolean {
  if (`${parseInt(id, 10)}` === id) return true;
  return id.includes(':') && id.split(':').length !== 3;
}

describe('encodeJobId / decodeJobId', () => {
  it('maps known ids as documented', () => {
    expect(encodeJobId('checkout:dec-1:kill-flag')).toBe('checkout%3Adec-1%3Akill-flag');
    expect(encodeJobId('a%b')).toBe('a%25b');
    expect(encodeJobId('123')).toBe('%3123');
    expect(encodeJobId('-5')).toBe('%2D5');
    expect(encodeJobId('plain-id')).toBe('plain-id');
  });

  it('round-trips every string and never produces an id BullMQ rejects', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[-0-9:%a]{1,12}$/), fc.integer().map(String)), (id) => {
        const enc = encodeJobId(id);
        expect(decodeJobId(enc)).toBe(id);
        expect(enc.includes(':')).toBe(false);
        if (id.length > 0) expect(bullmqRejects(enc)).toBe(false);
      }),
      { numRuns: 2_000 },
    );
  });

  it('is injective: distinct ids never share an encoding', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        fc.pre(a !== b);
        expect(encodeJobId(a)).not.toBe(encodeJobId(b));
      }),
    );
  });
});
