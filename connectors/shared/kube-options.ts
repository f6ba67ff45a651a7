import { z } from 'zod';
import { timeoutMsOption } from './options.js';

/**
 * A Kubernetes object name (DNS-1123 subdomain: lower-case alphanumerics, '-' and '.', at most 253). Names
 * go into request paths, so anything else is refused at config load rather than escaped at run time.
 */
export function kubeName(what: string) {
  return z
    .string({ error: (iss) => (iss.input === undefined ? `is required: ${what}` : `must be a string: ${what}`) })
    .max(253, { error: 'must be at most 253 characters (a Kubernetes object name)' })
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, {
      error: `must be a Kubernetes object name (lower-case letters, digits, '-' and '.'): ${what}`,
    });
}

/** A namespace (DNS-1123 label, at most 63 characters), default "default". */
export const namespaceOption = z
  .string({ error: 'must be a string: the namespace of the object' })
  .max(63, { error: 'must be at most 63 characters (a Kubernetes namespace)' })
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, {
    error: "must be a Kubernetes namespace (lower-case letters, digits and '-')",
  })
  .default('default');

/** The options every Kubernetes connector shares. */
export const kubeConnectionShape = {
  kubeconfig: z
    .string({
      error: 'must be a string: the path of a kubeconfig file (omit it to use the in-cluster service account)',
    })
    .min(1, { error: 'is empty: omit it to use the in-cluster service account' })
    .optional(),
  context: z
    .string({ error: 'must be a string: a context name of the kubeconfig' })
    .min(1, { error: 'is empty: omit it to use the kubeconfig current-context' })
    .optional(),
  namespace: namespaceOption,
  timeoutMs: timeoutMsOption,
};

/** `context` only makes sense with a kubeconfig file; the in-cluster account has none. */
export function contextNeedsKubeconfig(
  o: { kubeconfig?: string | undefined; context?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if (o.context !== undefined && o.kubeconfig === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['context'],
      message: 'needs options.kubeconfig: the in-cluster service account has no contexts',
    });
  }
}
