/** The OTLP/HTTP server (port 4318): the receiver plugin wired to the pipeline and to Vigil's metrics. */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { RequestSample } from '../contracts/index.js';
import type { CohortRules } from '../ingest/cohort.js';
import { otlpHttpPlugin } from '../ingest/otlp/http-receiver.js';
import { serverLogger } from '../logger.js';
import type { VigilMetrics } from './metrics.js';

export interface OtlpAppDeps {
  logger: Logger;
  metrics: VigilMetrics;
  cohortRules: CohortRules;
  maxBodyBytes: number;
  ingest(samples: RequestSample[]): void;
}

export function buildOtlpApp(deps: OtlpAppDeps): FastifyInstance {
  const log: FastifyBaseLogger = serverLogger(deps.logger, 'otlp-http');
  const app = Fastify({ loggerInstance: log, bodyLimit: deps.maxBodyBytes, return503OnClosing: true });
  void app.register(otlpHttpPlugin, {
    tracesPath: '/v1/traces',
    metricsPath: '/v1/metrics',
    logsPath: '/v1/logs',
    maxBodyBytes: deps.maxBodyBytes,
    cohortRules: deps.cohortRules,
    onTraces: (decoded, encoding) => {
      deps.metrics.spansAccepted.inc({ transport: 'http', encoding }, decoded.spans - decoded.rejectedSpans);
      if (decoded.rejectedSpans > 0) deps.metrics.spansRejected.inc({ transport: 'http', reason: 'invalid' }, decoded.rejectedSpans);
      deps.ingest(decoded.samples);
      return { kind: 'accepted' };
    },
    onDropped: (signal, bytes) => deps.metrics.otlpDropped.inc({ signal }, bytes),
    onRejected: (reason, status) => {
      deps.metrics.requestsRejected.inc({ transport: 'http', status: String(status) });
      deps.logger.debug({ reason, status }, 'OTLP request rejected');
    },
  });
  return app;
}
