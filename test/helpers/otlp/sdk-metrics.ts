import type { Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  AggregationType,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';

/**
 * Real OpenTelemetry SDK metrics for tests: a MeterProvider with a reader the test collects on demand, so
 * tests hold the SDK's own ResourceMetrics (and can serialise them with the SDK's serializers).
 */
export class CollectingReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export interface SdkHistogramSpec {
  name: string;
  unit: string;
  /** Explicit bucket boundaries (advice); undefined: exponential aggregation. */
  bounds?: number[];
  records: { value: number; attributes: Attributes }[];
}

export interface SdkMetricsSpec {
  resource: Attributes;
  temporality: 'cumulative' | 'delta';
  histograms: SdkHistogramSpec[];
  /** A counter and a gauge Vigil ignores. */
  noise?: boolean;
}

/** Records the spec with a fresh MeterProvider and returns what one collection exports. */
export async function collectSdkMetrics(spec: SdkMetricsSpec): Promise<ResourceMetrics> {
  const temporality = spec.temporality === 'delta' ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
  const exponential = new Set(spec.histograms.filter((h) => h.bounds === undefined).map((h) => h.name));
  const reader = new CollectingReader({ aggregationTemporalitySelector: () => temporality });
  const provider = new MeterProvider({
    resource: resourceFromAttributes(spec.resource),
    readers: [reader],
    views: [...exponential].map((instrumentName) => ({
      instrumentName,
      aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM },
    })),
  });
  const meter = provider.getMeter('@test/instrumentation', '1.2.3');
  for (const h of spec.histograms) {
    const hist = meter.createHistogram(h.name, {
      unit: h.unit,
      ...(h.bounds ? { advice: { explicitBucketBoundaries: h.bounds } } : {}),
    });
    for (const r of h.records) hist.record(r.value, r.attributes);
  }
  if (spec.noise) {
    meter.createCounter('app.orders.placed').add(3, { shop: 'a' });
    meter.createGauge('app.queue.depth').record(7);
  }
  const { resourceMetrics, errors } = await reader.collect();
  if (errors.length > 0) throw new Error(`collect failed: ${String(errors[0])}`);
  await provider.shutdown();
  return resourceMetrics;
}
