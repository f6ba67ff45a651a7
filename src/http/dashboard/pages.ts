/**
 * The dashboard's HTML (issue 15): the login form, and the shells of the list and analysis pages that the browser
 * code (client/dashboard.js) fills from the JSON API and keeps up to date. Server-rendered parts are escaped
 * (`esc`); the shells carry what the script needs in <meta> tags and data attributes: the session's CSRF token, the
 * analysis id. The action form is only rendered for a caller with the `operate` scope.
 */
import type { Caller } from '../auth.js';
import { assetUrl } from './static-assets.js';

/** Escapes text for HTML content and double- or single-quoted attribute values. */
export const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Who is looking, and how they came in. */
export interface PageContext {
  caller: Caller;
  /** The session's CSRF token (a browser session); absent for a bearer token or an open API. */
  csrf?: string;
  /** `server.auth.open`: no login. */
  open: boolean;
}

/** How often the pages poll the API, in ms. */
export const POLL_MS = 3000;

function layout(title: string, body: { attrs: string; main: string }, ctx?: PageContext, extraHead = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><link rel="icon" href="${assetUrl('icon.svg')}" type="image/svg+xml">
<link rel="stylesheet" href="${assetUrl('dashboard.css')}">${extraHead}</head>
<body${body.attrs}><header class="top"><a class="brand" href="/">Vigil</a>${ctx ? who(ctx) : ''}</header>
<main>${body.main}</main></body></html>
`;
}

function who(ctx: PageContext): string {
  const scopes = esc(ctx.caller.scopes.join(', '));
  if (ctx.open) return `<span class="who">open API (server.auth.open): no login</span>`;
  const name = `<span class="who">${esc(ctx.caller.name)} · ${scopes}</span>`;
  if (ctx.csrf === undefined) return `${name}`;
  return `${name}<form method="post" action="/logout"><input type="hidden" name="csrf" value="${esc(ctx.csrf)}"><button type="submit">Log out</button></form>`;
}

/** The <head> additions of a page the script drives. */
const scriptHead = (ctx: PageContext): string =>
  `<meta name="vigil-csrf" content="${esc(ctx.csrf ?? '')}"><meta name="vigil-caller" content="${esc(ctx.caller.name)}"><meta name="vigil-scopes" content="${esc(ctx.caller.scopes.join(' '))}"><meta name="vigil-poll-ms" content="${POLL_MS}">
<script type="module" src="${assetUrl('dashboard.js')}"></script>`;

const NOSCRIPT =
  '<noscript><p class="card">This page draws its plots with JavaScript. The same data as JSON: <a href="/api/v1/analyses">/api/v1/analyses</a>, <a href="/api/v1/decisions">/api/v1/decisions</a>.</p></noscript>';

/** `/`: the analyses, newest first. */
export function listPage(ctx: PageContext): string {
  return layout(
    'Vigil',
    {
      attrs: ' data-page="list"',
      main: `<h1>Analyses</h1><p class="sub">Each canary against its baseline, newest first. <span class="live" id="live" role="status">loading…</span></p>
${NOSCRIPT}<div id="analyses"></div><div id="drills"></div>
<footer>JSON: <a href="/api/v1/analyses">/api/v1/analyses</a> · <a href="/api/v1/decisions">/api/v1/decisions</a></footer>`,
    },
    ctx,
    scriptHead(ctx),
  );
}

/** `/analyses/:id`: one analysis's summary, plots over looks, decision, verdicts and, for `operate`, the actions. */
export function analysisPage(ctx: PageContext, id: string): string {
  const json = `/api/v1/analyses/${encodeURIComponent(id)}`;
  return layout(
    `${id} · Vigil`,
    {
      attrs: ` data-page="analysis" data-analysis="${esc(id)}"`,
      main: `<p class="sub"><a href="/">← Analyses</a> · <span class="live" id="live" role="status">loading…</span></p>
${NOSCRIPT}<div id="summary"><section class="card"><h1>${esc(id)}</h1></section></div>
<div class="grid2"><div id="decision"></div>${actions(ctx)}</div>
<div id="plots"></div><div id="verdicts"></div>
<footer>JSON: <a href="${esc(json)}">${esc(json)}</a> · <a href="${esc(json)}/looks">looks</a></footer>`,
    },
    ctx,
    scriptHead(ctx),
  );
}

function actions(ctx: PageContext): string {
  if (!ctx.caller.scopes.includes('operate'))
    return `<section class="card" id="actions"><h2>Actions</h2><p class="small" id="read-only">Read only: ${ctx.open ? 'this API' : `the token ${esc(ctx.caller.name)}`} has the scopes [${esc(ctx.caller.scopes.join(', '))}]; pausing, resuming, rolling back, promoting or approving a promotion step needs <code>operate</code>.</p></section>`;
  const by = ctx.open ? '' : esc(ctx.caller.name);
  return `<section class="card" id="actions"><h2>Actions</h2>
<form class="actions" id="actions-form" method="post">
<label>by<input name="by" required maxlength="200" value="${by}" autocomplete="name"></label>
<label>reason (recorded verbatim in the audit log)<textarea name="reason" required maxlength="2000" placeholder="why, for whoever reads the audit log"></textarea></label>
<div class="buttons"><button class="act" type="submit" name="action" value="pause">Pause</button><button class="act" type="submit" name="action" value="resume">Resume</button><button class="act rollback" type="submit" name="action" value="rollback">Roll back</button><button class="act promote" type="submit" name="action" value="promote">Promote</button><button class="act approve" type="submit" name="action" value="approve" id="approve-button" hidden title="let the promotion plan set the share it waits at">Approve step</button></div>
<output class="answer" role="status"></output>
</form></section>`;
}

/** `/login`: the token form, with a generic error after a failed attempt. */
export function loginPage(opts: { next: string; error?: string }): string {
  return layout('Log in · Vigil', {
    attrs: '',
    main: `<section class="card login"><h1>Log in</h1>
<p class="small">Paste an API token (<code>server.auth.tokens</code>). The browser keeps a session cookie, not the token.</p>
${opts.error ? `<p class="error" role="alert">${esc(opts.error)}</p>` : ''}
<form method="post" action="/login"><input type="hidden" name="next" value="${esc(opts.next)}">
<input type="password" name="token" required autocomplete="current-password" placeholder="token" aria-label="token" autofocus>
<button type="submit">Log in</button></form></section>`,
  });
}
