import { z } from 'zod';

/**
 * Option pieces shared by the flag connectors. Messages say what to set and never echo the value given
 * (credentials come from `${ENV}` and must not reach logs or startup errors).
 */

/** A vendor identifier (project, flag, environment): non-empty, no whitespace or control characters. */
export function keyOption(what: string) {
  return z
    .string({ error: (iss) => (iss.input === undefined ? `is required: ${what}` : `must be a string: ${what}`) })
    .min(1, { error: `must not be empty: ${what}` })
    .regex(/^[^\s\p{Cc}]+$/u, { error: `must not contain spaces or control characters: ${what}` });
}

/** A credential sent in a header: non-empty and on one line (a line break would inject headers). */
export function credentialOption(what: string) {
  return z
    .string({ error: (iss) => (iss.input === undefined ? `is required: ${what}` : `must be a string: ${what}`) })
    .min(1, { error: 'is empty: set the environment variable it names' })
    .regex(/^[^\r\n]*$/, { error: 'must not contain line breaks' })
    .refine((v) => v.trim() === v, { error: 'must not start or end with whitespace (check the environment variable)' });
}
