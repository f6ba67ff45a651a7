/**
 * Plain-words advice from a service's backtest: is the false-alarm rate within alpha, how long the burn-in
 * takes at this traffic, how fast each injected regression is caught, and what to change when it is not.
 * Only facts measured by the backtest are stated; causes are offered as the likely ones.
 */
import { formatDuration } from '../config/duration.js';
import type { MetricRow, ScenarioReport, ServiceReport } from './report.js';
import type { InjectionKind } from './scenarios.js';

export interface AdviceContext {
  alpha: number;
  minSamples: number;
  intervalMs: number;
  maxDurationMs: number;
}

export function pct(x: number): string {
  const v = x * 100;
  return `${v >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(1)}%`;
}

const looksAndTime = (looks: number, ms: number) => `${looks} look${looks === 1 ? '' : 's'} (${formatDuration(ms)})`;

function mainCulprit(rows: readonly MetricRow[]): MetricRow | undefined {
  return rows.filter((m) => !m.shadow && m.alarms.count > 0).sort((a, b) => b.alarms.count - a.alarms.count)[0];
}

/** Detectors known not to be anytime-valid: their false alarms grow with the number of looks. */
const NOT_ANYTIME_VALID: ReadonlySet<string> = new Set(['kayenta-mann-whitney']);

/** Detectors that watch the latency tail (a tail-only regression leaves the geometric mean nearly unchanged). */
const TAIL_DETECTORS: ReadonlySet<string> = new Set(['latency-quantile', 'slo-guard']);

function falseAlarmAdvice(aa: ScenarioReport, requestsPerTrace: number, ctx: AdviceContext): string[] {
  const out: string[] = [];
  const r = aa.rollbacks;
  const interval = `95% interval ${pct(r.lower)}-${pct(r.upper)}`;
  if (r.lower > ctx.alpha) {
    const c = mainCulprit(aa.metrics);
    if (c && NOT_ANYTIME_VALID.has(c.detector)) {
      out.push(
        `${pct(r.rate)} false alarms (${interval}) where alpha promises at most ${pct(ctx.alpha)}: ${c.metric} raised ${pct(c.alarms.rate)}, and its detector ${c.detector} is not anytime-valid (its false alarms grow with every look). Run it with shadow: true and let an anytime-valid detector act.`,
      );
    } else {
      const from = c ? `; most came from ${c.metric} (${pct(c.alarms.rate)})` : '';
      const target = Math.max(ctx.minSamples * 4, 100);
      const traces =
        requestsPerTrace > 1.2
          ? ` This service has ~${requestsPerTrace.toFixed(1)} requests per trace: requests of one trace are not independent, which the tests assume.`
          : '';
      out.push(
        `minSamples ${ctx.minSamples} is too low for this service's traffic: ${pct(r.rate)} false alarms (${interval}) where alpha promises at most ${pct(ctx.alpha)}${from}. Raise analysis.minSamples (e.g. to ${target}) or run ${c ? c.metric : 'the metric'} with shadow: true until it is tuned, then backtest again.${traces}`,
      );
    }
  } else if (r.rate > ctx.alpha) {
    out.push(
      `${pct(r.rate)} false alarms is above alpha ${pct(ctx.alpha)} but within the noise of ${r.n} analyses (${interval}): run more --trials to tell.`,
    );
  } else if (r.upper <= ctx.alpha) {
    out.push(
      `false alarms ${pct(r.rate)} (${r.count} of ${r.n} healthy pseudo-canaries, ${interval}) are within alpha ${pct(ctx.alpha)}: this config is safe to enforce on this traffic.`,
    );
  } else {
    out.push(
      `false alarms ${pct(r.rate)} (${r.count} of ${r.n} healthy pseudo-canaries) are consistent with alpha ${pct(ctx.alpha)}, but ${r.n} analyses cannot show more (${interval}): raise --trials.`,
    );
  }
  for (const m of aa.metrics.filter((x) => x.shadow)) {
    if (m.alarms.lower > m.alpha)
      out.push(
        `shadow metric ${m.metric} would have raised ${pct(m.alarms.rate)} false alarms (its alpha share is ${pct(m.alpha)}): keep it in shadow.`,
      );
    else if (m.alarms.rate <= m.alpha)
      out.push(
        `shadow metric ${m.metric} raised ${pct(m.alarms.rate)} false alarms, within its alpha share ${pct(m.alpha)}: it can be made acting.`,
      );
  }
  return out;
}

const KIND_NOUN: Record<InjectionKind, string> = { error: 'error-rate', latency: 'latency', tail: 'tail-latency' };

function detectionAdvice(s: ScenarioReport, perLook: number, errorRate: number, ctx: AdviceContext): string {
  const r = s.rollbacks;
  const by = mainCulprit(s.metrics);
  const byWhom = by && s.metrics.filter((m) => !m.shadow).length > 1 ? `, mostly by ${by.metric}` : '';
  const l = s.looksToRollback;
  if (r.rate >= 0.8 && l) {
    return `${s.label} is caught in ${pct(r.rate)} of analyses${byWhom}: median ${looksAndTime(l.median, l.medianMs)}, p95 ${looksAndTime(l.p95, l.p95Ms)}.`;
  }
  if (r.rate >= 0.5 && l) {
    return `${s.label} is caught in only ${pct(r.rate)} of analyses within maxDuration ${formatDuration(ctx.maxDurationMs)}${byWhom}: median ${looksAndTime(l.median, l.medianMs)}.`;
  }
  const failures =
    s.injection?.kind === 'error'
      ? ` at ${pct(errorRate)} errors (~${Number((perLook * errorRate).toPrecision(2))} failed requests per look)`
      : '';
  return `the service sees ~${perLook.toFixed(perLook < 10 ? 1 : 0)} requests per look per cohort${failures}: ${s.label} will rarely be caught within maxDuration ${formatDuration(ctx.maxDurationMs)} (${pct(r.rate)} of analyses).`;
}

/** "error-rate regressions below x3 will rarely be caught", when several factors of one kind were injected. */
function thresholdAdvice(scenarios: readonly ScenarioReport[], ctx: AdviceContext): string[] {
  const out: string[] = [];
  for (const kind of ['error', 'latency', 'tail'] as const) {
    const rows = scenarios
      .filter((s) => s.injection?.kind === kind && !s.note && s.injection.factor > 1)
      .sort((a, b) => a.injection!.factor - b.injection!.factor);
    if (rows.length < 2) continue;
    const firstCaught = rows.findIndex((s) => s.rollbacks.rate >= 0.5);
    if (firstCaught <= 0) continue;
    if (rows.slice(firstCaught).some((s) => s.rollbacks.rate < 0.5)) continue;
    const below = rows[firstCaught - 1]!;
    out.push(
      `${KIND_NOUN[kind]} regressions below x${rows[firstCaught]!.injection!.factor} will rarely be caught within maxDuration ${formatDuration(ctx.maxDurationMs)} (x${below.injection!.factor}: ${pct(below.rollbacks.rate)}).`,
    );
  }
  return out;
}

export function recommend(service: Omit<ServiceReport, 'recommendations'>, ctx: AdviceContext): string[] {
  const out: string[] = [];
  const t = service.traffic;
  if (t.analysesPerTrial === 1 && t.coveredMs < ctx.maxDurationMs) {
    out.push(
      `the recording covers ${formatDuration(t.coveredMs)} of this service's traffic, less than maxDuration ${formatDuration(ctx.maxDurationMs)}: every rate here is for analyses that short; record at least ${formatDuration(ctx.maxDurationMs)} for the full picture.`,
    );
  }
  const aa = service.scenarios.find((s) => s.id === 'aa');
  if (aa) out.push(...falseAlarmAdvice(aa, t.requestsPerTrace, ctx));
  const perLook = Math.min(t.perLook.canary, t.perLook.baseline);
  const burnInLooks = Math.ceil(ctx.minSamples / Math.max(t.perLook.canary, 1e-9));
  if (burnInLooks > 1) {
    const burnInMs = burnInLooks * ctx.intervalMs;
    const tooLong =
      burnInMs * 2 > ctx.maxDurationMs
        ? `, ${burnInMs >= ctx.maxDurationMs ? 'longer than' : 'more than half of'} maxDuration: lower minSamples only if the A/A false alarms stay within alpha, or lengthen maxDuration`
        : '';
    out.push(
      `the service sees ~${t.perLook.canary.toFixed(1)} pseudo-canary and ~${t.perLook.baseline.toFixed(1)} baseline requests per look (${formatDuration(ctx.intervalMs)}): the burn-in of minSamples ${ctx.minSamples} per cohort takes ~${looksAndTime(burnInLooks, burnInMs)}${tooLong}.`,
    );
  }
  if (t.baselineErrorRate === 0 && service.scenarios.some((s) => s.injection?.kind === 'error')) {
    out.push(
      `no failed requests in this service's traffic: an error-rate regression (a multiple of 0) cannot be injected; the error-rate metric is only exercised by new failures.`,
    );
  }
  for (const s of service.scenarios) {
    if (!s.injection || s.note) continue;
    out.push(detectionAdvice(s, perLook, t.baselineErrorRate, ctx));
    const promoted = s.outcomes['promote-pass'];
    if (promoted > 0 && s.injection.factor > 1) {
      out.push(
        `${s.label}: ${promoted} of ${s.analyses} analyses PROMOTED the regressed pseudo-canary early (every acting metric passed): a regression this size would ship; check the metrics' tolerance if it matters.`,
      );
    }
    if (
      s.injection.kind === 'tail' &&
      s.rollbacks.rate < 0.5 &&
      !s.metrics.some((m) => !m.shadow && TAIL_DETECTORS.has(m.detector))
    ) {
      out.push(
        `no acting metric watches the latency tail: add one with detector latency-quantile (e.g. { name: p99, detector: latency-quantile }) to catch tail-only regressions.`,
      );
    }
  }
  out.push(...thresholdAdvice(service.scenarios, ctx));
  return out;
}
