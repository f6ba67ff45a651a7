/**
 * Promotion plans through a running agent (issue 17): the driver the promotion tests share. A real agent
 * (startTestAgent) is fed real OTel SDK spans of two deployments of `checkout` (baseline 1.0, canary 2.0) over
 * OTLP/HTTP in synthetic time, one look at a time: 10 s of event time with 100 requests per cohort, the baseline at 1%
 * errors, the canary at what the test says for that look. After each look the agent is settled AND every canary share
 * the promotion plan started to set is set and recorded: the connectors are the built-in ones with their
 * `setCanaryShare` observed (each call counted and awaited, nothing changed), since the promoter sets a share after
 * the look, outside `agent.settle()`.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Registries } from '../../src/config/load.js';
import type { ActionContext, AnyConnector, ConnectorFactory, Decision } from '../../src/contracts/index.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';
import { seededRandom } from '../../src/seeded-random.js';
import { auditEntries } from './api-agent.js';
import { type StartedAgent, startTestAgent } from './test-agent.js';

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

export interface PromotionDrive {
  started: StartedAgent;
  /** The agent's decisions so far. */
  decisions: Decision[];
  /** The audit log's entries. */
  audit(): AuditRecord[];
  /** The shares of the audit log's `promote-step` entries, in order. */
  promoteSteps(): number[];
  /** Runs looks until the first decision (and `looksAfterDecision` more), or `maxLooks`. */
  run(hooks: DriveHooks): Promise<void>;
}

const LOOK_MS = 10_000;
const PER_COHORT = 100;

/** The built-in plug-ins, each plan connector's `setCanaryShare` counted and its calls kept until they settle. */
function observedShares(base: Registries) {
  const pending = new Set<Promise<unknown>>();
  let calls = 0;
  const observe = (c: AnyConnector): AnyConnector => {
    if (c.kind === 'notifier' || c.setCanaryShare === undefined) return c;
    const set = c.setCanaryShare.bind(c);
    return {
      ...c,
      setCanaryShare(percent: number, ctx: ActionContext) {
        calls++;
        const p = set(percent, ctx);
        pending.add(p);
        void p.then(
          () => pending.delete(p),
          () => pending.delete(p),
        );
        return p;
      },
    };
  };
  const planConnectors = new Map<string, ConnectorFactory>();
  for (const [type, f] of base.planConnectors)
    planConnectors.set(type, { ...f, create: (name, options, deps) => observe(f.create(name, options, deps)) });
  return {
    registries: { ...base, planConnectors },
    calls: () => calls,
    async settled(): Promise<void> {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}

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

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Starts an agent with `config` (after its audit log) and the two deployments; everything goes into `cleanups`. */
export async function promotionDrive(config: string, name: string, cleanups: Cleanups): Promise<PromotionDrive> {
  const shares = observedShares(BUILTIN_REGISTRIES);
  const started = await startTestAgent(config, name, shares.registries);
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
  const rand = seededRandom(17);
  const T0 = Math.floor(Date.now() / LOOK_MS) * LOOK_MS - 3_600_000;
  const auditPath = join(started.dir, 'audit.jsonl');
  // the log is created by its first entry
  const audit = () => (existsSync(auditPath) && statSync(auditPath).size > 0 ? auditEntries(auditPath) : []);
  const stepsRecorded = () => audit().filter((e) => e.type === 'promote-step' || e.type === 'promote-step-failed');

  /** Settles the agent, then waits for the shares the promoter set after the look, and for their audit entries. */
  const settle = async () => {
    await started.agent.settle();
    await shares.settled();
    await until('the promote-step entries', () => stepsRecorded().length >= shares.calls());
  };

  const look = async (n: number, canaryErrors: number) => {
    for (const [d, errors] of [
      [cohorts[0], 0.01],
      [cohorts[1], canaryErrors],
    ] as const) {
      for (let i = 0; i < PER_COHORT; i++) {
        const end = T0 + n * LOOK_MS + i * 100;
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
    decisions,
    audit,
    promoteSteps: () => audit().flatMap((e) => (e.type === 'promote-step' ? [e.share as number] : [])),
    async run(hooks) {
      let after = hooks.looksAfterDecision ?? 0;
      for (let n = 0; n < (hooks.maxLooks ?? 40); n++) {
        if (decisions.length > 0 && after-- === 0) break;
        await look(n, await hooks.canaryErrors(n));
        await hooks.afterLook?.(n);
      }
      await settle();
    },
  };
}
