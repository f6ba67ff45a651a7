/** The human form of a backtest report: a header, one table per service, then its recommendations. */
import { formatDuration } from '../config/duration.js';
import { pct } from './recommend.js';
import type { BacktestReport, ServiceReport } from './report.js';
import type { LookStats, Rate } from './tally.js';

const num = (n: number) => n.toLocaleString('en-US');
const ms = (x: number) => (x >= 100 ? `${x.toFixed(0)} ms` : `${Number(x.toPrecision(3))} ms`);

function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => `  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}`.trimEnd());
}

function rateCells(r: Rate): string[] {
  return [`${r.count}/${r.n}`, pct(r.rate), `${pct(r.lower)}-${pct(r.upper)}`];
}

function lookCells(l: LookStats | null): string[] {
  if (!l) return ['', '', '', ''];
  return [String(l.median), String(l.p95), formatDuration(l.medianMs), formatDuration(l.p95Ms)];
}

function serviceHeader(s: ServiceReport, report: BacktestReport): string {
  const t = s.traffic;
  const what = t.source === 'baseline' ? 'baseline traffic' : 'all traffic (cohorts unknown)';
  const windows =
    t.analysesPerTrial === 1
      ? `1 analysis of ${formatDuration(t.coveredMs)} per trial`
      : `${t.analysesPerTrial} analyses of ${formatDuration(report.config.maxDurationMs)} per trial`;
  const shareFrom = {
    config: 'from rollouts[].expectedCanaryShare',
    option: 'from --canary-share',
    recording: 'as in the recording',
    default: 'no canary in the recording',
  }[t.canaryShareSource];
  return [
    `${s.service}: ${what} split by trace id, ${num(t.requests)} requests over ${formatDuration(t.coveredMs)} (${windows})`,
    `  pseudo-canary share ${pct(t.canaryShare)} (${shareFrom}): ~${t.perLook.canary.toFixed(1)} canary / ~${t.perLook.baseline.toFixed(1)} baseline requests per look; errors ${pct(t.baselineErrorRate)}, latency median ${ms(t.medianMs)}, p95 ${ms(t.p95Ms)}`,
  ].join('\n');
}

export function formatServiceTable(s: ServiceReport): string[] {
  const rows: string[][] = [
    ['scenario', 'metric', 'rollbacks', 'rate', '95% interval', 'looks: median', 'p95', 'time: median', 'p95'],
  ];
  for (const sc of s.scenarios) {
    if (sc.note) {
      rows.push([sc.label, `(${sc.note})`]);
      continue;
    }
    rows.push([sc.label, '(any)', ...rateCells(sc.rollbacks), ...(sc.injection ? lookCells(sc.looksToRollback) : [])]);
    for (const m of sc.metrics) {
      rows.push([
        '',
        `${m.metric}${m.shadow ? ' (shadow)' : ''}`,
        ...rateCells(m.alarms),
        ...(sc.injection ? lookCells(m.looksToAlarm) : []),
      ]);
    }
  }
  return table(rows);
}

export function formatReport(report: BacktestReport): string {
  const c = report.config;
  const metrics = c.metrics.map((m) => `${m.metric}${m.shadow ? ' (shadow)' : ''} (alpha ${pct(m.alpha)})`).join(', ');
  const i = report.input;
  const scenarios = report.pipelines / Math.max(1, report.options.trials);
  const lines = [
    `vigil backtest: ${c.file} (config hash ${c.hash}): alpha ${pct(c.alpha)}, a look every ${formatDuration(c.intervalMs)}, minSamples ${c.minSamples}, maxDuration ${formatDuration(c.maxDurationMs)}; metrics ${metrics}`,
    `input: ${i.files} file(s), ${num(i.lines)} lines (${i.badLines} undecodable), ${num(i.spans)} spans, ${num(i.samples)} requests; ${report.options.trials} trials x ${scenarios} scenarios, seed ${report.options.seed}`,
  ];
  if (i.samplesWithoutTraceId > 0)
    lines.push(`note: ${num(i.samplesWithoutTraceId)} requests had no trace id; each was split on its own`);
  for (const s of report.services) {
    lines.push('', serviceHeader(s, report), '', ...formatServiceTable(s), '', '  recommendations:');
    for (const r of s.recommendations) lines.push(`  - ${r}`);
  }
  for (const sk of report.skipped) lines.push('', `${sk.service}: skipped (${sk.reason})`);
  if (report.services.length === 0) lines.push('', 'no service had enough traffic to backtest');
  return lines.join('\n');
}
