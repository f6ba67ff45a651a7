import { z } from 'zod';
import type {
  ActionContext,
  ActionResult,
  ConnectorFactory,
  PlanConnector,
  PlanConnectorKind,
  RollbackTarget,
} from '../src/contracts/connector.js';
import { abortedError } from './shared/http.js';
import { parseOptions } from './shared/options.js';
import { checkShare, shareDetail } from './shared/share.js';

const schema = z.strictObject({
  kind: z
    .enum(['flag', 'traffic', 'deployer', 'webhook', 'action'], {
      error: 'must be one of flag, traffic, deployer, webhook (the kind of plan step this noop stands in for)',
    })
    .default('webhook')
    // `action` is the old name of `webhook`: configs written with it keep loading.
    .transform((kind): PlanConnectorKind => (kind === 'action' ? 'webhook' : kind)),
});

export type NoopConnectorOptions = z.output<typeof schema>;

/** The state a rollback sets: this canary of this analysis rolled back to this baseline. */
function stateKey(t: RollbackTarget): string {
  return JSON.stringify([t.analysisId, t.canaryVersion, t.baselineVersion]);
}

/**
 * A plan step that touches nothing outside the process, for dry runs, demos and tests. It models SET
 * semantics like every real connector: the first apply for a target reports `changed: true`, applying the
 * same target again `changed: false`. The target is (analysis id, canary version, baseline version), so a
 * new canary version of the same analysis is a new state. Dry runs report `changed: false` and record
 * nothing. Memory: one short string per distinct target, until `close()`.
 * Options: `kind` (flag | traffic | deployer | webhook, default webhook; `action` is accepted as the old name
 * of webhook): the kind of step it stands in for, so every plan connector kind has a noop.
 * Flag and traffic noops also have `setCanaryShare`: they remember the share (per service, until `close()`,
 * 0 before the first call) and report `changed` when it differs; a dry run remembers nothing. Like a real traffic
 * connector, `apply` of a traffic noop sets the remembered share to 0.
 */
export const noopConnectorFactory: ConnectorFactory<NoopConnectorOptions> = {
  setsShare: (o) => o.kind === 'flag' || o.kind === 'traffic',
  type: 'noop',
  kind: 'webhook', // its default; `options.kind` picks the kind it stands in for
  parse: (options) => parseOptions('noop', schema, options),
  create(name: string, options: NoopConnectorOptions): PlanConnector {
    const applied = new Set<string>();
    const shares = new Map<string, number>();
    return {
      name,
      type: 'noop',
      kind: options.kind,
      apply(ctx: ActionContext): Promise<ActionResult> {
        if (ctx.signal.aborted) return Promise.reject(abortedError('noop', ctx.signal));
        const t = ctx.target;
        const what = `${t.service} canary ${t.canaryVersion} rolled back to baseline ${t.baselineVersion}`;
        if (ctx.dryRun) return Promise.resolve({ changed: false, detail: `dry-run: noop would record ${what}` });
        const key = stateKey(t);
        if (options.kind === 'traffic') shares.set(t.service, 0);
        if (applied.has(key)) return Promise.resolve({ changed: false, detail: `noop: already recorded ${what}` });
        applied.add(key);
        return Promise.resolve({ changed: true, detail: `noop: recorded ${what}` });
      },
      ...(options.kind === 'flag' || options.kind === 'traffic'
        ? {
            setCanaryShare(percent: number, ctx: ActionContext): Promise<ActionResult> {
              if (ctx.signal.aborted) return Promise.reject(abortedError('noop', ctx.signal));
              let share: number;
              try {
                share = checkShare('noop', percent);
              } catch (e) {
                return Promise.reject(e instanceof Error ? e : new Error(String(e)));
              }
              const was = shares.get(ctx.target.service) ?? 0;
              const changed = was !== share;
              const head = shareDetail(share, was);
              if (ctx.dryRun)
                return Promise.resolve({
                  changed,
                  detail: `dry-run: ${head}: noop would ${changed ? 'record it' : 'keep it'}`,
                });
              shares.set(ctx.target.service, share);
              return Promise.resolve({
                changed,
                detail: `${head}: noop ${changed ? 'recorded it' : 'already had it'}`,
              });
            },
          }
        : {}),
      healthCheck: () => Promise.resolve(),
      close: () => {
        applied.clear();
        shares.clear();
        return Promise.resolve();
      },
    };
  },
};
