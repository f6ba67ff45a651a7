/**
 * Names of the metrics on /metrics: prom-client's default metrics appear once prefixed (`vigil_process_*` for the
 * OS process, `vigil_nodejs_*` for the runtime), never as `vigil_process_process_*` or `vigil_process_nodejs_*`.
 */
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/http/metrics.js';

/** Metric family names of a Prometheus text exposition (from its `# TYPE` lines). */
function families(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('# TYPE '))
    .map((l) => l.split(' ')[2]!);
}

describe('Vigil metrics registry', () => {
  it('exposes the default process metrics as vigil_process_* and the runtime ones as vigil_nodejs_*, each once', async () => {
    const names = families(await createMetrics().registry.metrics());
    expect(names).toEqual(
      expect.arrayContaining([
        'vigil_process_cpu_user_seconds_total',
        'vigil_process_cpu_system_seconds_total',
        'vigil_process_cpu_seconds_total',
        'vigil_process_start_time_seconds',
        'vigil_process_resident_memory_bytes',
        'vigil_nodejs_eventloop_lag_p99_seconds',
        'vigil_nodejs_heap_size_used_bytes',
        'vigil_nodejs_gc_duration_seconds',
        'vigil_nodejs_version_info',
      ]),
    );
    for (const name of names) {
      expect(name).toMatch(/^vigil_/);
      expect(name).not.toMatch(/process_process|vigil_process_nodejs|nodejs_nodejs|vigil_vigil/);
    }
    expect(new Set(names).size).toBe(names.length);
  });

  it('has no default metrics when asked not to, and the same Vigil metrics either way', async () => {
    const without = families(await createMetrics({ defaultMetrics: false }).registry.metrics());
    expect(without.filter((n) => /^vigil_(process|nodejs)_/.test(n))).toEqual([]);
    expect(without).toEqual(
      expect.arrayContaining(['vigil_jobs_total', 'vigil_queue_jobs', 'vigil_queue_lag_seconds']),
    );
  });
});
