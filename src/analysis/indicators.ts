/**
 * Indicators (issue 16): what a configured metric reads when it is not the service's requests as a whole, compiled
 * once from the config into (1) the specs the decoders and metrics ingestion fill (`CohortBatch.indicators[key]`) and
 * (2) per metric, how the look runner turns a look's evidence into that detector's input (`projectLook`).
 *
 * - A request detector (error-rate, latency…) with `where:` reads the requests that match: request spans whose
 *   attributes match (`source: spans`), points of the request-duration histograms whose attributes match
 *   (`source: metrics`), or per look the one of the two `auto` would choose (`auto`), or their sum (`both`).
 * - A detector that names an OTLP histogram (`options.metric` of a latency detector) reads its observations.
 * - `gauge-sequential` reads per-instance levels of a gauge or UpDownCounter; `ratio-sequential` reads two counters
 *   (OTLP monotonic sums, or request spans matching a `where`).
 * Keys are the metric's name (`name`, `name#metrics`, `name#numerator`, `name#denominator`): a config change that
 * renames a metric changes the analysis hash, so a checkpoint never mixes two meanings of one key.
 * Pure: no clock, no I/O.
 */
import type {
  CohortBatch,
  CohortPair,
  CounterSelector,
  DetectorReads,
  MetricIndicatorSpec,
  SpanIndicatorSpec,
  Where,
} from '../contracts/index.js';
import { REQUEST_DURATION_METRICS, whereText } from '../contracts/index.js';
import { emptyBatch, emptyPair, mergeBatch } from '../evidence/cohort-batch.js';
import type { EvidenceSource } from './evidence-source.js';
import { selectEvidence } from './evidence-source.js';

/**
 * How one metric's detector input is built from a look's evidence. `otlp`: what it reads, for messages
 * (`checkout.completed per checkout.started`); `none`: the words after "no" when nothing arrived
 * (`process.memory.usage points`).
 */
export type Projection = { otlp: string; none: string } &
  /** requests matching a `where`: the span indicator and/or the request-histogram indicator, chosen like `source`. */
  (
    | { kind: 'requests'; source: EvidenceSource; spans?: string; metrics?: string }
    /** one indicator's batch as it is (a named histogram; a gauge's instance cells). */
    | { kind: 'batch'; key: string }
    /** two counters → `ratio` counts. */
    | { kind: 'ratio'; numerator: string; denominator: string }
  );

export interface CompiledIndicators {
  spans: SpanIndicatorSpec[];
  metrics: MetricIndicatorSpec[];
  /** Per configured metric (same order), its projection; undefined for the service's requests as a whole. */
  byMetric: (Projection | undefined)[];
}

/** A configured metric as the compiler needs it. */
export interface IndicatorSource {
  name: string;
  source?: EvidenceSource;
  where?: Where;
  reads?: DetectorReads;
}

/** `a` and `b` both (a key in both: b wins; the config check refuses such a conflict before it gets here). */
function andWhere(a: Where | undefined, b: Where | undefined): Where {
  return { ...a, ...b };
}

/** What a counter selector reads, for messages: `checkout.completed` or `request spans (cache.hit=false)`. */
export function counterText(c: CounterSelector): string {
  const where = whereText(c.where);
  const what = 'metric' in c ? c.metric : 'request spans';
  return where === '' ? what : `${what} (${where})`;
}

export function compileIndicators(metrics: readonly IndicatorSource[]): CompiledIndicators {
  const out: CompiledIndicators = { spans: [], metrics: [], byMetric: [] };
  const counter = (key: string, c: CounterSelector, where: Where | undefined): void => {
    if ('metric' in c) out.metrics.push({ key, kind: 'counter', metric: c.metric, where: andWhere(where, c.where) });
    else out.spans.push({ key, where: andWhere(where, c.where) });
  };
  for (const m of metrics) {
    const r = m.reads;
    if (r === undefined) {
      if (m.where === undefined || Object.keys(m.where).length === 0) {
        out.byMetric.push(undefined);
        continue;
      }
      const source = m.source ?? 'auto';
      const filter = whereText(m.where);
      const p: Projection = { kind: 'requests', source, otlp: `requests (${filter})`, none: `requests with ${filter}` };
      if (source !== 'metrics') {
        p.spans = m.name;
        out.spans.push({ key: m.name, where: m.where });
      }
      if (source !== 'spans') {
        p.metrics = `${m.name}#metrics`;
        for (const metric of REQUEST_DURATION_METRICS)
          out.metrics.push({ key: p.metrics, kind: 'histogram', metric, where: m.where });
      }
      out.byMetric.push(p);
    } else if (r.kind === 'ratio') {
      const numerator = `${m.name}#numerator`;
      const denominator = `${m.name}#denominator`;
      counter(numerator, r.numerator, m.where);
      counter(denominator, r.denominator, m.where);
      out.byMetric.push({
        kind: 'ratio',
        numerator,
        denominator,
        otlp: `${counterText(r.numerator)} per ${counterText(r.denominator)}`,
        none: `${counterText(r.numerator)} or ${counterText(r.denominator)} points`,
      });
    } else {
      const where = andWhere(m.where, r.where);
      out.metrics.push({ key: m.name, kind: r.kind, metric: r.metric, where });
      const filter = whereText(where);
      const otlp = filter === '' ? r.metric : `${r.metric} (${filter})`;
      out.byMetric.push({ kind: 'batch', key: m.name, otlp, none: `${otlp} points` });
    }
  }
  return out;
}

/** The indicator `key` of both cohorts in a look's pair (empty batches when absent); undefined without a pair. */
function pairOf(p: CohortPair | undefined, key: string): CohortPair {
  return {
    baseline: p?.baseline.indicators?.[key] ?? emptyBatch(),
    canary: p?.canary.indicators?.[key] ?? emptyBatch(),
  };
}

/** An indicator's batches, wherever the look's evidence holds them (span buckets or metric buckets). */
function indicatorPair(key: string, spans: CohortPair, metrics: CohortPair | undefined): CohortPair {
  const inSpans = spans.baseline.indicators?.[key] !== undefined || spans.canary.indicators?.[key] !== undefined;
  const inMetrics =
    metrics?.baseline.indicators?.[key] !== undefined || metrics?.canary.indicators?.[key] !== undefined;
  if (inSpans && !inMetrics) return pairOf(spans, key);
  if (!inSpans) return pairOf(metrics, key);
  const sum = emptyPair();
  for (const from of [pairOf(spans, key), pairOf(metrics, key)]) {
    mergeBatch(sum.baseline, from.baseline);
    mergeBatch(sum.canary, from.canary);
  }
  return sum;
}

function ratioBatch(numerator: CohortBatch, denominator: CohortBatch): CohortBatch {
  return { ...emptyBatch(), ratio: { numerator: numerator.requests, denominator: denominator.requests } };
}

/** A metric's input for one look: what its detector sees as `batch`. O(size of the indicator batches). */
export function projectLook(p: Projection, spans: CohortPair, metrics: CohortPair | undefined): CohortPair {
  switch (p.kind) {
    case 'requests': {
      const fromSpans = p.spans === undefined ? emptyPair() : indicatorPair(p.spans, spans, metrics);
      const fromMetrics = p.metrics === undefined ? undefined : indicatorPair(p.metrics, spans, metrics);
      return selectEvidence(p.source, fromSpans, fromMetrics);
    }
    case 'batch':
      return indicatorPair(p.key, spans, metrics);
    default: {
      const num = indicatorPair(p.numerator, spans, metrics);
      const den = indicatorPair(p.denominator, spans, metrics);
      return { baseline: ratioBatch(num.baseline, den.baseline), canary: ratioBatch(num.canary, den.canary) };
    }
  }
}

/** Whether a metric's input for a look holds any evidence from either cohort (a point, a request, an event). */
export function hasEvidence(pair: CohortPair): boolean {
  const any = (b: CohortBatch): boolean =>
    b.requests > 0 ||
    (b.ratio !== undefined && b.ratio.numerator + b.ratio.denominator > 0) ||
    (b.instances !== undefined && Object.keys(b.instances).length > 0);
  return any(pair.baseline) || any(pair.canary);
}
