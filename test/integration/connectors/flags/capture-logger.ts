import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/**
 * A debug-level logger WITHOUT redaction that keeps every line, so a test can prove a connector never
 * hands a secret to its logger (redaction is a second line of defence, not the first).
 */
export function captureLogger(): { logger: Logger; text: () => string } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), text: () => lines.join('') };
}
