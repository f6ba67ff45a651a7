/**
 * THE redaction of connector secrets, wherever a connector's URL or options could be shown: the audit log (the
 * `detail` of plan steps, the errors of failed steps), chat notifications that echo them, log lines, error
 * messages that wrap a vendor's answer, and `vigil connectors test`. Connectors build the URLs they show with
 * `redactUrl`; `connectors/shared/http.ts` scrubs `urlSecrets` out of every error it raises; the plan runner
 * scrubs `secretValues` of the whole config out of every detail and error it records (src/agent/actions.ts).
 *
 * What counts as secret in a URL: user info (`user:pass@`); a path segment that looks generated (long, or letters
 * and digits mixed at 16+ characters) or that ends a webhook path (the last segment after `hooks`, `webhooks` or
 * `services`: Slack `/services/T…/B…/<token>`, Discord `/api/webhooks/<id>/<token>`, Mattermost `/hooks/<key>`);
 * the value of a query parameter with a secret-looking name (`token`, `key`, `sig`, `code`…) or a token-looking
 * value; the fragment. Over-redaction is the safe side: a plain `/hooks/deploy` shows as `/hooks/****`.
 */

/** Query parameters whose values are credentials (`?token=`, `&sig=`, `api_key`, `code`…). */
const SECRET_PARAM = /token|key|secret|sig|signature|code|auth|password|passwd|pwd|credential/i;

/** Option names whose string values are credentials, or URLs and headers that may hold one. */
const SECRET_KEY = /secret|token|password|passwd|key|url|auth|header|credential|cookie/i;

/** Path segments after which the last segment of a path is the webhook's credential. */
const WEBHOOK_MARKERS = new Set(['hooks', 'webhooks', 'services']);

/** Shorter secrets are hidden in URLs but not searched for in free text (they would match ordinary words). */
const MIN_TEXT_SECRET = 4;

const HIDDEN = '****';

function decoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A path segment or value that looks generated rather than named: long, or mixing letters and digits at length 16+. */
export function looksLikeToken(s: string): boolean {
  const plain = decoded(s);
  return plain.length >= 32 || (plain.length >= 16 && /[0-9]/.test(plain) && /[A-Za-z]/.test(plain));
}

function parse(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** Which segments of a path (split on "/") are secret: 'token' (looks generated), 'last' (ends a webhook path). */
function secretSegments(segments: readonly string[]): ('token' | 'last' | undefined)[] {
  let last = segments.length - 1;
  while (last >= 0 && segments[last] === '') last--;
  const marked = segments.slice(0, Math.max(0, last)).some((s) => WEBHOOK_MARKERS.has(s.toLowerCase()));
  return segments.map((seg, i) =>
    seg === '' ? undefined : looksLikeToken(seg) ? 'token' : marked && i === last ? 'last' : undefined,
  );
}

/** A plain word ("rollback", "deploy-hook"): hidden in a URL, but not searched for in text, where it is a word. */
const PLAIN_WORD = /^[A-Za-z]+(?:[-_.][A-Za-z]+)*$/;

const secretParam = (key: string, value: string) => SECRET_PARAM.test(key) || looksLikeToken(value);

/**
 * A URL as Vigil shows it anywhere: scheme, host and port kept (where it goes); user info and fragment dropped;
 * secret path segments and the values of secret query parameters replaced by "****". E.g. a Slack incoming
 * webhook `https://hooks.slack.com/services/T0AB12CDE/B0AB12CDE/nq8Xr4…` shows as
 * `https://hooks.slack.com/services/T0AB12CDE/B0AB12CDE/****`. Not a URL: "(not a URL)".
 */
export function redactUrl(url: string): string {
  const u = parse(url);
  if (!u) return '(not a URL)';
  const segments = u.pathname.split('/');
  const hidden = secretSegments(segments);
  const path = segments.map((seg, i) => (hidden[i] ? HIDDEN : seg)).join('/');
  const query = [...u.searchParams.entries()]
    .map(([k, v]) => `${encodeURIComponent(k)}=${secretParam(k, v) ? HIDDEN : encodeURIComponent(v)}`)
    .join('&');
  return `${u.protocol}//${u.host}${path}${query ? `?${query}` : ''}`;
}

/** Scheme, host and port only: for URLs that are credentials as a whole (chat incoming webhooks). */
export function originOf(url: string): string {
  const u = parse(url);
  return u ? `${u.protocol}//${u.host}` : '(not a URL)';
}

/**
 * The parts of a URL that `redactUrl` hides, as they may appear in text (as written and decoded): user info,
 * secret path segments, secret query values, the fragment; a plain word ending a webhook path (`/hooks/deploy`)
 * and parts shorter than 4 characters are left out, as they would match ordinary text. Empty for a string that
 * is not a URL.
 */
export function urlSecrets(url: string): string[] {
  const u = parse(url);
  if (!u) return [];
  const found: string[] = [];
  const both = (s: string) => found.push(s, decoded(s));
  if (u.username) both(u.username);
  if (u.password) both(u.password);
  const segments = u.pathname.split('/');
  const hidden = secretSegments(segments);
  segments.forEach((seg, i) => {
    if (hidden[i] === 'token' || (hidden[i] === 'last' && !PLAIN_WORD.test(decoded(seg)))) both(seg);
  });
  for (const pair of u.search.slice(1).split('&')) {
    const [k = '', v = ''] = pair.split('=', 2);
    if (v && secretParam(decoded(k), decoded(v))) both(v);
  }
  if (u.hash.length > 1) both(u.hash.slice(1));
  return [...new Set(found)].filter((s) => s.length >= MIN_TEXT_SECRET);
}

/**
 * Every secret in a connector's options: the whole value of a string under a secret-looking key (`secret`,
 * `token`, `apiKey`, `headers`…), except a URL, of which only `urlSecrets` are (and of every URL anywhere in
 * the options). Values shorter than 4 characters are left out (they would match ordinary words).
 */
export function secretValues(options: unknown, underSecret = false): string[] {
  if (typeof options === 'string') {
    const u = /^[a-z][a-z0-9+.-]*:\/\//i.test(options) ? parse(options) : undefined;
    if (u) return urlSecrets(options);
    return underSecret && options.length >= MIN_TEXT_SECRET ? [options] : [];
  }
  if (Array.isArray(options)) return options.flatMap((v) => secretValues(v, underSecret));
  if (options && typeof options === 'object') {
    return Object.entries(options).flatMap(([k, v]) => secretValues(v, underSecret || SECRET_KEY.test(k)));
  }
  return [];
}

/** Replaces every secret (longest first) with `as` (default "[redacted]"). O(text × secrets). */
export function redact(text: string, secrets: readonly string[], as = '[redacted]'): string {
  let out = text;
  for (const s of [...new Set(secrets)].sort((a, b) => b.length - a.length)) {
    if (s.length > 0) out = out.split(s).join(as);
  }
  return out;
}

/** Scrubs `secrets` out of an error's message and stack, in place (and out of its causes'), and returns it. */
export function scrubError<E>(err: E, secrets: readonly string[], as = '[redacted]'): E {
  if (secrets.length === 0) return err;
  const seen = new Set<unknown>();
  for (let e: unknown = err; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    const message = redact(e.message, secrets, as);
    if (message !== e.message) e.message = message;
    if (e.stack !== undefined) {
      const stack = redact(e.stack, secrets, as);
      if (stack !== e.stack) e.stack = stack;
    }
  }
  return err;
}
