/**
 * A decision's report (report.ts) written as Markdown or as a self-contained HTML page. Both come from the same
 * blocks (headings, paragraphs, lists, tables, code), so they say the same thing; each writer escapes every string
 * it is given, which is where names from telemetry (services, routes, versions, metric names, connectors' details,
 * operators' reasons) end up: HTML-escaped in the page, backslash-escaped in Markdown (a `|` cannot split a table
 * cell, a `<script>` stays text, a backtick opens no code span). The page runs no script and needs nothing but its
 * inline style, as the API's Content-Security-Policy allows (SECURITY_HEADERS). Pure.
 */
import { formatProbability, formatRatio } from '../../connectors/shared/explain.js';
import type { LookMetricPoint, LookPoint } from '../analysis/analysis-types.js';
import { formatDuration } from '../config/duration.js';
import type { MetricVerdict } from '../contracts/index.js';
import type { ReportManualAction, ReportModel, ReportStep } from './report.js';

/** Text (escaped by the writer), strong text, or a link (`href` built here, from the API URL and encoded ids). */
export type Inline = string | { strong: string } | { text: string; href: string };
type Cell = Inline | Inline[];

export type Block =
  | { h: 1 | 2 | 3; text: string }
  | { p: Inline[] }
  | { list: Inline[][] }
  | { table: { head: string[]; rows: Cell[][] } }
  | { code: string };

const num = (n: number) => (Number.isFinite(n) ? n.toLocaleString('en-US') : String(n));
const prob = (p: number | undefined) => (p === undefined || !Number.isFinite(p) ? '–' : formatProbability(p));
const ratio = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '–' : formatRatio(x));
const pct = (part: number, whole: number) => (whole > 0 ? ` (${((100 * part) / whole).toFixed(1)}%)` : '');
const share = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)}%`);
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** "850 ms", "12.3 s", "3m5s". */
export function duration(ms: number): string {
  const a = Math.abs(ms);
  if (a < 1000) return `${Math.round(a)} ms`;
  if (a < 60_000) return `${(a / 1000).toFixed(1)} s`;
  return formatDuration(Math.round(a / 1000) * 1000);
}

/** "+12.3 s" after the decision, "4.0 s before" it. */
const relative = (ms: number | undefined) =>
  ms === undefined ? '–' : ms >= 0 ? `+${duration(ms)}` : `${duration(ms)} before`;

/** "1.45–3.05", "≥ 1.45" (not bounded above), "≤ 3.05", or "–" (no bound). */
function bounds(lower: number | undefined, upper: number | undefined): string {
  if (lower !== undefined && upper !== undefined) return `${ratio(lower)}–${ratio(upper)}`;
  if (lower !== undefined) return `≥ ${ratio(lower)}`;
  return upper === undefined ? '–' : `≤ ${ratio(upper)}`;
}

function metricCell(x: LookMetricPoint | undefined): string {
  if (x === undefined) return '–';
  const parts = [x.phase, `p ${prob(x.pValue)} (α ${prob(x.alpha)})`];
  const bounded = x.lower !== undefined || x.upper !== undefined;
  if (x.estimate !== undefined || bounded)
    parts.push(bounded ? `${ratio(x.estimate)} (${bounds(x.lower, x.upper)})` : ratio(x.estimate));
  return parts.join('; ');
}

function compared(m: ReportModel): Inline[][] {
  const d = m.decision;
  const items: Inline[][] = [
    [`Service: ${d.service}${d.route ? ` (route ${d.route})` : ''}`],
    [`Versions: canary ${d.canaryVersion} vs baseline ${d.baselineVersion}`],
    [`Analysis: ${d.analysis}; decision ${d.id}`],
    ['Outcome: ', { strong: d.outcome }, ` at look ${d.look} (event time ${iso(d.eventTimeUnixMs)})`],
    [
      m.decidedAt === undefined
        ? 'Decided at: unknown (its audit entry was not in the part of the audit log read)'
        : `Decided at: ${m.decidedAt}${m.ageMs === undefined ? '' : ` (${duration(m.ageMs)} ago)`}`,
    ],
  ];
  const t = m.totals;
  if (t === undefined) items.push(['Requests compared: unknown (the analysis is no longer in memory)']);
  else {
    const where =
      t.source === 'analysis' ? '' : ` (summed over the looks kept, from look ${t.firstLook ?? 1}; may be partial)`;
    items.push([
      `Requests compared: canary ${num(t.canary.requests)}, ${num(t.canary.errors)} failed${pct(t.canary.errors, t.canary.requests)}; ` +
        `baseline ${num(t.baseline.requests)}, ${num(t.baseline.errors)} failed${pct(t.baseline.errors, t.baseline.requests)}${where}`,
    ]);
  }
  if (d.used)
    items.push([`Share of requests used: canary ${share(d.used.canary)}, baseline ${share(d.used.baseline)}`]);
  if (d.late)
    items.push([
      `Late (arrived after their look closed, not compared): canary ${num(d.late.canary)}, baseline ${num(d.late.baseline)}`,
    ]);
  items.push([`Config hash: ${d.configHash}`]);
  items.push([
    d.dryRun ? 'Mode: ' : 'Mode: acting',
    ...(d.dryRun ? [{ strong: 'DRY RUN' }, ': nothing was changed'] : []),
  ]);
  if (d.test) items.push(['Test: a synthetic decision of vigil connectors test (no canary was analysed)']);
  if (d.manual)
    items.push([
      `Taken by hand: by ${d.manual.by} (token ${d.manual.token}) at ${iso(d.manual.atUnixMs)}: ${d.manual.reason}`,
    ]);
  return items;
}

function why(m: ReportModel): Block[] {
  const w = m.why;
  const deciding: Block = w.deciding.length
    ? { list: w.deciding.map((l) => [l]) }
    : { p: [`No metric decided it${m.decision.manual ? ': it was decided by hand' : ''}.`] };
  return [
    { h: 2, text: 'Why' },
    { p: [{ strong: 'Reason:' }, ` ${w.reason}`] },
    deciding,
    ...w.notes.map((n): Block => ({ p: [n] })),
    { p: [w.plan] },
  ];
}

/** The metrics of the looks, in order of first appearance, each with its threshold when it has one. */
function lookMetrics(looks: readonly LookPoint[]): { name: string; head: string }[] {
  const seen = new Map<string, string>();
  for (const l of looks)
    for (const x of l.metrics) {
      if (seen.has(x.metric)) continue;
      const notes = [
        ...(x.shadow ? ['shadow'] : []),
        ...(x.threshold === undefined ? [] : [`worse beyond ${ratio(x.threshold)}`]),
      ];
      seen.set(x.metric, notes.length ? `${x.metric} (${notes.join('; ')})` : x.metric);
    }
  return [...seen].map(([name, head]) => ({ name, head }));
}

function lookTable(looks: readonly LookPoint[]): Block {
  const metrics = lookMetrics(looks);
  return {
    table: {
      head: [
        'Look',
        'Event time',
        'Requests canary / baseline',
        'Failed canary / baseline',
        ...metrics.map((x) => x.head),
        'Outcome',
      ],
      rows: looks.map((l) => [
        String(l.look),
        iso(l.atUnixMs),
        `${num(l.requests.canary)} / ${num(l.requests.baseline)}`,
        `${num(l.errors.canary)}${pct(l.errors.canary, l.requests.canary)} / ${num(l.errors.baseline)}${pct(l.errors.baseline, l.requests.baseline)}`,
        ...metrics.map((x) => metricCell(l.metrics.find((p) => p.metric === x.name))),
        l.decided ? { strong: l.decided } : l.held ? `held: ${l.held} (paused)` : '',
      ]),
    },
  };
}

function verdictTable(verdicts: readonly MetricVerdict[]): Block {
  return {
    table: {
      head: ['Metric', 'Phase', 'p-value', 'alpha', 'Estimate', 'Bounds', 'Samples canary / baseline'],
      rows: verdicts.map((v) => [
        `${v.metric}${v.shadow ? ' (shadow)' : ''}`,
        v.phase,
        prob(v.pValue),
        prob(v.alpha),
        ratio(v.estimate),
        bounds(v.lower, v.upper),
        `${num(v.samples.canary)} / ${num(v.samples.baseline)}`,
      ]),
    },
  };
}

function evidence(m: ReportModel): Block[] {
  const out: Block[] = [{ h: 2, text: 'Evidence per look' }];
  if (m.looksNote) out.push({ p: [m.looksNote] });
  if (m.looks && m.looks.length > 0) out.push(lookTable(m.looks));
  else if (m.looks) out.push({ p: ['No look was run before the decision.'] });
  out.push({ h: 3, text: 'Verdicts at the decision' });
  out.push(
    m.decision.verdicts.length ? verdictTable(m.decision.verdicts) : { p: ['No verdict: no metric was computed.'] },
  );
  return out;
}

function stepResult(s: ReportStep): Cell {
  if (s.status === 'not run') return 'not run';
  const dry = s.dryRun ? ' (dry run)' : '';
  if (s.status === 'failed') return [{ strong: 'FAILED' }, dry];
  return `${s.changed ? 'changed' : 'already in place'}${dry}`;
}

function plan(m: ReportModel): Block[] {
  const { state, steps, note } = m.plan;
  const out: Block[] = [{ h: 2, text: 'Plan' }];
  const states = {
    none: 'No plan step: nothing was rolled back.',
    completed: `All ${steps.length} step${steps.length === 1 ? '' : 's'} done.`,
    failed: 'A step failed for good.',
    unfinished: 'Not finished.',
  };
  out.push({ p: [states[state], ...(note ? [` ${note}`] : [])] });
  if (steps.length > 0)
    out.push({
      table: {
        head: ['Step', 'Connector', 'Result', 'Answer', 'Attempt', 'Logged at', 'After the decision'],
        rows: steps.map((s) => [
          String(s.step + 1),
          s.connector,
          stepResult(s),
          s.status === 'failed'
            ? `${s.error ?? 'no detail recorded'}${s.code ? ` [${s.code}]` : ''}`
            : (s.detail ?? ''),
          s.attempt === undefined ? '' : String(s.attempt),
          s.loggedAt ?? '',
          s.status === 'not run' ? '' : relative(s.afterMs),
        ]),
      },
    });
  out.push({ h: 3, text: 'Notifications' });
  out.push(
    m.notifications.length
      ? {
          list: m.notifications.map((n) => [
            `${n.notifier} (${n.kind}) failed for good${n.attempt ? ` after ${n.attempt} attempts` : ''}${n.loggedAt ? ` at ${n.loggedAt}` : ''}: ${n.error}`,
          ]),
        }
      : { p: ['No notification failed for good (notifications that went out are not recorded in the audit log).'] },
  );
  return out;
}

function manualRow(a: ReportManualAction): Cell[] {
  return [
    a.isDecision ? [{ strong: a.action }, ' (this decision)'] : a.action,
    a.by,
    a.reason,
    a.token ?? '',
    a.at ?? '',
    relative(a.afterMs),
  ];
}

function manual(m: ReportModel): Block[] {
  return [
    { h: 2, text: 'Manual actions' },
    m.manual.length
      ? {
          table: {
            head: ['Action', 'By', 'Reason', 'Token', 'When', 'From the decision'],
            rows: m.manual.map(manualRow),
          },
        }
      : { p: ['None: nobody paused, resumed or decided this analysis by hand (in the audit entries read).'] },
  ];
}

function resume(m: ReportModel): Block[] {
  const r = m.resume;
  const out: Block[] = [{ h: 2, text: 'How to resume' }];
  if (r.note) out.push({ p: [r.note] });
  if (r.cli) out.push({ code: r.cli });
  if (r.curl) out.push({ p: ['Or with curl (a token with the operate scope):'] }, { code: r.curl });
  return out;
}

/** The report as blocks, in the order both formats show them. `apiUrl`: for the link to the decision's JSON. */
export function reportBlocks(m: ReportModel, apiUrl: string): Block[] {
  const d = m.decision;
  const json = `${apiUrl}/api/v1/decisions/${encodeURIComponent(d.id)}`;
  return [
    { h: 1, text: m.title },
    {
      p: [
        `Decision report generated at ${m.generatedAt}.`,
        ...(d.dryRun ? [' ', { strong: 'Dry run: nothing was changed.' }] : []),
      ],
    },
    { h: 2, text: 'What was compared' },
    { list: compared(m) },
    ...why(m),
    ...evidence(m),
    ...plan(m),
    ...manual(m),
    ...resume(m),
    { h: 2, text: 'Sources' },
    { list: [...m.sources.map((s) => [s]), ['The decision as JSON: ', { text: json, href: json }]] },
  ];
}

/** Markdown text: every character that could start markup is backslash-escaped; line breaks become spaces. */
export function mdEscape(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').replace(/[\\`*_[\]<>|&~#]/g, (c) => `\\${c}`);
}

function mdInline(x: Inline | Inline[]): string {
  if (Array.isArray(x)) return x.map(mdInline).join('');
  if (typeof x === 'string') return mdEscape(x);
  if ('strong' in x) return `**${mdEscape(x.strong)}**`;
  return `[${mdEscape(x.text)}](<${x.href.replace(/[<>\s]/g, encodeURIComponent)}>)`;
}

/** A fenced block whose fence is longer than any run of backticks in `text`. */
function mdFence(text: string, info: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${text}\n${fence}`;
}

function mdBlock(b: Block): string {
  if ('h' in b) return `${'#'.repeat(b.h)} ${mdEscape(b.text)}`;
  if ('p' in b) return mdInline(b.p);
  if ('list' in b) return b.list.map((item) => `- ${mdInline(item)}`).join('\n');
  if ('code' in b) return mdFence(b.code, 'sh');
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [
    row(b.table.head.map(mdEscape)),
    row(b.table.head.map(() => '---')),
    ...b.table.rows.map((r) => row(r.map(mdInline))),
  ].join('\n');
}

export function renderMarkdown(m: ReportModel, apiUrl: string): string {
  return `${reportBlocks(m, apiUrl).map(mdBlock).join('\n\n')}\n`;
}

/** HTML text: `& < > " '` as character references. */
export function htmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function htmlInline(x: Inline | Inline[]): string {
  if (Array.isArray(x)) return x.map(htmlInline).join('');
  if (typeof x === 'string') return htmlEscape(x);
  if ('strong' in x) return `<strong>${htmlEscape(x.strong)}</strong>`;
  return `<a href="${htmlEscape(x.href)}">${htmlEscape(x.text)}</a>`;
}

function htmlBlock(b: Block): string {
  if ('h' in b) return `<h${b.h}>${htmlEscape(b.text)}</h${b.h}>`;
  if ('p' in b) return `<p>${htmlInline(b.p)}</p>`;
  if ('list' in b) return `<ul>${b.list.map((item) => `<li>${htmlInline(item)}</li>`).join('')}</ul>`;
  if ('code' in b) return `<pre><code>${htmlEscape(b.code)}</code></pre>`;
  const head = b.table.head.map((h) => `<th>${htmlEscape(h)}</th>`).join('');
  const rows = b.table.rows.map((r) => `<tr>${r.map((c) => `<td>${htmlInline(c)}</td>`).join('')}</tr>`).join('\n');
  return `<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>\n${rows}\n</tbody></table></div>`;
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:80em;padding:0 1em;color:#1b1b1b}
h1{font-size:1.5em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}h3{margin-top:1.2em}
.scroll{overflow-x:auto}table{border-collapse:collapse}td,th{border-bottom:1px solid #e3e3e3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6}pre{background:#f6f6f6;padding:.8em;overflow-x:auto}
body.rollback h1{color:#a11}body.promote h1{color:#176a2c}`;

export function renderHtml(m: ReportModel, apiUrl: string): string {
  const body = reportBlocks(m, apiUrl).map(htmlBlock).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>${htmlEscape(m.title)}</title><style>${STYLE}</style></head>
<body class="${htmlEscape(m.decision.outcome)}">
${body}
</body></html>
`;
}
