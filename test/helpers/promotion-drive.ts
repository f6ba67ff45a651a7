/**
 * Promotion plans through a running agent (issue 17): the driver the promotion tests share. A real agent
 * (startTestAgent) is fed real OTel SDK spans of two deployments of `checkout` (baseline 1.0, canary 2.0) over
 * OTLP/HTTP in synthetic time, one look at a time: 10 s of event time with 100 requests per cohort, the baseline at 1%
 * errors, the canary at what the test says for that look. After each look the agent is settled: `agent.settle()` also
 * waits for the shares the promotion plan started to set after the look, and their audit entries. A drive can continue
 * another after its agent stopped (`continues`): a new agent on the same audit log and checkpoint, the same synthetic
 * clock, the looks numbered on.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Decision } from '../../src/contracts/index.js';
import { seededRandom } from '../../src/seeded-random.js';
import { auditEntries } from './api-agent.js';
import { type StartedAgent, startTestAgent } from './test-agent.js';

/**
 * The promotion tests' config: 10 s looks, 1 s lateness, minSamples 25, alpha 0.01, a `noop` traffic connector
 * `router` as the plan and the rollback, and `checkout`'s promotion plan (`promote`, YAML flow text); `extra` is
 * appended (server, queue, cluster, notifiers).
 */
export function promotionConfig(
  promote = '{ via: router, steps: [10, 50, 100], minLooksPerStep: 2, approve: [50] }',
  extra = 'server: { auth: { open: true } }',
): string {
  return `
analysis: { interval: 10s, allowedLateness: 1s, minSamples: 25, maxDuration: 1h, alpha: 0.01 }
connectors: [{ name: router, type: noop, options: { kind: traffic } }]
plan: [router]
rollouts:
  - service: checkout
    promote: ${promote}
${extra}
`;
}

/** What a test cleans up after itself (afterEach runs them in reverse). */
export type Cleanups = (() => Promise<void>)[];

export type AuditRecord = Record<string, unknown>;

export interface DriveHooks {
  /** The canary's error rate in the requests of look `look` (0, 1, …), asked before they are sent. */
  canaryErrors(look: number): number | Promise<number>;
  /** After look `look`: the agent settled, every share the plan started is set and in the audit log. */
  afterLook?(look: number): void | Promise<void>;
  /** Looks to run after the first decision (0): what the plan does once the analysis is decided. */
  looksAfterDecision?: number;
  /** The drive gives up after this many looks (40). */
  maxLooks?: number;
}

export interface DriveOptions {
  /** A drive whose agent stopped: this one's agent starts again on its directory (audit log, checkpoint), and its
   *  looks go on from the next one in the same synthetic time. */
  continues?: PromotionDrive;
  /** The seed of the requests' errors (17). */
  seed?: number;
}

export interface PromotionDrive {
  started: StartedAgent;
  /** The synthetic clock: look n's requests end in [t0 + n × 10 s, t0 + n × 10 s + 9.9 s]; `next` is the next look. */
  readonly clock: { readonly t0: number; readonly next: number };
  /** The agent's decisions so far. */
  decisions: Decision[];
  /** The audit log's entries. */
  audit(): AuditRecord[];
  /** The shares of the audit log's `promote-step` entries, in order. */
  promoteSteps(): number[];
  /** Runs looks (from `clock.next`) until the first decision (and `looksAfterDecision` more), or `maxLooks`. */
  run(hooks: DriveHooks): Promise<void>;
}

const LOOK_MS = 10_000;
const PER_COHORT = 100;

function deployment(url: string, version: string, cohort: string, cleanups: Cleanups) {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'checkout',
      'service.version': version,
      'vigil.cohort': cohort,
    }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${url}/v1/traces` }), {
        maxQueueSize: 4096,
        maxExportBatchSize: 1024,
        scheduledDelayMillis: 60_000,
      }),
    ],
  });
  cleanups.push(() => provider.shutdown());
  return { provider, tracer: provider.getTracer('@shop/http') };
}

/** Starts an agent with `config` (after its audit log) and the two deployments; everything goes into `cleanups`. */
export async function promotionDrive(
  config: string,
  name: string,
  cleanups: Cleanups,
  opts: DriveOptions = {},
): Promise<PromotionDrive> {
  const started = await startTestAgent(config, name, opts.continues?.started.dir);
  cleanups.push(async () => {
    await started.agent.stop();
    rmSync(started.dir, { recursive: true, force: true });
  });
  const decisions: Decision[] = [];
  started.agent.onDecision((d) => decisions.push(d));
  const cohorts = [
    deployment(started.otlpHttpUrl, '1.0', 'baseline', cleanups),
    deployment(started.otlpHttpUrl, '2.0', 'canary', cleanups),
  ] as const;
  const rand = seededRandom(opts.seed ?? 17);
  const clock = {
    t0: opts.continues?.clock.t0 ?? Math.floor(Date.now() / LOOK_MS) * LOOK_MS - 3_600_000,
    next: opts.continues?.clock.next ?? 0,
  };
  const auditPath = join(started.dir, 'audit.jsonl');
  // the log is created by its first entry
  const audit = () => (existsSync(auditPath) && statSync(auditPath).size > 0 ? auditEntries(auditPath) : []);
  const settle = () => started.agent.settle();

  const look = async (n: number, canaryErrors: number) => {
    for (const [d, errors] of [
      [cohorts[0], 0.01],
      [cohorts[1], canaryErrors],
    ] as const) {
      for (let i = 0; i < PER_COHORT; i++) {
        const end = clock.t0 + n * LOOK_MS + i * 100;
        const s = d.tracer.startSpan('GET /cart', { kind: SpanKind.SERVER, startTime: end - 20 });
        if (rand() < errors) s.setStatus({ code: SpanStatusCode.ERROR });
        s.end(end);
      }
    }
    await Promise.all(cohorts.map((d) => d.provider.forceFlush()));
    await settle();
  };

  return {
    started,
    clock,
    decisions,
    audit,
    promoteSteps: () => audit().flatMap((e) => (e.type === 'promote-step' ? [e.share as number] : [])),
    async run(hooks) {
      let after = hooks.looksAfterDecision ?? 0;
      const until = clock.next + (hooks.maxLooks ?? 40);
      for (let n = clock.next; n < until; n++) {
        if (decisions.length > 0 && after-- === 0) break;
        await look(n, await hooks.canaryErrors(n));
        clock.next = n + 1;
        await hooks.afterLook?.(n);
      }
      await settle();
    },
  };
}
