/**
 * The dashboard's plotting and views (src/http/dashboard/client/plot.js, views.js) in Node: the same modules the
 * browser runs. They build trees ({ t, a, c }); these tests read them.
 */
import { describe, expect, it } from 'vitest';
import type { AnalysisSnapshot, LookPoint } from '../../../src/analysis/analysis-types.js';
import type { Decision } from '../../../src/contracts/index.js';
import {
  chart,
  logTicks,
  niceTicks,
  timeTicks,
  type Child,
  type VNode,
} from '../../../src/http/dashboard/client/plot.js';
import {
  ago,
  estimatePlot,
  listView,
  plotsView,
  pValuePlot,
  timeAxis,
  verdictsView,
  drillsView,
} from '../../../src/http/dashboard/client/views.js';

/** Every node of a tree, depth first. */
function nodes(n: Child): VNode[] {
  if (typeof n === 'string') return [];
  return [n, ...n.c.flatMap(nodes)];
}
const text = (n: Child): string => (typeof n === 'string' ? n : n.c.map(text).join(''));
const find = (n: Child, pred: (x: VNode) => boolean) => nodes(n).filter(pred);
const cls = (name: string) => (x: VNode) =>
  String(x.a.class ?? '')
    .split(' ')
    .includes(name);

const T = 1_767_268_800_000;

function look(i: number, over: Partial<LookPoint> = {}): LookPoint {
  return {
    look: i,
    atUnixMs: T + i * 10_000,
    requests: { baseline: 100 + i, canary: 90 + i },
    errors: { baseline: 1, canary: 2 },
    metrics: [
      {
        metric: 'error-rate',
        phase: 'inconclusive',
        pValue: 0.5 / i,
        alpha: 0.025,
        estimate: 1 + i / 10,
        threshold: 1.1,
        ...(i > 2 ? { lower: 1, upper: 2 + i } : {}),
      },
      {
        metric: 'latency',
        phase: 'inconclusive',
        pValue: 1,
        alpha: 0.025,
        estimate: 1,
        lower: 0.9,
        upper: 1.2,
        threshold: 1.05,
      },
    ],
    ...over,
  };
}

function snapshot(over: Partial<AnalysisSnapshot> = {}): AnalysisSnapshot {
  return {
    id: 'checkout:2',
    service: 'checkout',
    canaryVersion: '2',
    baselineVersion: '1',
    phase: 'running',
    why: 'no metric has failed yet',
    look: 5,
    startedAtUnixMs: T,
    watermarkUnixMs: T + 50_000,
    totals: { baseline: { requests: 500, errors: 5 }, canary: { requests: 450, errors: 9 } },
    late: { baseline: 0, canary: 0 },
    used: { baseline: 1, canary: 1 },
    idleClosedLooks: { baseline: 0, canary: 0 },
    verdicts: [],
    ...over,
  };
}

describe('ticks', () => {
  it('round linear ticks, powers of ten on a log axis, whole seconds and minutes in time', () => {
    expect(niceTicks(0, 10, 4)).toEqual([0, 5, 10]);
    expect(niceTicks(0.87, 1.16, 4)).toEqual([0.9, 1, 1.1]);
    expect(niceTicks(0, 430, 4)).toEqual([0, 200, 400]);
    expect(logTicks(1e-3, 1)).toEqual([0.001, 0.01, 0.1, 1]);
    expect(logTicks(1e-12, 1)).toEqual([1e-12, 1e-9, 1e-6, 1e-3, 1]); // every third decade: at most 6
    expect(timeTicks(T + 1_000, T + 71_000, 6)).toEqual([T + 15_000, T + 30_000, T + 45_000, T + 60_000]);
    expect(timeTicks(T, T + 3_600_000, 6).map((t) => (t - T) / 60_000)).toEqual([0, 10, 20, 30, 40, 50, 60]);
  });

  it('ages in words', () => {
    expect([ago(4_000), ago(600_000), ago(7_500_000), ago(5 * 86_400_000)]).toEqual([
      '4 s',
      '10 min',
      '2 h 5 min',
      '5 d',
    ]);
  });
});

describe('chart', () => {
  const spec = {
    name: 'x',
    title: 'a chart',
    x: { min: T, max: T + 40_000 },
    y: { min: 0, max: 10 },
    lines: [
      {
        name: 'a',
        cls: 'c-canary',
        markers: true,
        points: [{ x: T, y: 1, title: 'first' }, { x: T + 10_000, y: 2 }, null, { x: T + 30_000, y: 50 }],
      },
    ],
    bands: [
      {
        cls: 'c-estimate',
        points: [
          { x: T, lo: 1 },
          { x: T + 10_000, lo: 2, hi: 3 },
        ],
      },
    ],
    rules: [{ value: 5, cls: 'c-fail', label: 'threshold 5' }],
    markers: [{ x: T + 30_000, cls: 'c-fail', label: 'rollback · look 3' }],
  };

  it('one circle per point, a path broken at each gap, values beyond the domain on its edge', () => {
    const svg = chart(spec);
    expect(svg).toMatchObject({ t: 'svg', svg: true, a: { 'data-plot': 'x', role: 'img', 'aria-label': 'a chart' } });
    const series = find(svg, (n) => n.a['data-series'] === 'a')[0]!;
    const circles = find(series, (n) => n.t === 'circle');
    expect(circles).toHaveLength(3);
    expect(text(circles[0]!)).toBe('first');
    const d = String(find(series, (n) => n.t === 'path')[0]!.a.d);
    expect(d.match(/M/g)).toHaveLength(2); // the gap starts a new stroke
    // 50 is drawn at the top of the plot area (y = 16), not outside the chart
    expect(circles[2]!.a.cy).toBe('16.0');
  });

  it('a band without an upper side runs to the top; rules and markers carry their labels', () => {
    const svg = chart(spec);
    const band = find(svg, cls('band'))[0]!;
    expect(String(band.a.d)).toMatch(/^M[\d.]+,16\.0L/); // the first look's missing upper side: the top edge
    expect(text(find(svg, cls('rule'))[0]!)).toBe('threshold 5');
    expect(find(svg, cls('marker'))[0]!.a['data-marker']).toBe('rollback · look 3');
  });

  it('no attribute carries text from data but titles and labels as text nodes', () => {
    const svg = chart({ ...spec, title: '<script>alert(1)</script>' });
    for (const n of nodes(svg)) for (const k of Object.keys(n.a)) expect(k).not.toMatch(/^on/i);
    expect(svg.a['aria-label']).toBe('<script>alert(1)</script>'); // an attribute VALUE: set with setAttribute
  });
});

describe('views', () => {
  it('the list: newest first, one row per analysis, its phase as its class, names as text', () => {
    const older = snapshot({ id: 'a:1', service: 'a', startedAtUnixMs: T });
    const newer = snapshot({
      id: '<img src=x onerror=alert(1)>:2',
      service: '<img src=x onerror=alert(1)>',
      startedAtUnixMs: T + 1_000,
      phase: 'rollback',
      decisionId: 'd-1',
      late: { canary: 3, baseline: 0 },
      used: { canary: 0.9, baseline: 1 },
    });
    const decision = {
      id: 'd-1',
      outcome: 'rollback',
      look: 4,
      manual: { by: 'bob', reason: 'x', token: 't', atUnixMs: 0 },
    };
    const table = listView([older, newer], [decision as unknown as Decision], T + 60_000);
    const rows = find(table, (n) => n.t === 'tr' && n.a['data-analysis'] !== undefined);
    expect(rows.map((r) => r.a['data-analysis'])).toEqual(['<img src=x onerror=alert(1)>:2', 'a:1']);
    expect(rows[0]!.a.class).toBe('rollback');
    const link = find(rows[0]!, (n) => n.t === 'a')[0]!;
    expect(link.a.href).toBe('/analyses/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E%3A2');
    expect(link.c).toEqual(['<img src=x onerror=alert(1)>']); // a text node, not markup
    const cells = find(rows[0]!, (n) => n.t === 'td').map(text);
    expect(cells).toContain('90.0% / 100.0%late: 3 / 0');
    expect(cells).toContain('rollback look 4by hand: bob');
    expect(listView([], [], T).c).toEqual([
      'No analysis yet: Vigil starts one when a service shows both a canary and a baseline cohort.',
    ]);
  });

  it('one time axis for every plot, with the deciding look and the first held look marked', () => {
    const looks = [
      look(1, { held: 'rollback' }),
      look(2, { held: 'rollback' }),
      look(3),
      look(4, { decided: 'rollback' }),
    ];
    const axis = timeAxis(looks, undefined);
    expect(axis.x).toEqual({ min: T + 5_000, max: T + 45_000 });
    expect(axis.markers).toEqual([
      { x: T + 10_000, cls: 'c-held', label: 'held: would rollback' },
      { x: T + 40_000, cls: 'c-fail', label: 'rollback · look 4' },
    ]);
    // a decision by hand between looks: at its event time
    const manual = {
      outcome: 'promote',
      look: 2,
      eventTimeUnixMs: T + 25_000,
      manual: { by: 'ann' },
    } as unknown as Decision;
    expect(timeAxis(looks.slice(0, 2), manual).markers[1]).toEqual({
      x: T + 25_000,
      cls: 'c-pass',
      label: 'promote by hand (ann) · look 2',
    });
  });

  it('the plan steps that ran: after the decision by their delay, labels stacked, a failed one red', () => {
    const looks = [look(1), look(2, { decided: 'rollback' })];
    const steps = [
      { step: 0, connector: 'flag-off', status: 'done', afterMs: 34 },
      { step: 1, connector: 'shift-traffic', status: 'failed', afterMs: 61_500 },
      { step: 2, connector: 'notify', status: 'not run' },
    ] as unknown as Parameters<typeof timeAxis>[2];
    const axis = timeAxis(looks, undefined, steps);
    expect(axis.markers).toEqual([
      { x: T + 20_000, cls: 'c-fail', label: 'rollback · look 2' },
      { x: T + 20_034, cls: 'c-step', label: 'step 1 flag-off: done +34 ms', row: 1 },
      { x: T + 81_500, cls: 'c-fail', label: 'step 2 shift-traffic: FAILED +1m02s', row: 2 },
    ]);
    expect(axis.x.max).toBe(T + 81_500); // the axis reaches the last step
    // no decision yet: no steps drawn
    expect(timeAxis([look(1)], undefined, steps).markers).toEqual([]);
  });

  it('estimate plots: the estimate per look, its band, the threshold and no difference', () => {
    const looks = [1, 2, 3, 4, 5].map((i) => look(i));
    const card = estimatePlot('error-rate', looks, timeAxis(looks, undefined), 'error-rate ratio canary/baseline')!;
    const svg = find(card, (n) => n.t === 'svg')[0]!;
    expect(svg.a['data-plot']).toBe('estimate:error-rate');
    expect(find(svg, (n) => n.t === 'circle')).toHaveLength(5);
    expect(find(svg, cls('rule')).map(text)).toEqual(['threshold 1.1', 'no difference (1)']); // top down
    expect(find(svg, cls('band'))).toHaveLength(1);
    expect(text(find(card, (n) => n.t === 'h2')[0]!)).toContain('error-rate ratio canary/baseline');
    // a metric without estimates gets no estimate plot
    const bare = looks.map((l) => ({ ...l, metrics: l.metrics.map(({ estimate: _e, ...m }) => m) }));
    expect(estimatePlot('error-rate', bare, timeAxis(bare, undefined))).toBeNull();
  });

  it('a metric where lower is worse: its threshold below 1, its card and the verdicts table say so', () => {
    const looks = [1, 2, 3].map((i) =>
      look(i, {
        metrics: [
          {
            metric: 'conversion',
            phase: 'inconclusive',
            pValue: 0.2,
            alpha: 0.025,
            estimate: 0.9 - i / 20,
            lower: 0.6,
            upper: 0.99,
            threshold: 0.98,
          },
        ],
      }),
    );
    const card = estimatePlot('conversion', looks, timeAxis(looks, undefined), 'rate ratio canary/baseline', 'lower')!;
    expect(text(find(card, (n) => n.t === 'h2')[0]!)).toContain('conversion (lower is worse)');
    expect(text(card)).toContain('threshold (1 − tolerance)');
    const svg = find(card, (n) => n.t === 'svg')[0]!;
    expect(find(svg, cls('rule')).map(text)).toEqual(['no difference (1)', 'threshold 0.98']); // top down
    const verdict = {
      detector: 'ratio-sequential',
      metric: 'conversion',
      phase: 'fail' as const,
      pValue: 0.003,
      alpha: 0.025,
      shadow: false,
      worse: 'lower' as const,
      samples: { baseline: 2000, canary: 2000 },
      summary: 'conversion 0.70x baseline: lower is worse',
    };
    expect(text(verdictsView(snapshot({ verdicts: [verdict] })))).toContain('conversion (lower is worse)');
  });

  it('the last rollback drill of each service, and nothing without one', () => {
    const now = T + 3 * 86_400_000;
    const view = drillsView(
      [
        { service: 'checkout', passed: true, durationMs: 41_000, atUnixMs: T, target: 'drill', failures: [] },
        { service: 'cart', passed: false, durationMs: 2_500, atUnixMs: now - 60_000, target: 'live', failures: ['x'] },
      ],
      now,
    );
    expect(find(view, (n) => n.t === 'li').map(text)).toEqual([
      'checkout: last drill 3 d ago, passed in 41.0 s',
      'cart: last drill 1 min ago, FAILED in 2.5 s (live)',
    ]);
    expect(find(drillsView([], now), (n) => n.t === 'li')).toEqual([]);
  });

  it('the p-value plot: one line per metric on a log axis, with its alpha', () => {
    const looks = [1, 2, 3].map((i) => look(i));
    const svg = find(pValuePlot(looks, timeAxis(looks, undefined))!, (n) => n.t === 'svg')[0]!;
    expect(find(svg, (n) => n.a['data-series'] !== undefined).map((n) => n.a['data-series'])).toEqual([
      'error-rate',
      'latency',
    ]);
    expect(find(svg, cls('rule')).map(text)).toEqual(['α 0.025']);
    expect(find(svg, (n) => n.t === 'text').map(text)).toEqual(expect.arrayContaining(['1', '0.1', '0.01']));
  });

  it('all plots of an analysis: per metric, p-values, requests; none before the first look', () => {
    const looks = [1, 2, 3].map((i) => look(i));
    const cards = plotsView(snapshot(), looks, undefined);
    expect(cards.map((c) => c.a['data-plot-card'])).toEqual([
      'estimate:error-rate',
      'estimate:latency',
      'p-values',
      'requests',
    ]);
    const requests = find(cards[3]!, (n) => n.a['data-series'] === 'canary')[0]!;
    expect(find(requests, (n) => n.t === 'circle')).toHaveLength(3);
    expect(text(plotsView(snapshot(), [], undefined)[0]!)).toMatch(/No look has closed yet/);
  });
});
