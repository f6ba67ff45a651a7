// @ts-check
/**
 * The dashboard's plotting, by hand and small (issue 15): line charts over looks with bands, horizontal rules
 * (threshold, alpha) and vertical markers (decisions), on a linear or log y axis and a time x axis. Pure: it builds a
 * tree of plain objects ({ t: tag, a: attributes, c: children }, text as strings) that dashboard.js turns into DOM
 * nodes with createElementNS and textContent, never by parsing markup, so no name from telemetry can become markup.
 * Runs unchanged in the browser (served as /assets/<version>/plot.js) and in Node (the unit tests).
 */

/**
 * @typedef {string | number | boolean | undefined} AttrValue
 * @typedef {{ t: string, a: Record<string, AttrValue>, c: Child[], svg?: boolean }} VNode
 * @typedef {VNode | string} Child
 * @typedef {Child | null | undefined | false | unknown[]} ChildArg (arrays nest: they are flattened)
 */

/** @param {ChildArg[]} args @returns {Child[]} */
function flat(args) {
  /** @type {Child[]} */
  const out = [];
  for (const x of args) {
    if (Array.isArray(x)) out.push(...flat(/** @type {ChildArg[]} */ (x)));
    else if (x !== null && x !== undefined && x !== false) out.push(x);
  }
  return out;
}

/** An HTML element. @param {string} t @param {Record<string, AttrValue>} [a] @param {...ChildArg} c @returns {VNode} */
export const h = (t, a = {}, ...c) => ({ t, a, c: flat(c) });
/** An SVG element. @param {string} t @param {Record<string, AttrValue>} [a] @param {...ChildArg} c @returns {VNode} */
export const s = (t, a = {}, ...c) => ({ t, a, c: flat(c), svg: true });

/** @param {[number, number]} d @param {[number, number]} r @returns {(v: number) => number} */
export function linearScale([d0, d1], [r0, r1]) {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

/** A log10 scale; values at or below the domain's floor sit on it. @param {[number, number]} d @param {[number, number]} r */
export function logScale([d0, d1], r) {
  const f = linearScale([Math.log10(d0), Math.log10(d1)], r);
  return (/** @type {number} */ v) => f(Math.log10(Math.max(v, d0)));
}

/** About `count` round ticks (1, 2, 5 times a power of ten) within [lo, hi]. @returns {number[]} */
export function niceTicks(/** @type {number} */ lo, /** @type {number} */ hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((st) => (hi - lo) / st <= count) ?? 10 * p;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Powers of ten within [lo, hi] (every k-th when there are more than `max`). @returns {number[]} */
export function logTicks(/** @type {number} */ lo, /** @type {number} */ hi, max = 6) {
  const a = Math.ceil(Math.log10(lo) - 1e-9);
  const b = Math.floor(Math.log10(hi) + 1e-9);
  const every = Math.max(1, Math.ceil((b - a + 1) / max));
  const out = [];
  for (let e = b; e >= a; e -= every) out.push(10 ** e);
  return out.reverse();
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600].map((x) => x * 1000);

/** Round instants (UTC seconds, minutes, hours) within [lo, hi], at most about `count`. @returns {number[]} */
export function timeTicks(/** @type {number} */ lo, /** @type {number} */ hi, count = 6) {
  const step = TIME_STEPS.find((st) => (hi - lo) / st <= count) ?? 43_200_000;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) out.push(t);
  return out;
}

/** HH:MM:SS of an instant, UTC. @param {number} ms */
export const clock = (ms) => new Date(ms).toISOString().slice(11, 19);

/** A number in at most 3 significant digits, without trailing zeros. @param {number} v */
export function num(v) {
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6)) return v.toExponential(1).replace('.0e', 'e');
  return String(Number(v.toPrecision(3)));
}

/** A p-value or alpha: 0.05, 0.0031, 2.1e-7. @param {number} v */
export const pnum = (v) =>
  v !== 0 && v < 1e-3 ? v.toExponential(1).replace('.0e', 'e') : String(Number(v.toPrecision(2)));

/**
 * @typedef {{ x: number, y: number, title?: string }} Point
 * @typedef {{ x: number, lo?: number, hi?: number }} BandPoint
 * @typedef {{ name: string, cls: string, points: (Point | null)[], markers?: boolean, dashed?: boolean }} Line
 * @typedef {{ cls: string, points: (BandPoint | null)[] }} Band
 * @typedef {{ value: number, cls: string, label: string }} Rule
 * @typedef {{ x: number, cls: string, label: string, row?: number }} Marker (row: the label's line, 0 at the top)
 * @typedef {{ min: number, max: number, log?: boolean, label?: string, format?: (v: number) => string }} YAxis
 * @typedef {{ name: string, title: string, x: { min: number, max: number }, y: YAxis, lines: Line[],
 *   bands?: Band[], rules?: Rule[], markers?: Marker[], width?: number, height?: number }} ChartSpec
 */

const M = { left: 58, right: 14, top: 16, bottom: 24 };

/** Path data through the points, broken at each null. @param {([number, number] | null)[]} pts */
function pathData(pts) {
  let d = '';
  let pen = false;
  for (const p of pts) {
    if (p === null) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${p[0].toFixed(1)},${p[1].toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** Closed areas between each run of band points' upper and lower sides. @param {([number, number, number] | null)[]} pts */
function bandData(pts) {
  /** @type {[number, number, number][][]} */
  const runs = [[]];
  for (const p of pts) {
    if (p === null) runs.push([]);
    else runs[runs.length - 1]?.push(p);
  }
  return runs
    .filter((r) => r.length > 0)
    .map((r) => {
      const up = r.map(([x, , hi]) => `${x.toFixed(1)},${hi.toFixed(1)}`);
      const down = [...r].reverse().map(([x, lo]) => `${x.toFixed(1)},${lo.toFixed(1)}`);
      // one look alone: a thin bar rather than nothing
      if (r.length === 1) return `M${up[0]}L${down[0]}`;
      return `M${up.join('L')}L${down.join('L')}Z`;
    })
    .join('');
}

/** @param {number} v @param {number} lo @param {number} hi */
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

/**
 * An SVG line chart. Values outside the y domain are drawn on its edge (a bound beyond it runs off the top).
 * @param {ChartSpec} spec @returns {VNode}
 */
export function chart(spec) {
  const W = spec.width ?? 1000;
  const H = spec.height ?? 170;
  const { y } = spec;
  const xs = linearScale([spec.x.min, spec.x.max], [M.left, W - M.right]);
  const yRange = /** @type {[number, number]} */ ([H - M.bottom, M.top]);
  const ys0 = y.log ? logScale([y.min, y.max], yRange) : linearScale([y.min, y.max], yRange);
  const ys = (/** @type {number} */ v) => clamp(ys0(v), M.top, H - M.bottom);
  const fmt = y.format ?? num;
  const yt = y.log ? logTicks(y.min, y.max) : niceTicks(y.min, y.max, 4);
  const xt = timeTicks(spec.x.min, spec.x.max, Math.max(3, Math.floor(W / 150)));
  return s(
    'svg',
    {
      class: 'chart',
      viewBox: `0 0 ${W} ${H}`,
      role: 'img',
      'aria-label': spec.title,
      'data-plot': spec.name,
    },
    s(
      'g',
      { class: 'grid' },
      yt.map((v) => s('line', { x1: M.left, x2: W - M.right, y1: ys(v).toFixed(1), y2: ys(v).toFixed(1) })),
    ),
    axes(spec, { W, H, xs, ys, yt, xt, fmt }),
    (spec.bands ?? []).map((b) =>
      s('path', {
        class: `band ${b.cls}`,
        d: bandData(b.points.map((p) => (p === null ? null : [xs(p.x), ys(p.lo ?? y.min), ys(p.hi ?? y.max)]))),
      }),
    ),
    rules(spec.rules ?? [], ys, W),
    (spec.markers ?? []).map((m) => marker(m, xs(m.x), { W, H })),
    spec.lines.map((l) => series(l, xs, ys)),
  );
}

/**
 * @param {ChartSpec} spec
 * @param {{ W: number, H: number, xs: (v: number) => number, ys: (v: number) => number, yt: number[], xt: number[],
 *   fmt: (v: number) => string }} g
 */
function axes(spec, { W, H, xs, ys, yt, xt, fmt }) {
  const base = H - M.bottom;
  return s(
    'g',
    { class: 'axis' },
    s('line', { x1: M.left, x2: W - M.right, y1: base, y2: base }),
    s('line', { x1: M.left, x2: M.left, y1: M.top, y2: base }),
    yt.map((v) => s('text', { x: M.left - 6, y: (ys(v) + 3.5).toFixed(1), 'text-anchor': 'end' }, fmt(v))),
    xt.map((t) => [
      s('line', { x1: xs(t).toFixed(1), x2: xs(t).toFixed(1), y1: base, y2: base + 4 }),
      s('text', { x: xs(t).toFixed(1), y: base + 16, 'text-anchor': 'middle' }, clock(t)),
    ]),
    spec.y.label
      ? s('text', { class: 'ylabel', x: M.left + 4, y: M.top - 5, 'text-anchor': 'start' }, spec.y.label)
      : null,
  );
}

/**
 * Horizontal rules, labelled at the left above the line; a label that would overlap the one before goes below its
 * line instead.
 * @param {Rule[]} list @param {(v: number) => number} ys @param {number} W
 */
function rules(list, ys, W) {
  /** @type {number[]} */
  const taken = [];
  return [...list]
    .sort((a, b) => ys(a.value) - ys(b.value))
    .map((r) => {
      const y = ys(r.value);
      const above = y - 4;
      const label = taken.some((t) => Math.abs(t - above) < 13) || above < M.top + 2 ? y + 13 : above;
      taken.push(label);
      return s(
        'g',
        { class: `rule ${r.cls}` },
        s('line', { x1: M.left, x2: W - M.right, y1: y.toFixed(1), y2: y.toFixed(1) }),
        s('text', { x: M.left + 6, y: label.toFixed(1), 'text-anchor': 'start' }, r.label),
      );
    });
}

/** A vertical marker with its label (placed left of the line near the right edge). @param {Marker} m @param {number} x
 *  @param {{ W: number, H: number }} size */
function marker(m, x, { W, H }) {
  const right = x > W - 180;
  return s(
    'g',
    { class: `marker ${m.cls}`, 'data-marker': m.label },
    s('line', { x1: x.toFixed(1), x2: x.toFixed(1), y1: M.top - 4, y2: H - M.bottom }),
    s(
      'text',
      {
        x: (right ? x - 5 : x + 5).toFixed(1),
        y: M.top + 8 + 13 * (m.row ?? 0),
        'text-anchor': right ? 'end' : 'start',
      },
      m.label,
    ),
  );
}

/** @param {Line} l @param {(v: number) => number} xs @param {(v: number) => number} ys */
function series(l, xs, ys) {
  const pts = l.points.map((p) => (p === null ? null : /** @type {[number, number]} */ ([xs(p.x), ys(p.y)])));
  return s(
    'g',
    { class: `series ${l.cls}${l.dashed ? ' dashed' : ''}`, 'data-series': l.name },
    s('path', { d: pathData(pts) }),
    l.markers
      ? l.points.map((p, i) => {
          const at = pts[i];
          if (p === null || !at) return null;
          return s(
            'circle',
            { cx: at[0].toFixed(1), cy: at[1].toFixed(1), r: 3 },
            p.title ? s('title', {}, p.title) : null,
          );
        })
      : null,
  );
}
