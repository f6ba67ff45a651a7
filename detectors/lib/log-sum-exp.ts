/**
 * log(sum_i exp(a_i)) without overflow: max + log(sum exp(a_i - max)). Empty input gives -Infinity (the log of
 * an empty sum); all -Infinity gives -Infinity; any +Infinity gives +Infinity. Complexity O(n).
 */
export function logSumExp(values: readonly number[]): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) if (v > max) max = v;
  if (max === Number.NEGATIVE_INFINITY || max === Number.POSITIVE_INFINITY) return max;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/**
 * log(sum_i w_i exp(a_i)) for nonnegative weights given as logs: logSumExp(logW_i + a_i).
 * Complexity O(n).
 */
export function logWeightedSumExp(logWeights: readonly number[], values: readonly number[]): number {
  if (logWeights.length !== values.length) throw new RangeError('logWeightedSumExp: length mismatch');
  const terms = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) terms[i] = (logWeights[i] as number) + (values[i] as number);
  return logSumExp(terms);
}
