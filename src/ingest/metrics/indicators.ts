import { createHash } from 'node:crypto';
import type { Where } from '../../contracts/detector.js';
import type { MetricIndicatorSpec } from '../../contracts/telemetry.js';
import type { AttrEntry } from './attributes.js';
import { attrValue, boundedIdentity, scalarString } from './attributes.js';

/**
 * Metric indicators (issue 16, MetricIndicatorSpec) as the metrics decoders use them: grouped by metric name (one
 * Map lookup per Metric message, so a metric no indicator names costs what it cost before), each `where` compiled
 * to a list of (key, accepted string forms).
 *
 * `where` semantics (the same as src/ingest/where.ts for spans, CONTRACT-16): every key must be present, on the
 * data point's attributes first, else on the resource's, and its value's string form (String(v): numbers as JS
 * prints them, booleans "true" / "false") must equal String(expected), or one of a list. An attribute whose value
 * is not a scalar (array, key-value list, bytes) counts as absent there. An empty `where` matches every point.
 */
export interface CompiledIndicator {
  key: string;
  kind: MetricIndicatorSpec['kind'];
  where: readonly (readonly [string, ReadonlySet<string>])[];
}

export class MetricIndicators {
  private readonly byMetric = new Map<string, CompiledIndicator[]>();

  constructor(specs: readonly MetricIndicatorSpec[]) {
    for (const s of specs) {
      let list = this.byMetric.get(s.metric);
      if (list === undefined) this.byMetric.set(s.metric, (list = []));
      list.push({ key: s.key, kind: s.kind, where: compileWhere(s.where) });
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

function compileWhere(where: Where): [string, ReadonlySet<string>][] {
  const out: [string, ReadonlySet<string>][] = [];
  for (const [key, expected] of Object.entries(where)) {
    const list: readonly (string | number | boolean)[] = Array.isArray(expected)
      ? (expected as readonly (string | number | boolean)[])
      : [expected as string | number | boolean];
    out.push([key, new Set(list.map((v) => String(v)))]);
  }
  return out;
}

/** Whether a point matches a compiled `where` (point attributes first, else resource attributes). O(keys x attrs). */
export function whereMatches(
  c: CompiledIndicator,
  point: readonly AttrEntry[],
  resource: readonly AttrEntry[],
): boolean {
  for (const [key, accepted] of c.where) {
    const v = scalarString(attrValue(point, key)) ?? scalarString(attrValue(resource, key));
    if (v === undefined || !accepted.has(v)) return false;
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
