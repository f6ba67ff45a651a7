/**
 * The one way a Redis URL is shown in logs and messages: username and password masked. Shared by the job queue
 * (src/jobs/) and the state store (src/state/); imports nothing.
 */

/** `redis://user:secret@host:6379/0` → `redis://***:***@host:6379/0`; unparsable input → `[unparsable url]`. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username) u.username = '***';
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[unparsable url]';
  }
}
