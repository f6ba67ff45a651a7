import { z } from 'zod';
import { VigilError } from '../../src/errors.js';
import { DEFAULT_TIMEOUT_MS } from './http.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER } from './signing.js';

/**
 * Validates a connector's `options` with its zod schema. Unknown options are rejected (a typo such as
 * `secrte` must not silently disable signing). The message names each bad option and how to fix it, and
 * never echoes the value given (options hold secrets).
 */
export function parseOptions<S extends z.ZodObject>(type: string, schema: S, options: unknown): z.output<S> {
  const result = schema.safeParse(options ?? {});
  if (result.success) return result.data;
  const known = Object.keys(schema.shape);
  const problems = result.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => `options.${[...issue.path, k].map(String).join('.')}`).join(', ');
      // the known names are listed for top-level options; a nested one is named with its parent
      const hint = issue.path.length === 0 ? ` (known options: ${known.join(', ')})` : '';
      return `unknown option ${keys}: remove it or fix its spelling${hint}`;
    }
    if (issue.path.length === 0 && issue.code === 'invalid_type') {
      return `options must be a mapping of option names to values (known options: ${known.join(', ')})`;
    }
    return `options.${issue.path.map(String).join('.')} ${issue.message}`;
  });
  throw new VigilError('VIGIL_ERR_CONFIG_CONNECTOR_OPTIONS', [`${type}: ${problems.join('; ')}`], {
    details: {
      connectorType: type,
      /** One message per entry of `options` (same order), so a caller can report a subset. */
      problems,
      options: result.error.issues.map((i) =>
        i.code === 'unrecognized_keys'
          ? i.keys.map((k) => [...i.path, k].map(String).join('.')).join(',')
          : i.path.map(String).join('.'),
      ),
    },
  });
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * An absolute http(s) URL. With `httpsOnly`, plain http is accepted for loopback hosts only (local tests):
 * for URLs that are credentials themselves (Slack incoming webhooks) plaintext would leak the secret.
 */
export function httpUrl(what: string, opts: { httpsOnly: boolean }) {
  return z
    .string({ error: (iss) => (iss.input === undefined ? `is required: ${what}` : `must be a string: ${what}`) })
    .superRefine((value, ctx) => {
      let u: URL;
      try {
        u = new URL(value);
      } catch {
        ctx.addIssue({ code: 'custom', message: `is not an absolute URL: set it to ${what}` });
        return;
      }
      if (u.protocol !== 'https:' && u.protocol !== 'http:') {
        ctx.addIssue({ code: 'custom', message: `must use http or https (got ${u.protocol}): set it to ${what}` });
      } else if (opts.httpsOnly && u.protocol === 'http:' && !LOOPBACK.has(u.hostname)) {
        ctx.addIssue({
          code: 'custom',
          message: 'must use https: this URL is a credential and must not travel in clear text',
        });
      }
    });
}

export const timeoutMsOption = z
  .int({ error: 'must be an integer number of milliseconds' })
  .min(1, { error: 'must be at least 1 ms' })
  .max(120_000, { error: 'must be at most 120000 ms (2 min); retries handle slow vendors' })
  .default(DEFAULT_TIMEOUT_MS);

export const secretOption = z
  .string({ error: 'must be a string: the shared HMAC secret, e.g. "${HOOK_SECRET}"' })
  .min(1, { error: 'is empty: remove it to send unsigned events, or set the environment variable it names' })
  .optional();

export const sourceOption = z
  .string({ error: 'must be a string: the CloudEvents source (a URI-reference)' })
  .min(1, { error: 'must not be empty' })
  .optional();

/** Headers the connector sets itself; letting config override them would break signing or framing. */
const RESERVED_HEADERS = new Set([
  'content-type',
  'content-length',
  'host',
  'transfer-encoding',
  'connection',
  'idempotency-key',
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
]);

export const headersOption = z
  .record(
    z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: 'has a header name that is not a valid HTTP token' }),
    z.string({ error: 'values must be strings' }).regex(/^[^\r\n]*$/, { error: 'values must not contain line breaks' }),
    { error: 'must be a mapping of header names to string values' },
  )
  .superRefine((headers, ctx) => {
    for (const name of Object.keys(headers)) {
      if (RESERVED_HEADERS.has(name.toLowerCase())) {
        ctx.addIssue({ code: 'custom', message: `must not set ${name}: Vigil sets it itself` });
      }
    }
  })
  .default({});

/** The options shared by the webhook connector and the webhook notifier. */
export function webhookOptionsSchema(urlPurpose: string) {
  return z.strictObject({
    url: httpUrl(urlPurpose, { httpsOnly: false }),
    secret: secretOption,
    timeoutMs: timeoutMsOption,
    headers: headersOption,
    source: sourceOption,
  });
}
