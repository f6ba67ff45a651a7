/**
 * Names across logs and metrics: a rollback plan runs through the real plan runner, the real queues (embedded, and
 * BullMQ on the test Redis with a per-test prefix) and real connectors (flagd file, webhook connector, a webhook to a
 * closed port that fails, Slack and webhook notifiers against a local receiver), with the agent's logger writing
 * into an array and the agent's metrics wiring (jobOutcomeMetrics, recordQueueStats).
 * - every raw log line has each key once (at every depth);
 * - the `queue` key of the job log lines and of the queue's own lines has exactly the values of the `queue` label of
 *   vigil_jobs_total, vigil_queue_jobs and vigil_queue_lag_seconds (the queue names);
 * - each job attempt's outcome line (queue, outcome, connector) is counted once in vigil_jobs_total with the same
 *   labels.
 */
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterEach, beforeAll, afterAll, describe, expect, it, inject } from 'vitest';
import { webhookConnectorFactory } from '../../../connectors/webhooks/webhook.js';
import { flagdFactory } from '../../../connectors/flags/flagd.js';
import { slackNotifierFactory } from '../../../connectors/notifiers/slack.js';
import { webhookNotifierFactory } from '../../../connectors/notifiers/webhook.js';
import type { ConnectorFactory } from '../../../src/contracts/connector.js';
import { createMetrics, jobOutcomeMetrics, recordQueueStats } from '../../../src/http/metrics.js';
import { createQueue } from '../../../src/jobs/create-queue.js';
import { createPlanRunner, type NotifyJob, type PlanRunner, type StepJob } from '../../../src/jobs/plan-runner.js';
import type { JobQueue } from '../../../src/jobs/queue.js';
import { captureLogs, duplicateKeys } from '../../helpers/log-lines.js';
import { asNotifier, asPlan, deps, rollbackDecision } from '../../helpers/connectors/fixtures.js';
import { HttpPeer, closedPortUrl } from '../../helpers/http-peer.js';

const FLAGS = new URL('../../../fixtures/flags/flagd-flags.json', import.meta.url);

function build<O>(f: ConnectorFactory<O>, name: string, options: unknown) {
  return f.create(name, f.parse(options), deps);
}

describe.each([{ adapter: 'embedded' }, { adapter: 'bullmq' }])('job names on the $adapter queue', ({ adapter }) => {
  let receiver: HttpPeer;
  let dir: string;
  let runner: PlanRunner | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    receiver = await HttpPeer.start();
    dir = mkdtempSync(join(tmpdir(), 'vigil-job-names-'));
  });
  afterEach(async () => {
    await runner?.close();
    runner = undefined;
    await cleanup?.();
    cleanup = undefined;
  });
  afterAll(async () => {
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs each key once and the same queue names, outcomes and connectors as the metrics', async () => {
    const logs = captureLogs('debug');
    const metrics = createMetrics({ defaultMetrics: false });
    const prefix = `vigil-test-${randomUUID()}`;
    const redisUrl = adapter === 'bullmq' ? inject('redisUrl') : undefined;
    const policy = { attempts: 2, backoffMs: 10 };
    const opts = { redisUrl, prefix, logger: logs.logger };
    const actions: JobQueue<StepJob> = createQueue<StepJob>('actions', policy, opts);
    const notifications: JobQueue<NotifyJob> = createQueue<NotifyJob>('notifications', policy, opts);
    cleanup = async () => {
      if (adapter !== 'bullmq') return;
      await Promise.all(
        ['actions', 'notifications'].map(async (name) => {
          const admin = new Queue(name, { connection: { url: inject('redisUrl') }, prefix });
          try {
            await admin.obliterate({ force: true });
          } finally {
            await admin.close();
          }
        }),
      );
    };

    const flagFile = join(dir, `flags-${adapter}.json`);
    copyFileSync(FLAGS, flagFile);
    const connectors = [
      asPlan(build(flagdFactory, 'kill-flag', { path: flagFile, flag: 'checkout-v2', variant: 'baseline' })),
      asPlan(build(webhookConnectorFactory, 'hook', { url: `${receiver.url}/rollback` })),
      asPlan(build(webhookConnectorFactory, 'broken', { url: await closedPortUrl(), timeoutMs: 1_000 })),
    ];
    const notifiers = [
      asNotifier(build(slackNotifierFactory, 'chat', { webhookUrl: `${receiver.url}/services/T0/B0/x` })),
      asNotifier(build(webhookNotifierFactory, 'events', { url: `${receiver.url}/events` })),
    ];
    runner = createPlanRunner({
      actions,
      notifications,
      connectors: new Map(connectors.map((c) => [c.name, c])),
      notifiers,
      audit: { append: () => Promise.resolve() },
      logger: logs.logger,
      dryRun: false,
      stepTimeoutMs: 5_000,
      metrics: jobOutcomeMetrics(metrics),
    });
    runner.start();
    await runner.dispatch(rollbackDecision({ id: `dec-${adapter}`, plan: ['kill-flag', 'hook', 'broken'] }));
    await actions.drain(15_000);
    await notifications.drain(15_000);
    await recordQueueStats(metrics, [actions, notifications]);

    // each key once, in every line (connectors log through the job's logger)
    const raw = logs.raw();
    expect(raw.length).toBeGreaterThan(10);
    for (const line of raw) expect(duplicateKeys(line), line).toEqual([]);

    const lines = logs.parsed();
    const jobLines = lines.filter((l) => l.jobId !== undefined);
    // the connectors' own lines (flag set, event delivered, vendor answered, posted) are job lines too
    expect(jobLines.map((l) => l.msg)).toEqual(
      expect.arrayContaining([
        'flag set to its rollback state',
        'rollback event delivered',
        'rollback step applied',
        'rollback step failed; will retry',
        'rollback step failed for good; plan stops',
        'notification handled',
        'vendor answered',
      ]),
    );
    for (const l of jobLines) expect(['actions', 'notifications'], JSON.stringify(l)).toContain(l.queue);
    const queueLines = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('job queue'));
    expect(queueLines.map((l) => l.queue).sort()).toEqual(['actions', 'notifications']);

    const labelValues = async (values: Promise<{ values: { labels: Record<string, string | number> }[] }>) =>
      [...new Set((await values).values.map((v) => String(v.labels.queue)))].sort();
    const logged = [...new Set(jobLines.map((l) => String(l.queue)))].sort();
    expect(logged).toEqual(['actions', 'notifications']);
    expect(await labelValues(metrics.jobs.get())).toEqual(logged);
    expect(await labelValues(metrics.queueDepth.get())).toEqual(logged);
    expect(await labelValues(metrics.queueLag.get())).toEqual(logged);

    // one outcome line per finished attempt, counted with the same labels
    const fromLogs = new Map<string, number>();
    for (const l of jobLines.filter((x) => x.outcome !== undefined)) {
      const key = `${String(l.queue)}|${String(l.outcome)}|${String(l.connector)}`;
      fromLogs.set(key, (fromLogs.get(key) ?? 0) + 1);
    }
    const fromMetrics = new Map(
      (await metrics.jobs.get()).values.map(
        (v) =>
          [`${String(v.labels.queue)}|${String(v.labels.outcome)}|${String(v.labels.connector)}`, v.value] as const,
      ),
    );
    expect(Object.fromEntries(fromLogs)).toEqual(Object.fromEntries(fromMetrics));
    expect(fromMetrics.get('actions|completed|kill-flag')).toBe(1);
    expect(fromMetrics.get('actions|retry|broken')).toBe(1);
    expect(fromMetrics.get('actions|failed|broken')).toBe(1);
    expect(fromMetrics.get('notifications|completed|chat')).toBe(2); // decision, action-failed
  });
});
