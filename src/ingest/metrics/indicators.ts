import { createHash } from 'node:crypto';
import type { MetricIndicatorSpec } from '../../contracts/telemetry.js';
import type { AttrEntry } from './attributes.js';
import { acceptedTexts, acceptsValue } from '../where.js';
import { attrValue, boundedIdentity, scalarString } from './attributes.js';

/**
 * Metric indicators (issue 16, MetricIndicatorSpec) as the metrics decoders use them: grouped by metric name (one
 * Map lookup per Metric message, so a metric no indicator names costs what it cost before), each `where` compiled
 * to a list of (key, accepted string forms).
 *
 * `where` semantics: src/ingest/where.ts (the one matcher of spans and points): every key present, on the data
 * point's attributes first, else on the resource's, with one of the accepted string forms. An attribute whose
 * value is not a scalar (array, key-value list, bytes) counts as absent there. An empty `where` matches every point.
 */
export interface CompiledIndicator {
  key: string;
  kind: MetricIndicatorSpec['kind'];
  /** Each key of `where` with its accepted string forms (src/ingest/where.ts `acceptedTexts`). */
  where: readonly (readonly [string, readonly string[]])[];
}

export class MetricIndicators {
  private readonly byMetric = new Map<string, CompiledIndicator[]>();

  constructor(specs: readonly MetricIndicatorSpec[]) {
    for (const s of specs) {
      let list = this.byMetric.get(s.metric);
      if (list === undefined) this.byMetric.set(s.metric, (list = []));
      list.push({ key: s.key, kind: s.kind, where: Object.entries(s.where).map(([k, v]) => [k, acceptedTexts(v)]) });
    }
  }

  /** The indicators of `kind` that read `metric`, or undefined. O(indicators of the metric). */
  of(metric: string, kind: MetricIndicatorSpec['kind']): CompiledIndicator[] | undefined {
    const all = this.byMetric.get(metric);
    if (all === undefined) return undefined;
    let out: CompiledIndicator[] | undefined;
    for (const c of all) if (c.kind === kind) (out ??= []).push(c);
    return out;
  }
}

/** The compiled indicators, or undefined when there are none (the decoders then read request metrics only). */
export function compileMetricIndicators(
  specs: readonly MetricIndicatorSpec[] | undefined,
): MetricIndicators | undefined {
  return specs === undefined || specs.length === 0 ? undefined : new MetricIndicators(specs);
}

/** Whether a point matches a compiled `where` (point attributes first, else resource attributes). O(keys x attrs). */
export function whereMatches(
  c: CompiledIndicator,
  point: readonly AttrEntry[],
  resource: readonly AttrEntry[],
): boolean {
  for (const [key, accepted] of c.where) {
    const own = attrValue(point, key);
    if (!acceptsValue(accepted, own === undefined ? attrValue(resource, key) : own)) return false;
  }
  return true;
}

/** The keys of the indicators a point matches, or undefined when none. */
export function matchingKeys(
  candidates: readonly CompiledIndicator[],
  point: readonly AttrEntry[],
  resource: readonly AttrEntry[],
): string[] | undefined {
  let keys: string[] | undefined;
  for (const c of candidates) if (whereMatches(c, point, resource) && !keys?.includes(c.key)) (keys ??= []).push(c.key);
  return keys;
}

/**
 * The instance a gauge point belongs to: the resource's `service.instance.id` (bounded like identities), else a
 * short stable hash of the resource identity (`#` + 12 base64url characters of the SHA-256 of ResourceInfo.key:
 * the same resource attributes give the same instance across requests and agent restarts).
 */
export function instanceKey(resource: readonly AttrEntry[], resourceKey: string): string {
  const id = scalarString(attrValue(resource, 'service.instance.id'));
  if (id !== undefined && id !== '') return boundedIdentity(id);
  return `#${createHash('sha256').update(resourceKey).digest('base64url').slice(0, 12)}`;
}
