import { describe, expect, it } from 'vitest';
import { EVICTION_LOG_INTERVAL_MS, limitEvicted } from '../../../src/agent/registry.js';
import { createMetrics } from '../../../src/http/metrics.js';
import { captureLogs } from '../../helpers/log-lines.js';

describe('limitEvicted: evictions at a limit', () => {
  it('counts every eviction and logs one summary line per limit at most once per interval', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const logs = captureLogs('info');
    let now = 1_000_000;
    const evicted = limitEvicted(metrics, logs.logger, () => now);
    evicted('services', 3); // the first eviction is logged at once
    for (let i = 0; i < 1000; i++) {
      now += 10;
      evicted('services', 5);
    }
    evicted('metric-streams', 2); // another limit has its own line
    now += EVICTION_LOG_INTERVAL_MS; // the next one after the interval sums up what happened since
    evicted('services', 1);
    const lines = logs.parsed();
    expect(lines.map((l) => [l.limit, l.evicted])).toEqual([
      ['services', 3],
      ['metric-streams', 2],
      ['services', 5001],
    ]);
    expect(lines[0]!.msg).toBe(
      'limit reached: 3 services on probation forgotten to make room for new services (limits.maxServices, limits.serviceProbation)',
    );
    expect(lines[2]!.sinceMs).toBe(EVICTION_LOG_INTERVAL_MS + 10_000);
    const text = await metrics.registry.metrics();
    expect(text).toContain('vigil_limit_evicted_total{limit="services"} 5004');
    expect(text).toContain('vigil_limit_evicted_total{limit="metric-streams"} 2');
  });
});
