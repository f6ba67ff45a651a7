/**
 * What `kubectl rollout undo` knows about Deployments and their ReplicaSets (kubectl
 * pkg/polymorphichelpers/rollback.go), as plain functions over the API's JSON.
 */

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { containers?: { name?: string; image?: string }[] };
}

export interface KubeMeta {
  name?: string;
  uid?: string;
  annotations?: Record<string, string>;
  ownerReferences?: { uid?: string; controller?: boolean }[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface Deployment {
  metadata?: KubeMeta;
  spec?: { paused?: boolean; replicas?: number; selector?: LabelSelector; template?: PodTemplate };
}

export interface ReplicaSet {
  metadata?: KubeMeta;
  spec?: { template?: PodTemplate };
}

/** The label the Deployment controller adds to each ReplicaSet's template; never part of a comparison. */
export const POD_TEMPLATE_HASH = 'pod-template-hash';
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';

/** Deployment annotations kubectl keeps from the Deployment instead of copying them from the ReplicaSet. */
export const ANNOTATIONS_TO_SKIP: ReadonlySet<string> = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION_ANNOTATION,
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
]);

/** The selector as the `labelSelector` query parameter (matchLabels and matchExpressions, ANDed). */
export function selectorString(sel: LabelSelector | undefined): string {
  const parts = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else throw new Error(`unknown label selector operator ${e.operator}`);
  }
  return parts.join(',');
}

/** Whether the ReplicaSet's controller owner is this Deployment (metav1.IsControlledBy). */
export function controlledBy(rs: ReplicaSet, deployment: Deployment): boolean {
  const uid = deployment.metadata?.uid;
  return uid !== undefined && (rs.metadata?.ownerReferences ?? []).some((o) => o.controller === true && o.uid === uid);
}

export function revisionOf(rs: ReplicaSet): number {
  const n = Number(rs.metadata?.annotations?.[REVISION_ANNOTATION]);
  return Number.isInteger(n) ? n : -1;
}

/**
 * Drops what apimachinery's semantic equality does not distinguish from absence (null, empty maps and
 * lists), sorting keys, so two templates compare by value the way `equalIgnoreHash` compares them.
 */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const c = canonical((v as Record<string, unknown>)[k]);
      const empty =
        c === null ||
        c === undefined ||
        (Array.isArray(c) && c.length === 0) ||
        (typeof c === 'object' && !Array.isArray(c) && Object.keys(c).length === 0);
      if (!empty) out[k] = c;
    }
    return out;
  }
  return v;
}

/** The template without the pod-template-hash label (what kubectl patches back into the Deployment). */
export function withoutHash(t: PodTemplate | undefined): PodTemplate {
  const copy = structuredClone(t ?? {});
  if (copy.metadata?.labels) delete copy.metadata.labels[POD_TEMPLATE_HASH];
  return copy;
}

/** kubectl's equalIgnoreHash: equal pod templates once the pod-template-hash label is ignored. */
export function equalIgnoreHash(a: PodTemplate | undefined, b: PodTemplate | undefined): boolean {
  return JSON.stringify(canonical(withoutHash(a))) === JSON.stringify(canonical(withoutHash(b)));
}

/** The Deployment annotations after the rollback, computed as kubectl computes them. */
export function rollbackAnnotations(deployment: Deployment, rs: ReplicaSet): Record<string, string> {
  const out: Record<string, string> = {};
  const current = deployment.metadata?.annotations ?? {};
  for (const k of ANNOTATIONS_TO_SKIP) if (current[k] !== undefined) out[k] = current[k];
  for (const [k, v] of Object.entries(rs.metadata?.annotations ?? {})) if (!ANNOTATIONS_TO_SKIP.has(k)) out[k] = v;
  return out;
}

/** The tag of an image reference (`registry:5000/shop/app:1.4.2@sha256:…` → `1.4.2`), or undefined. */
export function imageTag(image: string): string | undefined {
  const noDigest = image.split('@')[0]!;
  const lastSlash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > lastSlash ? noDigest.slice(colon + 1) : undefined;
}

/** Where a template's version is read: a pod label, or the image tag of a named container. */
export type VersionSource = { label: string } | { container: string };

export function versionOf(t: PodTemplate | undefined, source: VersionSource): string | undefined {
  if ('label' in source) return t?.metadata?.labels?.[source.label];
  const c = (t?.spec?.containers ?? []).find((x) => x.name === source.container);
  return c?.image === undefined ? undefined : imageTag(c.image);
}
