import type { VigilConfig } from '../config/schema.js';
import type { Cohort, CohortOrUnknown, SpanIndicatorSpec } from '../contracts/telemetry.js';
import { DEFAULT_MAX_NAME_BYTES, cutString, fitsBytes } from './bounded-text.js';

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
  /**
   * `limits.maxNameLength` (UTF-8 bytes; default DEFAULT_MAX_NAME_BYTES), applied by the decoders with the
   * rules (bounded-text.ts): a longer service name is refused, a longer version or route is cut. The
   * canary versions above are already in their cut form.
   */
  maxNameBytes?: number;
  /**
   * Span indicators (issue 16, from `analysis.metrics[]` with `source: spans` and `where`, and `ratio-sequential`
   * counters over spans): the decoders mark each request sample with the keys whose `where` it matches
   * (RequestSample.indicators). Absent or empty: no attribute beyond the usual ones is read.
   */
  spanIndicators?: readonly SpanIndicatorSpec[];
}

/** The cohort rules of a config: `cohorts:`, every `rollouts[].canaryVersion` and `limits.maxNameLength`, with the
 *  span indicators its metrics read (src/analysis/settings.ts `indicatorsOf`). */
export function cohortRulesOf(
  config: Pick<VigilConfig, 'cohorts' | 'rollouts'> & { limits?: Pick<VigilConfig['limits'], 'maxNameLength'> },
  spanIndicators: readonly SpanIndicatorSpec[] = [],
): CohortRules {
  const max = config.limits?.maxNameLength ?? DEFAULT_MAX_NAME_BYTES;
  const byService = new Map<string, string>();
  for (const r of config.rollouts) {
    if (r.canaryVersion !== undefined) byService.set(r.service, cutString(r.canaryVersion, max));
  }
  const canaryVersion = config.cohorts.canaryVersion;
  return {
    attribute: config.cohorts.attribute,
    podLabels: [...config.cohorts.podLabels],
    canaryVersion: canaryVersion === null ? null : cutString(canaryVersion, max),
    ...(byService.size > 0 ? { canaryVersionByService: byService } : {}),
    ...(max !== DEFAULT_MAX_NAME_BYTES ? { maxNameBytes: max } : {}),
    ...(spanIndicators.length > 0 ? { spanIndicators } : {}),
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

/** What a resource's attributes say: its service, version and cohort, and whether a value was too long. */
export interface ResourceFacts {
  service: string;
  version: string;
  cohort: CohortOrUnknown;
  /** `service.name` is longer than the limit (rules.maxNameBytes): the resource's telemetry is refused. */
  serviceTooLong?: true;
  /** The version was longer than the limit and is in its cut form. */
  versionCut?: true;
}

/**
 * Service, version and cohort of a resource given an attribute lookup; for callers that hold attributes in
 * another shape (e.g. the metrics decoder). Non-string values should be passed as their string form. Values
 * longer than the limit are treated as the span decoders treat them (bounded-text.ts).
 */
export function resolveResource(rules: CohortRules, get: (key: string) => string | undefined): ResourceFacts {
  const max = rules.maxNameBytes ?? DEFAULT_MAX_NAME_BYTES;
  const fit = (v: string | undefined): string | undefined => (v === undefined || fitsBytes(v, max) ? v : undefined);
  const name = get('service.name');
  const serviceTooLong = name !== undefined && !fitsBytes(name, max);
  const service = serviceTooLong ? '' : serviceName(name);
  const whole = pickVersion(get(VERSION_KEYS[0]), get(VERSION_KEYS[1]), get(VERSION_KEYS[2]));
  const version = cutString(whole, max);
  const labels: (string | undefined)[] = [];
  for (const label of rules.podLabels) {
    labels.push(fit(get(`k8s.pod.label.${label}`)), fit(get(`k8s.pod.labels.${label}`)));
  }
  const cohort = resolveResourceCohort(rules, service, version, fit(get(rules.attribute)), labels);
  const facts: ResourceFacts = { service, version, cohort };
  if (serviceTooLong) facts.serviceTooLong = true;
  if (version !== whole) facts.versionCut = true;
  return facts;
}
