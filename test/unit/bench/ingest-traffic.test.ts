import { describe, expect, it } from 'vitest';
import { decodeInline } from '../../../src/ingest/admission/decode-pool.js';
import { DEFAULT_COHORT_RULES } from '../../../src/ingest/cohort.js';
import type { RequestSample } from '../../../src/contracts/index.js';
import type { GenService } from '../../bench/ingest-payload.js';
import { TrafficSource } from '../../bench/ingest-traffic.js';

const rules = { ...DEFAULT_COHORT_RULES };
const services: GenService[] = [
  { name: 'svc-a', version: '1.0.0', cohort: 'baseline', errorRate: 0.02, latencyMs: 20 },
  { name: 'svc-a', version: '1.1.0', cohort: 'canary', errorRate: 0.3, latencyMs: 60 },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

describe('the ingest benchmark traffic source', () => {
  it('draws every protobuf request afresh from each cohort model (no replayed spans)', () => {
    const source = new TrafficSource('protobuf', {
      services,
      requests: 2,
      spansPerRequest: 100,
      spansPerResource: 25,
      seed: 9,
    });
    const samples: RequestSample[] = [];
    const first = Buffer.from(source.take().body);
    source.take();
    const again = source.take().body; // the same template as `first`, rebuilt
    expect(again.length).toBe(first.length);
    expect(again.equals(first)).toBe(false);
    // a rebuilt template is new traffic: new span ids (not duplicates) and new trace ids (not retries)
    const keys = (body: Buffer) => decodeInline(body, 'protobuf', rules).samples.map((s) => [s.spanKey, s.traceKey]);
    const firstKeys = keys(first).flat();
    expect(new Set([...firstKeys, ...keys(again).flat()]).size).toBe(2 * firstKeys.length);
    expect(new Set(keys(first).map((k) => k[1])).size).toBe(100);
    samples.push(...decodeInline(first, 'protobuf', rules).samples, ...decodeInline(again, 'protobuf', rules).samples);
    for (let i = 0; i < 60; i++) samples.push(...decodeInline(source.take().body, 'protobuf', rules).samples);
    const by = (cohort: string) => samples.filter((s) => s.cohort === cohort);
    const baseline = by('baseline');
    const canary = by('canary');
    expect(baseline.length).toBe(3100);
    expect(canary.length).toBe(3100);
    // distinct latencies: the 50 spans of a cohort per template are not replayed
    expect(new Set(canary.map((s) => s.durationMs)).size).toBeGreaterThan(3000);
    // the models: error rates 2% / 30%, median latencies 20 / 60 ms (log-normal, sigma 0.5)
    const rate = (xs: RequestSample[]) => xs.filter((s) => s.error).length / xs.length;
    expect(rate(baseline)).toBeGreaterThan(0.01);
    expect(rate(baseline)).toBeLessThan(0.03);
    expect(rate(canary)).toBeGreaterThan(0.27);
    expect(rate(canary)).toBeLessThan(0.33);
    expect(median(baseline.map((s) => s.durationMs))).toBeGreaterThan(19);
    expect(median(baseline.map((s) => s.durationMs))).toBeLessThan(21);
    expect(median(canary.map((s) => s.durationMs))).toBeGreaterThan(57);
    expect(median(canary.map((s) => s.durationMs))).toBeLessThan(63);
  });
});
