/**
 * The dashboard's stylesheet and icon, served as same-origin assets (assets.ts). Kept in TypeScript rather than as
 * .css/.svg files so the build (tsc) ships them in dist with no copy step. Colours: canary orange, baseline blue,
 * red for fail/rollback, green for pass/promote, amber for paused, purple for the effect estimate and its band.
 */

export const DASHBOARD_CSS = `:root {
  --ink: #1f2328; --muted: #59636e; --faint: #8c959f; --line: #d1d9e0; --grid: #eef1f4; --bg: #f6f8fa; --card: #fff;
  --canary: #e8590c; --baseline: #1971c2; --fail: #cf222e; --pass: #1a7f37; --abandoned: #8c959f;
  --paused: #9a6700; --paused-bg: #fff8c5; --estimate: #6f42c1; --link: #0969da; --step: #57606a;
  --m0: #6f42c1; --m1: #0a7ea4; --m2: #bf3989; --m3: #8a6d00; --m4: #2f6f3e; --m5: #57606a;
  color-scheme: light;
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif;
  color: var(--ink); background: var(--bg); }
a { color: var(--link); text-decoration: none; }
a:hover { text-decoration: underline; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.top { display: flex; align-items: center; gap: 16px; padding: 10px 24px; background: #24292f; color: #fff; }
.top .brand { color: #fff; font-weight: 650; font-size: 16px; letter-spacing: .2px; }
.top .brand::before { content: ""; display: inline-block; width: 10px; height: 10px; margin-right: 8px;
  border-radius: 50%; background: #3fb950; box-shadow: 0 0 0 3px rgba(63,185,80,.25); vertical-align: 1px; }
.top .who { margin-left: auto; color: #d1d9e0; font-size: 13px; }
.top form { margin: 0; }
.top button { font: inherit; font-size: 13px; color: #fff; background: transparent; border: 1px solid #57606a;
  border-radius: 6px; padding: 3px 10px; cursor: pointer; }
main { max-width: 1280px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 22px; margin: 4px 0 2px; font-weight: 650; }
h2 { font-size: 15px; margin: 0 0 8px; font-weight: 650; }
.sub { color: var(--muted); margin: 0 0 16px; }
.live { display: inline-flex; align-items: center; gap: 6px; color: var(--muted); font-size: 12.5px; }
.live::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--faint); }
.live.ok::before { background: var(--pass); }
.live.down::before { background: var(--fail); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin: 0 0 16px; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .4px; padding: 8px 10px; border-bottom: 1px solid var(--line); }
td { padding: 9px 10px; border-bottom: 1px solid var(--grid); vertical-align: top; }
.analyses { background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
.analyses td:not(.why) { white-space: nowrap; }
.analyses tr.running td:first-child { box-shadow: inset 3px 0 var(--link); }
.analyses tr.rollback { background: #fff5f5; }
.analyses tr.rollback td:first-child { box-shadow: inset 3px 0 var(--fail); }
.analyses tr.promote { background: #f2fbf4; }
.analyses tr.promote td:first-child { box-shadow: inset 3px 0 var(--pass); }
.analyses tr.abandoned { background: #f6f8fa; color: var(--muted); }
.analyses tr.abandoned td:first-child { box-shadow: inset 3px 0 var(--abandoned); }
.analyses .service a { font-weight: 600; }
.analyses .why { color: var(--muted); min-width: 240px; max-width: 440px; }
.num { font-variant-numeric: tabular-nums; }
.small { font-size: 12px; color: var(--muted); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
  border: 1px solid transparent; white-space: nowrap; }
.badge.running { color: var(--link); background: #ddf4ff; }
.badge.rollback, .badge.fail { color: #fff; background: var(--fail); }
.badge.promote, .badge.pass { color: #fff; background: var(--pass); }
.badge.abandoned, .badge.inconclusive { color: var(--muted); background: #eaeef2; }
.badge.paused { color: var(--paused); background: var(--paused-bg); border-color: #d4a72c; }
.empty { padding: 28px; text-align: center; color: var(--muted); }
.drills { list-style: none; padding: 0; margin: 12px 0; color: var(--muted); font-size: 13px; }
.drills.empty { padding: 0; }
.drills li { margin: 4px 0; }
.head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 10px 14px; }
.head h1 { margin-right: 4px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 10px 18px; margin-top: 12px; }
.facts div { display: flex; flex-direction: column; }
.facts span:first-child { font-size: 11.5px; text-transform: uppercase; letter-spacing: .4px; color: var(--muted); }
.facts span:last-child { font-size: 15px; font-variant-numeric: tabular-nums; }
.why-line { margin: 10px 0 0; color: var(--muted); }
.banner { border-radius: 6px; padding: 8px 12px; margin-top: 12px; }
.banner.paused { background: var(--paused-bg); color: #4d2d00; border: 1px solid #d4a72c; }
.banner.awaiting { background: var(--paused-bg); color: #4d2d00; border: 1px solid #d4a72c; }
.promotion { margin-top: 12px; }
.promotion ol.steps { list-style: none; display: flex; flex-wrap: wrap; gap: 6px; padding: 0; margin: 6px 0; }
.promotion .step { border: 1px solid var(--line); border-radius: 12px; padding: 1px 10px; font-size: 12px; color: var(--muted); }
.promotion .step.done { background: #eef1f4; }
.promotion .step.current { border-color: #1a7f37; color: #1a7f37; font-weight: 600; }
.promotion .step.awaiting { border-color: #d4a72c; color: #4d2d00; font-weight: 600; }
.plot { margin: 0 0 6px; }
.plot h2 { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 14px; }
.plot h2 .small { font-weight: 400; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 0 0 4px; padding: 0; font-size: 12.5px;
  color: var(--muted); }
.legend li { display: inline-flex; align-items: center; gap: 6px; }
.sw { display: inline-block; width: 16px; height: 0; border-top: 2.5px solid currentColor; }
.sw.dash { border-top-style: dashed; }
.sw.area { height: 10px; border: 0; background: currentColor; opacity: .22; }
svg.chart { display: block; width: 100%; height: auto; overflow: visible; }
svg.chart text { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg.chart .grid line { stroke: var(--grid); }
svg.chart .axis line, svg.chart .axis path { stroke: var(--line); }
svg.chart .series path { fill: none; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; }
svg.chart .series circle { stroke: #fff; stroke-width: 1; }
svg.chart .band { opacity: .16; stroke: none; }
svg.chart .rule line { stroke-width: 1.5; stroke-dasharray: 5 4; }
svg.chart .rule text, svg.chart .marker text { fill: currentColor; font-weight: 650; paint-order: stroke;
  stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
svg.chart .marker line { stroke-width: 1.5; }
svg.chart .dashed path { stroke-dasharray: 4 3; stroke-width: 1.5; }
.c-canary { color: var(--canary); stroke: var(--canary); fill: var(--canary); }
.c-baseline { color: var(--baseline); stroke: var(--baseline); fill: var(--baseline); }
.c-fail { color: var(--fail); stroke: var(--fail); fill: var(--fail); }
.c-pass { color: var(--pass); stroke: var(--pass); fill: var(--pass); }
.c-abandoned { color: var(--abandoned); stroke: var(--abandoned); fill: var(--abandoned); }
.c-held { color: var(--paused); stroke: var(--paused); fill: var(--paused); }
.c-estimate { color: var(--estimate); stroke: var(--estimate); fill: var(--estimate); }
.c-ref { color: var(--faint); stroke: var(--faint); fill: var(--faint); }
.c-step { color: var(--step); stroke: var(--step); fill: var(--step); }
svg.chart .marker.c-step line { stroke-dasharray: 2 3; }
ol.plan .step { font-size: 12px; }
.c-m0 { color: var(--m0); stroke: var(--m0); fill: var(--m0); } .c-m1 { color: var(--m1); stroke: var(--m1); fill: var(--m1); }
.c-m2 { color: var(--m2); stroke: var(--m2); fill: var(--m2); } .c-m3 { color: var(--m3); stroke: var(--m3); fill: var(--m3); }
.c-m4 { color: var(--m4); stroke: var(--m4); fill: var(--m4); } .c-m5 { color: var(--m5); stroke: var(--m5); fill: var(--m5); }
svg.chart .series path.c-canary, svg.chart .series path.c-baseline, svg.chart .series path[class^="c-m"],
svg.chart .series path.c-estimate { fill: none; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
@media (max-width: 900px) { .grid2 { grid-template-columns: 1fr; } }
.verdicts td { white-space: nowrap; }
.verdicts td.summary { white-space: normal; color: var(--muted); }
.plan { margin: 6px 0 0; padding-left: 20px; }
.plan li { margin: 2px 0; }
form.actions { display: grid; grid-template-columns: 180px 1fr; gap: 8px 12px; align-items: start; }
form.actions label { font-size: 12px; font-weight: 600; color: var(--muted); display: flex; flex-direction: column; gap: 4px; }
form.actions input, form.actions textarea { font: inherit; padding: 6px 8px; border: 1px solid var(--line);
  border-radius: 6px; background: #fff; color: var(--ink); }
form.actions textarea { min-height: 38px; resize: vertical; }
form.actions .buttons { grid-column: 1 / -1; display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
button.act { font: inherit; font-weight: 600; padding: 5px 14px; border-radius: 6px; border: 1px solid var(--line);
  background: #f6f8fa; color: var(--ink); cursor: pointer; }
button.act:hover { background: #eef1f4; }
button.act.rollback { color: #fff; background: var(--fail); border-color: #a40e26; }
button.act.promote { color: #fff; background: var(--pass); border-color: #116329; }
button.act:disabled { opacity: .5; cursor: default; }
output.answer { display: block; grid-column: 1 / -1; font-size: 13px; }
output.answer.ok { color: var(--pass); }
output.answer.error { color: var(--fail); }
.login { max-width: 380px; margin: 12vh auto 0; }
.login form { display: flex; flex-direction: column; gap: 10px; }
.login input { font: inherit; padding: 8px 10px; border: 1px solid var(--line); border-radius: 6px; }
.login button { font: inherit; font-weight: 600; padding: 8px; border-radius: 6px; border: 1px solid #116329;
  background: var(--pass); color: #fff; cursor: pointer; }
.login .error { color: var(--fail); margin: 0; }
footer { margin-top: 18px; color: var(--muted); font-size: 12.5px; }
`;

/** The favicon: the brand's green dot in a ring. */
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#24292f"/><circle cx="8" cy="8" r="3.5" fill="#3fb950"/></svg>';
