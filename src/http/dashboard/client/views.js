// @ts-check
/**
 * What the dashboard shows, as trees (plot.js's { t, a, c }) built from the JSON API's answers: the list of analyses,
 * and per analysis its summary, its plots over looks, its decision and its verdicts. Pure (the time is passed in):
 * dashboard.js renders the trees; the unit tests read them. Every name from telemetry is a text child or an
 * attribute value, never markup.
 */
import { chart, clock, h, num, pnum } from './plot.js';

/**
 * @typedef {import('./plot.js').VNode} VNode
 * @typedef {import('./plot.js').Line} Line
 * @typedef {import('./plot.js').Marker} Marker
 * @typedef {import('../../../analysis/analysis-types.js').AnalysisSnapshot} Analysis
 * @typedef {import('../../../analysis/analysis-types.js').LookPoint} LookPoint
 * @typedef {import('../../../contracts/index.js').Decision} Decision
 * @typedef {import('../../../decide/report.js').ReportStep} PlanStep
 */

/** @param {number | null | undefined} share */
export const percent = (share) => (share === null || share === undefined ? '–' : `${(share * 100).toFixed(1)}%`);

/** How long ago, in words a person reads at a glance. @param {number} ms */
export function ago(ms) {
  const sec = Math.max(0, Math.round(ms / 1000));
  if (sec < 60) return `${sec} s`;
  const min = Math.floor(sec / 60);
  if (min < 60) return `${min} min`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `${hours} h ${min % 60} min`;
  return `${Math.floor(hours / 24)} d`;
}

/** @param {string} phase @param {string} [text] */
const badge = (phase, text = phase) => h('span', { class: `badge ${phase}` }, text);

/** @param {Analysis} a */
const pausedBadge = (a) =>
  a.paused ? h('span', { class: 'badge paused', title: `by ${a.paused.by}: ${a.paused.reason}` }, 'paused') : null;

/** The dashboard's page of one analysis. @param {string} id */
export const analysisHref = (id) => `/analyses/${encodeURIComponent(id)}`;

const COLUMNS = ['phase', 'service', 'canary vs baseline', 'age', 'look', 'requests', 'used', 'last decision', 'why'];

/**
 * The analyses, newest first, one row each (coloured by phase), or the empty state.
 * @param {Analysis[]} analyses @param {Decision[]} decisions @param {number} now
 */
export function listView(analyses, decisions, now) {
  if (analyses.length === 0)
    return h(
      'div',
      { class: 'analyses empty' },
      'No analysis yet: Vigil starts one when a service shows both a canary and a baseline cohort.',
    );
  const byId = new Map(decisions.map((d) => [d.id, d]));
  const rows = [...analyses]
    .sort((x, y) => y.startedAtUnixMs - x.startedAtUnixMs)
    .map((a) => listRow(a, a.decisionId === undefined ? undefined : byId.get(a.decisionId), now));
  return h(
    'table',
    { class: 'analyses' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        COLUMNS.map((c) => h('th', {}, c)),
      ),
    ),
    h('tbody', {}, rows),
  );
}

/**
 * The last rollback drill of each service (`GET /api/v1/drills`): "checkout: last drill 3 d ago, passed in 0.1 s";
 * nothing when no drill was recorded.
 * @param {{ service: string, passed: boolean, durationMs: number, atUnixMs: number, target: string, failures: string[] }[]} drills
 * @param {number} now
 */
export function drillsView(drills, now) {
  if (drills.length === 0) return h('div', { class: 'drills empty' });
  return h(
    'ul',
    { class: 'drills' },
    drills.map((d) =>
      h(
        'li',
        { class: d.passed ? 'passed' : 'failed', title: d.failures.join('\n') },
        `${d.service}: last drill ${ago(now - d.atUnixMs)} ago, `,
        badge(d.passed ? 'promote' : 'rollback', d.passed ? 'passed' : 'FAILED'),
        ` in ${(d.durationMs / 1000).toFixed(1)} s${d.target === 'live' ? ' (live)' : ''}`,
      ),
    ),
  );
}

/** @param {Analysis} a @param {Decision | undefined} d @param {number} now */
function listRow(a, d, now) {
  const late = a.late.canary + a.late.baseline > 0;
  return h(
    'tr',
    { class: a.phase, 'data-analysis': a.id },
    h('td', { class: 'phase' }, badge(a.phase), ' ', pausedBadge(a)),
    h('td', { class: 'service' }, h('a', { href: analysisHref(a.id) }, a.service)),
    h('td', { class: 'versions' }, versions(a)),
    h('td', { class: 'age num', title: new Date(a.startedAtUnixMs).toISOString() }, ago(now - a.startedAtUnixMs)),
    h('td', { class: 'look num' }, String(a.look)),
    h(
      'td',
      { class: 'requests num' },
      `${a.totals.canary.requests} / ${a.totals.baseline.requests}`,
      h('div', { class: 'small' }, `errors ${a.totals.canary.errors} / ${a.totals.baseline.errors}`),
    ),
    h(
      'td',
      { class: 'used num' },
      `${percent(a.used.canary)} / ${percent(a.used.baseline)}`,
      late ? h('div', { class: 'small' }, `late: ${a.late.canary} / ${a.late.baseline}`) : null,
    ),
    h('td', { class: 'decision' }, lastDecision(a, d)),
    h('td', { class: 'why' }, a.why),
  );
}

/** @param {Analysis} a */
const versions = (a) => [
  h('span', { class: 'c-canary' }, a.canaryVersion),
  ' vs ',
  h('span', { class: 'c-baseline' }, a.baselineVersion),
];

/** @param {Analysis} a @param {Decision | undefined} d */
function lastDecision(a, d) {
  if (a.decisionId === undefined) return '–';
  return [
    badge(d?.outcome ?? a.phase),
    d ? ` look ${d.look}` : '',
    d?.manual ? h('div', { class: 'small' }, `by hand: ${d.manual.by}`) : null,
  ];
}

/** A fact of the summary: label over value. @param {string} label @param {import('./plot.js').ChildArg} value */
const fact = (label, value) => h('div', {}, h('span', {}, label), h('span', {}, value));

/** @param {number} errors @param {number} requests */
const rate = (errors, requests) => (requests > 0 ? ` (${((errors / requests) * 100).toFixed(1)}%)` : '');

/** The analysis at a glance. @param {Analysis} a @param {number} now */
export function summaryView(a, now) {
  const { canary: c, baseline: b } = a.totals;
  return h(
    'section',
    { class: 'card', id: 'summary-card' },
    h(
      'div',
      { class: 'head' },
      h('h1', {}, a.service),
      badge(a.phase),
      pausedBadge(a),
      h('span', { class: 'small' }, 'canary ', versions(a), ' baseline'),
    ),
    h(
      'div',
      { class: 'facts' },
      fact('look', String(a.look)),
      fact('started', `${ago(now - a.startedAtUnixMs)} ago`),
      fact('event time', `${clock(a.watermarkUnixMs)} UTC`),
      fact('requests canary / baseline', `${c.requests} / ${b.requests}`),
      fact(
        'errors canary / baseline',
        `${c.errors}${rate(c.errors, c.requests)} / ${b.errors}${rate(b.errors, b.requests)}`,
      ),
      fact('used canary / baseline', `${percent(a.used.canary)} / ${percent(a.used.baseline)}`),
      fact('late canary / baseline', `${a.late.canary} / ${a.late.baseline}`),
    ),
    h('p', { class: 'why-line' }, a.why),
    a.paused
      ? h(
          'div',
          { class: 'banner paused', id: 'paused-banner' },
          h('strong', {}, 'Paused'),
          ` by ${a.paused.by}: ${a.paused.reason} (token ${a.paused.token}, ${new Date(a.paused.atUnixMs).toISOString()}). `,
          'Looks still run and are plotted; nothing is decided until it is resumed.',
        )
      : null,
    promotionView(a),
  );
}

/**
 * The promotion plan's progress (rollouts[].promote): each share as a step (done, in place, waiting for an approval,
 * to come), then why it did not move at the last look; a step waiting for an approval is a banner that says how to give
 * it (the Approve button of the actions, or the CLI).
 * @param {{ id: string, phase: string, promotion?: { steps: number[], share: number | null, awaiting?: number, approved: number[], why?: string } }} a
 */
export function promotionView(a) {
  const p = a.promotion;
  if (!p) return null;
  const at = p.share === null ? -1 : p.steps.indexOf(p.share);
  /** @param {number} share @param {number} i */
  const step = (share, i) => {
    const state = i < at ? 'done' : i === at ? 'current' : share === p.awaiting ? 'awaiting' : 'next';
    const gate = p.approved.includes(share) ? ' ✓ approved' : share === p.awaiting ? ' (approval?)' : '';
    return h('li', { class: `step ${state}`, 'data-share': String(share) }, `${share}%${gate}`);
  };
  return h(
    'div',
    { class: 'promotion', id: 'promotion' },
    h('strong', {}, 'Promotion plan '),
    h('span', { class: 'small' }, p.share === null ? 'no share set yet' : `canary share ${p.share}%`),
    h('ol', { class: 'steps' }, p.steps.map(step)),
    p.awaiting !== undefined && a.phase === 'running'
      ? h(
          'div',
          { class: 'banner awaiting', id: 'awaiting-banner' },
          h('strong', {}, `Waiting for an approval of ${p.awaiting}%`),
          '. Approve below (with who and why), or ',
          h('code', {}, `vigil approve ${a.id} --by <who> --reason <why>`),
          '.',
        )
      : p.why && a.phase === 'running'
        ? h('p', { class: 'small', id: 'promotion-why' }, p.why)
        : null,
  );
}

/** @param {{ cls: string, label: string, kind?: 'line' | 'dash' | 'area' }[]} items */
const legend = (items) =>
  h(
    'ul',
    { class: 'legend' },
    items.map((i) =>
      h('li', { class: i.cls }, h('span', { class: `sw${i.kind && i.kind !== 'line' ? ` ${i.kind}` : ''}` }), i.label),
    ),
  );

/** @param {string} name @param {string} title @param {string} sub @param {VNode} key @param {VNode} svg */
const plotCard = (name, title, sub, key, svg) =>
  h(
    'section',
    { class: 'card plot', 'data-plot-card': name },
    h('h2', {}, title, h('span', { class: 'small' }, sub)),
    key,
    svg,
  );

const OUTCOME_CLASS = /** @type {Record<string, string>} */ ({
  rollback: 'c-fail',
  promote: 'c-pass',
  abandoned: 'c-abandoned',
});

/**
 * The time axis every plot shares (half a look of room on each side) and the vertical markers drawn on each: the
 * decision (at the look that decided, or a decision by hand at its event time) and the first look of each run held
 * by a pause; then the plan's steps that ran, each at the decision's place plus the time its audit entry came after
 * the decision's (wall clock: the plan runs after its decision, not at an event time), their labels stacked.
 * @param {LookPoint[]} looks @param {Decision | undefined} decision @param {PlanStep[]} [steps]
 */
export function timeAxis(looks, decision, steps = []) {
  const first = looks[0]?.atUnixMs ?? 0;
  const last = looks[looks.length - 1]?.atUnixMs ?? first;
  const step = looks.length > 1 ? (last - first) / (looks.length - 1) : 10_000;
  /** @type {Marker[]} */
  const markers = [];
  looks.forEach((l, i) => {
    if (l.held && !looks[i - 1]?.held)
      markers.push({ x: l.atUnixMs, cls: 'c-held', label: `held: would ${l.held === 'promote' ? 'promote' : l.held}` });
  });
  const decided = looks.find((l) => l.decided);
  if (decided?.decided)
    markers.push({
      x: decided.atUnixMs,
      cls: OUTCOME_CLASS[decided.decided] ?? 'c-ref',
      label: `${decided.decided} · look ${decided.look}`,
    });
  else if (decision)
    markers.push({
      x: decision.eventTimeUnixMs,
      cls: OUTCOME_CLASS[decision.outcome] ?? 'c-ref',
      label: `${decision.outcome}${decision.manual ? ` by hand (${decision.manual.by})` : ''} · look ${decision.look}`,
    });
  const decidedAt = markers.find((m) => !m.cls.startsWith('c-held'))?.x;
  if (decidedAt !== undefined)
    steps
      .filter((p) => p.status !== 'not run' && p.afterMs !== undefined)
      .forEach((p, i) =>
        markers.push({
          x: decidedAt + Math.max(0, p.afterMs ?? 0),
          cls: p.status === 'failed' ? 'c-fail' : 'c-step',
          label: `step ${p.step + 1} ${p.connector}: ${p.status === 'failed' ? 'FAILED' : 'done'} +${afterText(p.afterMs ?? 0)}`,
          row: i + 1,
        }),
      );
  const xs = [first - step / 2, last + step / 2, ...markers.map((m) => m.x)];
  return { x: { min: Math.min(...xs), max: Math.max(...xs) }, markers };
}

/** "34 ms", "1.5 s", "2m05s": how long after the decision. @param {number} ms */
export function afterText(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** @param {LookPoint} l */
const lookTitle = (l) => `look ${l.look} · ${clock(l.atUnixMs)} UTC`;

/**
 * Per metric: its estimate with the anytime-valid band against the threshold (1 + tolerance; 1 - tolerance for a
 * metric where lower is worse, e.g. conversion) and "no difference".
 * @param {string} metric @param {LookPoint[]} looks @param {ReturnType<typeof timeAxis>} axis @param {string} [effect]
 * @param {'higher' | 'lower'} [worse] which way is worse, when the detector says (business and resource metrics)
 */
export function estimatePlot(metric, looks, axis, effect, worse) {
  const at = looks.map((l) => l.metrics.find((m) => m.metric === metric));
  const finite = (/** @type {number | undefined} */ v) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const est = at.map((m) => finite(m?.estimate));
  const values = /** @type {number[]} */ (est.filter((v) => v !== undefined));
  if (values.length === 0) return null;
  const threshold = at.map((m) => finite(m?.threshold)).find((v) => v !== undefined);
  const shadow = at.some((m) => m?.shadow);
  const y = estimateDomain(
    values,
    threshold,
    at.map((m) => finite(m?.lower)),
    at.map((m) => finite(m?.upper)),
  );
  const points = looks.map((l, i) => {
    const m = at[i];
    const e = est[i];
    if (!m || e === undefined) return null;
    const band = `[${m.lower === undefined ? '–' : num(m.lower)}, ${m.upper === undefined ? '∞' : num(m.upper)}]`;
    return { x: l.atUnixMs, y: e, title: `${lookTitle(l)}\nestimate ${num(e)} ${band}\n${m.phase}` };
  });
  const svg = chart({
    name: `estimate:${metric}`,
    title: `${metric}: estimate and anytime-valid band against the threshold`,
    x: axis.x,
    y,
    bands: [
      {
        cls: 'c-estimate',
        points: looks.map((l, i) =>
          est[i] === undefined ? null : { x: l.atUnixMs, lo: at[i]?.lower, hi: at[i]?.upper },
        ),
      },
    ],
    rules: [
      ...(threshold === 1 ? [] : [{ value: 1, cls: 'c-ref', label: 'no difference (1)' }]),
      ...(threshold === undefined ? [] : [{ value: threshold, cls: 'c-fail', label: `threshold ${num(threshold)}` }]),
    ],
    markers: axis.markers,
    lines: [{ name: 'estimate', cls: 'c-estimate', points, markers: looks.length <= 240 }],
  });
  const direction = worse === undefined ? '' : ` (${worse} is worse)`;
  return plotCard(
    `estimate:${metric}`,
    `${metric}${shadow ? ' (shadow)' : ''}${direction}`,
    effect ? `${effect}: estimate, anytime-valid band, threshold` : 'estimate, anytime-valid band, threshold',
    legend([
      { cls: 'c-estimate', label: 'estimate' },
      { cls: 'c-estimate', label: 'confidence sequence (anytime-valid)', kind: 'area' },
      { cls: 'c-fail', label: `threshold (1 ${worse === 'lower' ? '−' : '+'} tolerance)`, kind: 'dash' },
    ]),
    svg,
  );
}

/**
 * The y domain of an estimate plot: the estimates, 1 and the threshold, widened by the bounds but not beyond one more
 * such span (early bounds are wide: they run off the edge rather than flatten the plot).
 * @param {number[]} values @param {number | undefined} threshold @param {(number | undefined)[]} lowers
 * @param {(number | undefined)[]} uppers
 */
function estimateDomain(values, threshold, lowers, uppers) {
  const core = [...values, 1, ...(threshold === undefined ? [] : [threshold])];
  const lo = Math.min(...core);
  const hi = Math.max(...core);
  const span = hi - lo || Math.abs(hi) || 1;
  const ups = /** @type {number[]} */ (uppers.filter((v) => v !== undefined));
  const lows = /** @type {number[]} */ (lowers.filter((v) => v !== undefined));
  const max = Math.min(Math.max(hi, ...ups), hi + span);
  let min = Math.max(Math.min(lo, ...lows), lo - span);
  if (lo >= 0) min = Math.max(0, min);
  const pad = (max - min) * 0.06;
  return { min: lo >= 0 ? Math.max(0, min - pad) : min - pad, max: max + pad };
}

/**
 * The always-valid p-value of every metric over the looks (log scale) against its alpha.
 * @param {LookPoint[]} looks @param {ReturnType<typeof timeAxis>} axis
 */
export function pValuePlot(looks, axis) {
  const metrics = [...new Set(looks.flatMap((l) => l.metrics.map((m) => m.metric)))];
  if (metrics.length === 0) return null;
  const all = looks.flatMap((l) => l.metrics);
  const alphas = [...new Set(all.map((m) => m.alpha))];
  const smallest = Math.min(...all.map((m) => m.pValue).filter((p) => p > 0), ...alphas);
  const min = Math.max(1e-12, 10 ** Math.floor(Math.log10(smallest / 2)));
  /** @type {Line[]} */
  const lines = metrics.map((metric, k) => ({
    name: metric,
    cls: `c-m${k % 6}`,
    markers: looks.length <= 240,
    points: looks.map((l) => {
      const m = l.metrics.find((x) => x.metric === metric);
      return m
        ? {
            x: l.atUnixMs,
            y: m.pValue,
            title: `${lookTitle(l)}\n${metric}: p = ${pnum(m.pValue)} (α ${pnum(m.alpha)})`,
          }
        : null;
    }),
  }));
  const svg = chart({
    name: 'p-values',
    title: 'always-valid p-values against alpha',
    x: axis.x,
    y: { min, max: 1, log: true, format: pnum },
    rules: alphas.map((alpha) => ({ value: alpha, cls: 'c-fail', label: `α ${pnum(alpha)}` })),
    markers: axis.markers,
    lines,
  });
  return plotCard(
    'p-values',
    'p-values',
    'always-valid, log scale: a metric fails when its p-value falls below its α',
    legend([
      ...lines.map((l, k) => ({
        cls: l.cls,
        label: `${metrics[k]}${all.find((m) => m.metric === metrics[k])?.shadow ? ' (shadow)' : ''}`,
      })),
      { cls: 'c-fail', label: 'α (its share of alpha)', kind: 'dash' },
    ]),
    svg,
  );
}

/**
 * Both cohorts' requests (and failed requests) per look.
 * @param {LookPoint[]} looks @param {ReturnType<typeof timeAxis>} axis
 */
export function requestsPlot(looks, axis) {
  const top = Math.max(1, ...looks.flatMap((l) => [l.requests.canary, l.requests.baseline]));
  const markers = looks.length <= 240;
  /** @param {'canary' | 'baseline'} cohort @param {'requests' | 'errors'} what */
  const line = (cohort, what) => ({
    name: `${cohort}${what === 'errors' ? '-errors' : ''}`,
    cls: `c-${cohort}`,
    dashed: what === 'errors',
    markers: markers && what === 'requests',
    points: looks.map((l) => ({
      x: l.atUnixMs,
      y: l[what][cohort],
      title: `${lookTitle(l)}\n${cohort}: ${l.requests[cohort]} requests, ${l.errors[cohort]} failed`,
    })),
  });
  const svg = chart({
    name: 'requests',
    title: 'requests per look, canary and baseline',
    x: axis.x,
    y: { min: 0, max: top * 1.08 },
    markers: axis.markers,
    lines: [
      line('baseline', 'errors'),
      line('canary', 'errors'),
      line('baseline', 'requests'),
      line('canary', 'requests'),
    ],
  });
  return plotCard(
    'requests',
    'Requests per look',
    'each cohort\u2019s requests compared in the look, and how many failed',
    legend([
      { cls: 'c-canary', label: 'canary' },
      { cls: 'c-baseline', label: 'baseline' },
      { cls: 'c-canary', label: 'canary failed', kind: 'dash' },
      { cls: 'c-baseline', label: 'baseline failed', kind: 'dash' },
    ]),
    svg,
  );
}

/**
 * Every plot of an analysis over its looks, on one time axis.
 * @param {Analysis} a @param {LookPoint[]} looks @param {Decision | undefined} decision @param {PlanStep[]} [steps]
 */
export function plotsView(a, looks, decision, steps = []) {
  if (looks.length === 0)
    return [h('section', { class: 'card empty' }, 'No look has closed yet: the plots start with the first one.')];
  const axis = timeAxis(looks, decision, steps);
  const metrics = [...new Set(looks.flatMap((l) => l.metrics.map((m) => m.metric)))];
  return [
    ...metrics.map((m) => {
      const v = a.verdicts.find((x) => x.metric === m);
      return estimatePlot(m, looks, axis, v?.effect, v?.worse);
    }),
    pValuePlot(looks, axis),
    requestsPlot(looks, axis),
  ].filter((x) => x !== null);
}

/**
 * The decision: outcome, look, why, who when by hand, and the plan it runs (its steps' outcomes are in the audit log
 * and the decision's report), each step with its outcome once it ran.
 * @param {Analysis} a @param {Decision | undefined} d @param {PlanStep[]} [steps]
 */
export function decisionView(a, d, steps = []) {
  if (a.decisionId === undefined || d === undefined)
    return h(
      'section',
      { class: 'card', id: 'decision-card' },
      h('h2', {}, 'Decision'),
      h(
        'p',
        { class: 'small' },
        a.decisionId
          ? `decision ${a.decisionId}`
          : `None yet: the analysis is ${a.paused ? 'paused' : 'running'} (look ${a.look}).`,
      ),
    );
  const path = `/api/v1/decisions/${encodeURIComponent(d.id)}`;
  return h(
    'section',
    { class: 'card', id: 'decision-card' },
    h('h2', {}, 'Decision ', badge(d.outcome), d.dryRun ? [' ', badge('abandoned', 'dry run')] : null),
    h('p', {}, `Look ${d.look}, event time ${clock(d.eventTimeUnixMs)} UTC: ${d.reason}`),
    d.manual
      ? h(
          'p',
          {},
          h('strong', {}, 'By hand: '),
          `${d.manual.by} (token ${d.manual.token}, ${new Date(d.manual.atUnixMs).toISOString()}): ${d.manual.reason}`,
        )
      : null,
    d.plan.length > 0
      ? [
          h(
            'div',
            { class: 'small' },
            'Plan: its steps run in this order (each step\u2019s outcome is in the audit log and the report)',
          ),
          h(
            'ol',
            { class: 'plan' },
            d.plan.map((connector, i) => {
              const done = steps.find((p) => p.step === i);
              return h(
                'li',
                {},
                h('code', {}, connector),
                done && done.status !== 'not run'
                  ? h(
                      'span',
                      { class: `step ${done.status === 'failed' ? 'c-fail' : 'c-step'}` },
                      ` ${done.status === 'failed' ? 'FAILED' : 'done'} +${afterText(done.afterMs ?? 0)}: ${done.status === 'failed' ? (done.error ?? '') : (done.detail ?? '')}`,
                    )
                  : null,
              );
            }),
          ),
        ]
      : h('p', { class: 'small' }, 'No plan steps.'),
    h(
      'p',
      { class: 'small' },
      h('a', { href: `${path}/report` }, 'report'),
      ' · ',
      h('a', { href: path }, 'JSON'),
      ` · ${d.id}`,
    ),
  );
}

/** The last look's verdict of each metric. @param {Analysis} a */
export function verdictsView(a) {
  return h(
    'section',
    { class: 'card', id: 'verdicts-card' },
    h('h2', {}, 'Verdicts at the last look'),
    h(
      'table',
      { class: 'verdicts' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['metric', 'phase', 'p-value', 'α', 'estimate [band]', 'summary'].map((c) => h('th', {}, c)),
        ),
      ),
      h(
        'tbody',
        {},
        a.verdicts.map((v) =>
          h(
            'tr',
            {},
            h(
              'td',
              {},
              v.metric,
              v.shadow ? h('span', { class: 'small' }, ' (shadow)') : null,
              v.worse === undefined ? null : h('span', { class: 'small' }, ` (${v.worse} is worse)`),
            ),
            h('td', {}, badge(v.phase)),
            h('td', { class: 'num' }, pnum(v.pValue)),
            h('td', { class: 'num' }, pnum(v.alpha)),
            h(
              'td',
              { class: 'num' },
              v.estimate === undefined
                ? '–'
                : `${num(v.estimate)} [${v.lower === undefined ? '–' : num(v.lower)}, ${v.upper === undefined ? '∞' : num(v.upper)}]`,
            ),
            h('td', { class: 'summary' }, v.summary),
          ),
        ),
      ),
    ),
  );
}
