import type { z } from 'zod';
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
