/**
 * The dashboard in the browser (issue 15): polls the JSON API every few seconds and redraws the page's parts from it
 * (views.js builds them, `render` makes DOM nodes with createElement(NS) and textContent: nothing is parsed as
 * markup), and sends the manual actions. A request the session cookie authenticates carries the page's CSRF token
 * (<meta name="vigil-csrf">) in x-vigil-csrf; a 401 (the session ended) goes back to the login form.
 */
import { listView, drillsView, summaryView, plotsView, decisionView, verdictsView } from './views.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? '';
const CSRF = meta('vigil-csrf');
const POLL_MS = Number(meta('vigil-poll-ms')) || 3000;

/** A DOM node of a tree (plot.js). Attribute names come from this code; `on*` ones are refused all the same. */
function render(node) {
  if (typeof node === 'string') return document.createTextNode(node);
  const el = node.svg ? document.createElementNS(SVG_NS, node.t) : document.createElement(node.t);
  for (const [k, v] of Object.entries(node.a)) {
    if (v === undefined || v === false || /^on/i.test(k)) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of node.c) el.appendChild(render(c));
  return el;
}

const show = (id, nodes) => document.getElementById(id)?.replaceChildren(...[nodes].flat().map(render));

class Unauthorized extends Error {}

/** Aborts the polls' requests once the person logs out (the page is leaving: nothing to show or redirect). */
const leaving = new AbortController();
document.querySelector('form[action="/logout"]')?.addEventListener('submit', () => leaving.abort());

async function getJson(path) {
  const res = await fetch(path, {
    headers: { accept: 'application/json' },
    credentials: 'same-origin',
    signal: leaving.signal,
  });
  if (res.status === 401) throw new Unauthorized(path);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(body.message ?? `${res.status} ${path}`), { status: res.status });
  return body;
}

const toLogin = () => location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);

/** Runs `refresh` now and every POLL_MS (not while the tab is hidden), and says on the page how fresh it is. */
function poll(refresh) {
  const status = document.getElementById('live');
  let timer;
  let busy = false; // one refresh at a time: a tick asked for meanwhile runs when it ends
  let again = false;
  const tick = async () => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    clearTimeout(timer);
    if (leaving.signal.aborted) return;
    if (!document.hidden) {
      try {
        await refresh();
        status?.replaceChildren(`live · updated ${new Date().toLocaleTimeString()}`);
        status?.setAttribute('class', 'live ok');
      } catch (e) {
        if (leaving.signal.aborted) return;
        if (e instanceof Unauthorized) return toLogin();
        status?.replaceChildren(`not updating: ${e.message} (retrying)`);
        status?.setAttribute('class', 'live down');
      }
    }
    busy = false;
    if (again) {
      again = false;
      return tick();
    }
    timer = setTimeout(tick, POLL_MS);
  };
  document.addEventListener('visibilitychange', () => !document.hidden && tick());
  void tick();
  return tick;
}

function listPage() {
  poll(async () => {
    const [{ analyses }, { decisions }, { drills }] = await Promise.all([
      getJson('/api/v1/analyses'),
      getJson('/api/v1/decisions'),
      getJson('/api/v1/drills').catch(() => ({ drills: [] })),
    ]);
    show('analyses', listView(analyses, decisions, Date.now()));
    show('drills', drillsView(drills, Date.now()));
  });
}

/** How often an analysis page asks for its decision's plan while the plan runs (the report reads the audit log). */
const PLAN_EVERY_MS = 10_000;

/** Whether a plan (the report's `plan`) has nothing more to tell. */
const planDone = (plan) => plan !== undefined && (plan.state === 'completed' || plan.state === 'failed');

function analysisPage(id) {
  const base = `/api/v1/analyses/${encodeURIComponent(id)}`;
  const decisions = new Map(); // a decision does not change: fetched once
  const plans = new Map(); // decision id → { plan (as its report tells it), at (when last asked) }
  // the looks (up to 720) are fetched and drawn again only when a look closed or the analysis was decided: a
  // tooltip stays open between polls, and an idle page costs one small request per poll
  let drawn = '';
  let looks = [];
  const refresh = poll(async () => {
    let a;
    try {
      a = await getJson(base);
    } catch (e) {
      if (e.status !== 404) throw e;
      show('summary', { t: 'section', a: { class: 'card empty' }, c: [`No analysis ${id} (any more): see the list.`] });
      return;
    }
    const looked = `${a.look}|${a.phase}|${a.decisionId ?? ''}`;
    if (!drawn.startsWith(`${looked}|`)) ({ looks } = await getJson(`${base}/looks`));
    if (a.decisionId && !decisions.has(a.decisionId)) {
      // not found (yet: another replica's, not in Redis yet) or unreachable: asked again at the next poll
      const d = await getJson(`/api/v1/decisions/${encodeURIComponent(a.decisionId)}`).catch(() => undefined);
      if (d) decisions.set(a.decisionId, d);
    }
    const decision = a.decisionId ? decisions.get(a.decisionId) : undefined;
    // the plan's steps (from the decision's report) until the plan completed or failed
    const known = decision ? plans.get(decision.id) : undefined;
    // a report reads the audit log's tail: asked at most every PLAN_EVERY_MS while the plan runs, then never again
    if (
      decision &&
      decision.plan.length > 0 &&
      !planDone(known?.plan) &&
      Date.now() - (known?.at ?? 0) >= PLAN_EVERY_MS
    ) {
      plans.set(decision.id, { plan: known?.plan, at: Date.now() });
      const model = await getJson(`/api/v1/decisions/${encodeURIComponent(decision.id)}/report?format=json`).catch(
        () => undefined,
      );
      if (model) plans.set(decision.id, { plan: model.plan, at: Date.now() });
    }
    const plan = decision ? plans.get(decision.id)?.plan : undefined;
    const steps = plan?.steps ?? [];
    document.title = `${a.service} ${a.canaryVersion} · Vigil`;
    show('summary', summaryView(a, Date.now()));
    // the Approve button while a promotion plan waits for an approval of this running analysis
    const approve = document.getElementById('approve-button');
    if (approve) approve.hidden = !(a.phase === 'running' && a.promotion?.awaiting !== undefined);
    const key = `${looked}|${decision ? 'd' : ''}|${plan?.state ?? ''}|${steps.filter((p) => p.status !== 'not run').length}`;
    if (key !== drawn) show('plots', plotsView(a, looks, decision, steps));
    drawn = key;
    show('decision', decisionView(a, decision, steps));
    show('verdicts', verdictsView(a));
  });
  const form = document.getElementById('actions-form');
  if (form) form.addEventListener('submit', (ev) => act(ev, form, base, refresh));
}

const DONE = { pause: 'paused', resume: 'resumed', rollback: 'rolled back', promote: 'promoted', approve: 'approved' };

/** Sends the action of the button pressed, with who and why, and shows the answer (409s too). */
async function act(ev, form, base, refresh) {
  ev.preventDefault();
  const action = ev.submitter?.value;
  const out = form.querySelector('output');
  const buttons = [...form.querySelectorAll('button')];
  const by = form.elements.by.value.trim();
  const reason = form.elements.reason.value.trim();
  if (!DONE[action] || !by || !reason) return;
  buttons.forEach((b) => (b.disabled = true));
  out.className = 'answer';
  out.textContent = `${action}…`;
  try {
    const res = await fetch(`${base}/${action}`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-vigil-csrf': CSRF },
      body: JSON.stringify({ by, reason }),
    });
    if (res.status === 401) return toLogin();
    const body = await res.json().catch(() => ({}));
    if (res.ok) {
      out.className = 'answer ok';
      out.textContent =
        action === 'approve'
          ? `Done: ${body.approved}% approved by ${by}; the plan sets it at its next look.`
          : body.changed === false
            ? `Nothing changed (already ${DONE[action]}).`
            : `Done: ${DONE[action]} by ${by}.`;
      form.elements.reason.value = '';
    } else {
      out.className = 'answer error';
      out.textContent = `${res.status}: ${body.message ?? body.error ?? res.statusText}`;
    }
  } catch (e) {
    out.className = 'answer error';
    out.textContent = `Not sent: ${e.message}`;
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    void refresh();
  }
}

const page = document.body.dataset.page;
if (page === 'list') listPage();
else if (page === 'analysis') analysisPage(document.body.dataset.analysis ?? '');
