import { z } from 'zod';
import type { DetectorReads, WorseDirection } from '../../src/contracts/detector.js';
import { VigilError } from '../../src/errors.js';

/**
 * Validates a detector's `options` against its zod schema (undefined/null = all defaults) and throws
 * VIGIL_ERR_DETECTOR_OPTIONS naming the metric, the detector type and the first bad option.
 */
export function parseDetectorOptions<S extends z.ZodType>(
  schema: S,
  detectorType: string,
  metricName: string,
  options: unknown,
): z.output<S> {
  const result = schema.safeParse(options ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  let option = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : '(options)';
  if (issue?.code === 'unrecognized_keys') option = issue.keys.join(', ');
  const why = issue?.message ?? 'invalid';
  throw new VigilError('VIGIL_ERR_DETECTOR_OPTIONS', [`metric ${metricName} (${detectorType}): ${option}: ${why}`], {
    details: {
      metric: metricName,
      detector: detectorType,
      option,
      issues: result.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
    },
  });
}

/** Validates the burn-in handed over by DetectorFactory.create: a finite integer >= 0. */
export function checkMinSamples(detectorType: string, metricName: string, minSamples: number): number {
  if (!(Number.isInteger(minSamples) && minSamples >= 0)) {
    throw new VigilError(
      'VIGIL_ERR_DETECTOR_OPTIONS',
      [`metric ${metricName} (${detectorType}): minSamples: must be an integer >= 0, got ${minSamples}`],
      {
        details: { metric: metricName, detector: detectorType, option: 'minSamples' },
      },
    );
  }
  return minSamples;
}

/**
 * `options.metric` of the latency detectors (issue 16): an OTLP histogram by name (queue wait, DB call duration,
 * payload size) whose observations the detector compares instead of the service's request durations; values in ms
 * when its unit is a time unit, else as they are (every latency detector compares ratios, so any positive unit works).
 */
export const histogramMetricOption = z.string().min(1).optional();

/** Detector.reads of a detector with `histogramMetricOption`: the named histogram, or undefined (requests). */
export function histogramReads(o: { metric?: string | undefined }): DetectorReads | undefined {
  return o.metric === undefined ? undefined : { kind: 'histogram', metric: o.metric };
}

const whereValue = z.union([z.string(), z.number(), z.boolean()]);

/**
 * A `where:` attribute filter (src/contracts/detector.ts `Where`): attribute keys to a value, or to a non-empty list
 * of values (any of them). Shared by the config's `analysis.metrics[].where` and the detectors' own filters.
 */
export const whereOption = z
  .record(z.string().min(1), z.union([whereValue, z.array(whereValue).min(1)]))
  .refine((w) => Object.keys(w).length > 0, { message: 'where needs at least one attribute (or leave it out)' });

/**
 * The null ratio of a detector configured with a direction (`worse`) and a `tolerance`: 1 + tolerance when higher is
 * worse, 1 - tolerance when lower is worse. Its Detector.threshold, and the r0 its test starts from.
 */
export function directedThreshold(o: { worse: WorseDirection; tolerance: number }): number {
  return o.worse === 'lower' ? 1 - o.tolerance : 1 + o.tolerance;
}
