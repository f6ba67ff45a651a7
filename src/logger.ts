import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';

/**
 * Paths redacted from every log line. Secrets come from the environment into config (tokens, webhook
 * secrets, URLs with credentials) and must never reach logs.
 */
export const REDACT_PATHS = [
  'secret',
  '*.secret',
  '*.*.secret',
  'token',
  '*.token',
  'tokens',
  '*.tokens',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'webhookUrl',
  '*.webhookUrl',
  '*.*.webhookUrl',
  'redis',
  '*.redis',
  'routingKey',
  '*.routingKey',
  'apiKey',
  '*.apiKey',
];

export interface LoggerConfig {
  level?: string;
  /** Pretty output is left to `pino-pretty` by the user; Vigil writes JSON lines. */
  destination?: DestinationStream;
}

export function createLogger(cfg: LoggerConfig = {}): Logger {
  const opts: LoggerOptions = {
    level: cfg.level ?? process.env.VIGIL_LOG_LEVEL ?? 'info',
    base: { app: 'vigil' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return cfg.destination ? pino(opts, cfg.destination) : pino(opts);
}

/** A logger that writes nothing (tests, CLI commands whose stdout is data). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export type { Logger };

/** A child logger for a server framework: request-level chatter (info) is dropped, warnings kept. */
export function serverLogger(parent: Logger, server: string): Logger {
  return parent.child({ server }, { level: parent.levelVal > 40 ? parent.level : 'warn' });
}
