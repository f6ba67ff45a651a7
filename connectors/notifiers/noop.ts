import { z } from 'zod';
import type { ConnectorFactory, Notification, Notifier } from '../../src/contracts/connector.js';
import type { Logger } from 'pino';
import { abortedError } from '../shared/http.js';
import { parseOptions } from '../shared/options.js';

const schema = z.strictObject({});

export type NoopNotifierOptions = z.output<typeof schema>;

/** A notifier that sends nothing and records nothing (tests, replay, setups without chat). No options. */
export const noopNotifierFactory: ConnectorFactory<NoopNotifierOptions> = {
  type: 'noop',
  kind: 'notifier',
  parse: (options) => parseOptions('noop', schema, options),
  create(name: string): Notifier {
    return {
      name,
      type: 'noop',
      kind: 'notifier',
      post(_n: Notification, ctx: { logger: Logger; signal: AbortSignal; dryRun: boolean }): Promise<void> {
        return ctx.signal.aborted ? Promise.reject(abortedError('noop', ctx.signal)) : Promise.resolve();
      },
      healthCheck: () => Promise.resolve(),
    };
  },
};
