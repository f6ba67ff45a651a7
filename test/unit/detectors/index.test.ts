import { describe, expect, it } from 'vitest';
import { BUILTIN_DETECTORS } from '../../../detectors/index.js';

describe('BUILTIN_DETECTORS', () => {
  it('lists the sequential detectors keyed by their type', () => {
    expect([...BUILTIN_DETECTORS.keys()].sort()).toEqual(['error-rate-sequential', 'latency-sequential']);
    for (const [type, factory] of BUILTIN_DETECTORS) {
      expect(factory.type).toBe(type);
      expect(factory.create('m', {}, { minSamples: 25 }).type).toBe(type);
    }
  });
});
