/**
 * The agent's OTLP receivers: OTLP/HTTP (fastify) and OTLP/gRPC, behind one ingest queue (the gate), with
 * large trace bodies decoded in worker threads (the decode pool), handing what they decode to the intake.
 */
import { availableParallelism } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { VigilConfig } from '../config/schema.js';
import type { VigilMetrics } from '../http/metrics.js';
import { buildOtlpApp, metricsConsumer, tracesConsumer, type OtlpAppDeps } from '../http/otlp-app.js';
import { DecodePool } from '../ingest/admission/decode-pool.js';
import { IngestGate } from '../ingest/admission/gate.js';
import { grpcAdmissionInterceptor } from '../ingest/admission/grpc-interceptor.js';
import { createOtlpGrpcReceiver, type OtlpGrpcReceiver } from '../ingest/otlp/grpc-receiver.js';
import type { Intake } from './intake.js';

export interface ReceiversOptions {
  config: Readonly<VigilConfig>;
  logger: Logger;
  metrics: VigilMetrics;
  intake: Intake;
  /** Listen ports instead of the config's (tests use 0). When given, an unnamed otlpGrpc port is 0 (ephemeral). */
  ports?: { otlpHttp?: number; otlpGrpc?: number };
  /** Cluster mode: admits each request's services (src/agent/cluster-node.ts). */
  admit?: OtlpAppDeps['admit'];
}

export interface Receivers {
  readonly otlpApp: FastifyInstance;
  readonly otlpGrpc: OtlpGrpcReceiver;
  /** The ingest queue shared by the OTLP receivers. */
  readonly gate: IngestGate;
  /** Decodes large trace bodies in worker threads (ingest.workerDecodeBytes). */
  readonly decodePool: DecodePool;
  listen(): Promise<{ otlpHttpUrl: string; otlpGrpcAddress: string }>;
  /** Stops accepting OTLP (running gRPC calls get 5 s), then stops the decode workers. */
  close(): Promise<void>;
}

function gateOf(config: Readonly<VigilConfig>): IngestGate {
  return new IngestGate({
    maxBytes: config.ingest.maxInflightBytes,
    maxRequests: config.ingest.maxInflightRequests,
    retryAfterSeconds: Math.max(1, Math.ceil(config.ingest.retryAfter / 1000)),
  });
}

function decodePoolOf(config: Readonly<VigilConfig>, intake: Intake): DecodePool {
  const { workerDecodeBytes, decodeWorkers } = config.ingest;
  return new DecodePool({
    rules: intake.cohortRules,
    workers: decodeWorkers > 0 ? decodeWorkers : Math.min(4, Math.max(1, availableParallelism() - 1)),
    minBytes: workerDecodeBytes > 0 ? workerDecodeBytes : Number.POSITIVE_INFINITY,
  });
}

export function createReceivers(opts: ReceiversOptions): Receivers {
  const { config, logger, metrics, intake } = opts;
  const { ingest, cohortRules } = intake;
  const { admit } = opts;
  const ingestConfig = config.ingest;
  const ingestMetrics = metricsConsumer({
    metrics,
    metricsIngest: intake.metricsIngest,
    ingestBatches: intake.ingestBatches,
    admit,
  });
  const gate = gateOf(config);
  const decodePool = decodePoolOf(config, intake);
  const decodeTraces = (body: Buffer, encoding: 'protobuf' | 'json') => decodePool.decode(body, encoding);
  const otlpApp = buildOtlpApp({
    logger,
    metrics,
    cohortRules,
    maxBodyBytes: config.server.maxBodyBytes,
    timeouts: {
      headersMs: ingestConfig.headersTimeout,
      bodyMs: ingestConfig.bodyTimeout,
      idleMs: ingestConfig.idleTimeout,
    },
    ingest,
    admit,
    gate,
    ingestMetrics,
    decodeTraces,
  });
  const onGrpcRejected = (reason: string, code: number) => {
    metrics.requestsRejected.inc({ transport: 'grpc', status: String(code) });
    logger.debug({ reason, code }, 'OTLP/gRPC request rejected');
  };
  const otlpGrpc = createOtlpGrpcReceiver({
    host: config.server.otlpGrpc.host,
    port: opts.ports?.otlpGrpc ?? (opts.ports !== undefined ? 0 : config.server.otlpGrpc.port),
    maxMessageBytes: config.server.maxBodyBytes,
    cohortRules,
    messageTimeoutMs: ingestConfig.bodyTimeout,
    maxConcurrentStreams: ingestConfig.maxStreamsPerConnection,
    idleTimeoutMs: ingestConfig.idleTimeout,
    admission: grpcAdmissionInterceptor({
      gate,
      maxMessageBytes: config.server.maxBodyBytes,
      onThrottled: (reason) => metrics.ingestThrottled.inc({ transport: 'grpc', reason }),
      onRejected: onGrpcRejected,
      onChange: () => {
        const g = gate.stats();
        metrics.ingestInflightRequests.set(g.inFlightRequests);
        metrics.ingestInflightBytes.set(g.inFlightBytes);
      },
    }),
    onTraces: tracesConsumer({ metrics, ingest, admit }, 'grpc'),
    decodeTraces,
    onMetrics: ingestMetrics,
    onDropped: (signal, bytes) => metrics.otlpDropped.inc({ signal }, bytes),
    onRejected: onGrpcRejected,
    onInternalError: (err) => logger.error({ err }, 'OTLP/gRPC request failed'),
  });
  return {
    otlpApp,
    otlpGrpc,
    gate,
    decodePool,
    async listen() {
      const otlpHttpUrl = await otlpApp.listen({
        host: config.server.otlpHttp.host,
        port: opts.ports?.otlpHttp ?? config.server.otlpHttp.port,
      });
      const { address: otlpGrpcAddress } = await otlpGrpc.listen();
      return { otlpHttpUrl, otlpGrpcAddress };
    },
    async close() {
      await Promise.all([otlpApp.close(), otlpGrpc.close(5_000)]);
      await decodePool.close();
    },
  };
}
