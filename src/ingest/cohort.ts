import type { VigilConfig } from '../config/schema.js';
import type { Cohort, CohortOrUnknown } from '../contracts/telemetry.js';

/**
 * How Vigil tells canary from baseline telemetry (config `cohorts:` and `rollouts[].canaryVersion`). No
 * semantic convention exists for cohorts, so the rules are ordered and the first that matches wins
 * (OTLP.md "Version and cohort"):
 * 1. `attribute` on the span (or metric point), then on the resource (synonyms accepted, case-insensitive);
 * 2. for each key L of `podLabels`: `k8s.pod.label.<L>` (or the deprecated `k8s.pod.labels.<L>`);
 * 3. `canaryVersion`: the resource's version equal to it is the canary, every other version the baseline;
 * 4. the service's own `rollouts[].canaryVersion` (`canaryVersionByService`), the same way;
 * 5. otherwise `unknown` (kept per version, left out of comparisons).
 * The rules are applied ONCE, where a sample or a metric point is decoded (in a decode worker too: the
 * rules are plain data, structured-clone-able); its cohort is final from then on.
 */
export interface CohortRules {
  attribute: string;
  podLabels: string[];
  canaryVersion: string | null;
  /** Rule 4: the canary version of each service that names one in `rollouts:`. */
  canaryVersionByService?: ReadonlyMap<string, string>;
}

/** The cohort rules of a config: `cohorts:` and every `rollouts[].canaryVersion`. */
export function cohortRulesOf(config: Pick<VigilConfig, 'cohorts' | 'rollouts'>): CohortRules {
  const byService = new Map<string, string>();
  for (const r of config.rollouts) if (r.canaryVersion !== undefined) byService.set(r.service, r.canaryVersion);
  return {
    attribute: config.cohorts.attribute,
    podLabels: [...config.cohorts.podLabels],
    canaryVersion: config.cohorts.canaryVersion,
    ...(byService.size > 0 ? { canaryVersionByService: byService } : {}),
  };
}

export const DEFAULT_COHORT_RULES: CohortRules = Object.freeze({
  attribute: 'vigil.cohort',
  podLabels: Object.freeze(['track']) as string[],
  canaryVersion: null,
});

/** Resource attributes holding the version, in order of preference. */
export const VERSION_KEYS = [
  'service.version',
  'k8s.pod.label.app.kubernetes.io/version',
  'k8s.pod.label.version',
] as const;

const ATTRIBUTE_SYNONYMS: ReadonlyMap<string, Cohort> = new Map<string, Cohort>([
  ['canary', 'canary'],
  ['candidate', 'canary'],
  ['experiment', 'canary'],
  ['baseline', 'baseline'],
  ['control', 'baseline'],
  ['stable', 'baseline'],
  ['primary', 'baseline'],
]);

const POD_LABEL_VALUES: ReadonlyMap<string, Cohort> = new Map<string, Cohort>([
  ['canary', 'canary'],
  ['stable', 'baseline'],
  ['baseline', 'baseline'],
  ['primary', 'baseline'],
]);

function lookup(table: ReadonlyMap<string, Cohort>, value: string | undefined): Cohort | undefined {
  if (value === undefined || value === '') return undefined;
  return table.get(value) ?? table.get(value.trim().toLowerCase());
}

/** Rule 1: the value of the cohort attribute, with synonyms; `undefined` when it names no cohort. */
export function cohortFromAttribute(value: string | undefined): Cohort | undefined {
  return lookup(ATTRIBUTE_SYNONYMS, value);
}

/** Rule 2: the value of a pod label (canary | stable | baseline | primary); `undefined` otherwise. */
export function cohortFromPodLabel(value: string | undefined): Cohort | undefined {
  return lookup(POD_LABEL_VALUES, value);
}

/** The version from the three candidate attribute values (in VERSION_KEYS order); '' when none is set. */
export function pickVersion(
  serviceVersion: string | undefined,
  podAppVersion: string | undefined,
  podVersion: string | undefined,
): string {
  if (serviceVersion) return serviceVersion;
  if (podAppVersion) return podAppVersion;
  return podVersion ?? '';
}

/**
 * Rules 1 (resource part) to 5 for one resource. `podLabelValues[2i]` is `k8s.pod.label.<podLabels[i]>`,
 * `podLabelValues[2i+1]` the deprecated `k8s.pod.labels.<podLabels[i]>`. O(number of pod label keys).
 */
export function resolveResourceCohort(
  rules: CohortRules,
  service: string,
  version: string,
  cohortAttribute: string | undefined,
  podLabelValues: readonly (string | undefined)[],
): CohortOrUnknown {
  const byAttribute = cohortFromAttribute(cohortAttribute);
  if (byAttribute) return byAttribute;
  for (const value of podLabelValues) {
    const byLabel = cohortFromPodLabel(value);
    if (byLabel) return byLabel;
  }
  if (rules.canaryVersion !== null) return version === rules.canaryVersion ? 'canary' : 'baseline';
  const own = rules.canaryVersionByService?.get(service);
  if (own !== undefined) return version === own ? 'canary' : 'baseline';
  return 'unknown';
}

/** The service of a resource: `service.name`, or `unknown_service` when it is absent or empty. */
export function serviceName(name: string | undefined): string {
  return name === undefined || name === '' ? 'unknown_service' : name;
}

/** A span's cohort: its own cohort attribute when that names a cohort, else its resource's cohort. */
export function resolveSpanCohort(spanAttribute: string | undefined, resourceCohort: CohortOrUnknown): CohortOrUnknown {
  if (spanAttribute === undefined) return resourceCohort;
  return cohortFromAttribute(spanAttribute) ?? resourceCohort;
}

/**
 * Service, version and cohort of a resource given an attribute lookup; for callers that hold attributes in
 * another shape (e.g. the metrics decoder). Non-string values should be passed as their string form.
 */
export function resolveResource(
  rules: CohortRules,
  get: (key: string) => string | undefined,
): { service: string; version: string; cohort: CohortOrUnknown } {
  const service = serviceName(get('service.name'));
  const version = pickVersion(get(VERSION_KEYS[0]), get(VERSION_KEYS[1]), get(VERSION_KEYS[2]));
  const labels: (string | undefined)[] = [];
  for (const label of rules.podLabels) {
    labels.push(get(`k8s.pod.label.${label}`), get(`k8s.pod.labels.${label}`));
  }
  return { service, version, cohort: resolveResourceCohort(rules, service, version, get(rules.attribute), labels) };
}
