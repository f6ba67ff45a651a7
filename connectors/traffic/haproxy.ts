import { z } from 'zod';
import type { ActionContext, ActionResult, ConnectorFactory, PlanConnector } from '../../src/contracts/connector.js';
import { VigilError } from '../../src/errors.js';
import { abortedError } from '../shared/http.js';
import { parseOptions, timeoutMsOption } from '../shared/options.js';
import {
  type RuntimeAddress,
  type RuntimeCall,
  describeAddress,
  parseRuntimeAddress,
  parseWeight,
  runtimeCommand,
} from './haproxy-runtime.js';
import { withBindings } from '../shared/log.js';
import { checkShare, roundedNote, shareDetail, shareOf, shareWeights } from '../shared/share.js';

const TYPE = 'haproxy';
/** HAProxy server weights run from 0 to 256. */
const MAX_WEIGHT = 256;

/** HAProxy proxy and server names: letters, digits, '-', '_', '.', ':' (no spaces, '/' or ';'). */
const haproxyName = (what: string) =>
  z
    .string({ error: (iss) => (iss.input === undefined ? `is required: ${what}` : `must be a string: ${what}`) })
    .regex(/^[A-Za-z0-9_.:-]+$/, { error: `must be a HAProxy name (letters, digits, '-', '_', '.', ':'): ${what}` });

const schema = z
  .strictObject({
    socket: z
      .string({
        error: (iss) =>
          iss.input === undefined
            ? 'is required: the runtime API socket (a path, or host:port), declared with "stats socket … level admin"'
            : 'must be a string: a socket path or host:port',
      })
      .refine((s) => parseRuntimeAddress(s) !== undefined, {
        error: 'must be an absolute socket path (/run/haproxy/admin.sock) or host:port',
      }),
    backend: haproxyName('the backend that holds the baseline and canary servers'),
    baselineServer: haproxyName('the server name of the baseline in the backend'),
    canaryServer: haproxyName('the server name of the canary in the backend'),
    timeoutMs: timeoutMsOption,
  })
  .superRefine((o, ctx) => {
    if (o.baselineServer === o.canaryServer)
      ctx.addIssue({ code: 'custom', path: ['canaryServer'], message: 'must differ from options.baselineServer' });
  });

export type HaproxyOptions = z.output<typeof schema>;

function failed(why: string, cause?: unknown): VigilError {
  return new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`${TYPE}: ${why}`], { cause, details: { vendor: TYPE } });
}

/**
 * Traffic connector for HAProxy through its runtime API (`stats socket … level admin`): in `backend`, the
 * `canaryServer` gets weight 0 and the `baselineServer` keeps a weight above 0, so every new request goes to
 * the baseline. Takes effect at once, no reload. HAProxy forgets runtime weights on reload unless a
 * `server-state-file` keeps them; a weight of 0 still lets persistent (stick-table/cookie) sessions in.
 *
 * SET semantics: `get weight` of both servers first; canary at 0 with the baseline above 0 → `changed:
 * false`, nothing sent. Otherwise `set weight <backend>/<baseline> 100%` (back to its configured weight) when
 * the baseline is at 0, then `set weight <backend>/<canary> 0%` (relative weights, which static algorithms
 * such as `balance source` also accept), then `get weight` again to prove the result. Any answer other than
 * the empty success line (e.g. "No such server.", "Permission denied") fails permanently with it.
 * Dry run reads and describes. Health check: the socket answers at level admin and knows both servers.
 * Options: socket (path or host:port), backend, baselineServer, canaryServer, timeoutMs (per command).
 *
 * `setCanaryShare(p)`: absolute runtime weights, canary = p·k and baseline = (100 − p)·k with the smallest k that
 * makes both integers within HAProxy's 256 (25% → 25/75, 2.5% → 5/195; otherwise rounded on 256, and the detail
 * names the share that results); 0 is exactly `apply`. Same read → compare → set → read-back cycle; equal weights
 * already → `changed: false`. Static algorithms (`balance source`) accept only 0% and 100%: HAProxy's refusal
 * fails the step permanently. Runtime weights are lost on reload unless a `server-state-file` keeps them.
 */
export const haproxyTrafficFactory: ConnectorFactory<HaproxyOptions> = {
  setsShare: () => true,
  type: TYPE,
  kind: 'traffic',
  parse: (options) => parseOptions(TYPE, schema, options),
  create(name: string, o: HaproxyOptions): PlanConnector<'traffic'> {
    const address: RuntimeAddress = parseRuntimeAddress(o.socket)!;
    const where = `backend ${o.backend} via ${describeAddress(address)}`;
    const send = (command: string, call: RuntimeCall) => runtimeCommand(TYPE, address, command, call);

    async function weight(server: string, call: RuntimeCall) {
      const answer = await send(`get weight ${o.backend}/${server}`, call);
      const w = parseWeight(answer);
      if (!w) throw failed(`get weight ${o.backend}/${server} answered: ${answer.trim() || '(nothing)'}`);
      return w;
    }

    async function setWeight(server: string, value: string, call: RuntimeCall): Promise<void> {
      const answer = await send(`set weight ${o.backend}/${server} ${value}`, call);
      if (answer.trim() !== '') throw failed(`set weight ${o.backend}/${server} ${value} answered: ${answer.trim()}`);
    }

    /** `apply`: the canary to weight 0 (the baseline back to its configured weight when it is at 0). */
    async function rollback(ctx: ActionContext): Promise<ActionResult & { was?: number; would: boolean }> {
      if (ctx.signal.aborted) throw abortedError(TYPE, ctx.signal);
      const call = { signal: ctx.signal, timeoutMs: o.timeoutMs };
      const base = await weight(o.baselineServer, call);
      const canary = await weight(o.canaryServer, call);
      const was = shareOf(canary.current, base.current);
      const state = `${o.baselineServer}=${base.current}, ${o.canaryServer}=${canary.current}`;
      if (canary.current === 0 && base.current > 0) {
        return {
          changed: false,
          would: false,
          was,
          detail: `${where}: all weight already on ${o.baselineServer} (${state})`,
        };
      }
      if (base.current === 0 && base.initial === 0) {
        throw failed(
          `${o.backend}/${o.baselineServer} has weight 0 and a configured weight of 0: there is no baseline capacity to move traffic to`,
        );
      }
      const commands = [
        ...(base.current === 0 ? [[o.baselineServer, '100%'] as const] : []),
        [o.canaryServer, '0%'] as const,
      ];
      const what = commands.map(([s, v]) => `set weight ${o.backend}/${s} ${v}`).join('; ');
      if (ctx.dryRun)
        return { changed: false, would: true, was, detail: `dry-run: would send "${what}" to ${where} (now ${state})` };
      await sendAll(commands, call);
      const after = await readBoth(call);
      if (after.canary.current !== 0 || after.base.current === 0) {
        throw failed(
          `after "${what}" ${where} reports ${o.baselineServer}=${after.base.current}, ${o.canaryServer}=${after.canary.current}`,
        );
      }
      withBindings(ctx.logger, { connector: name }).info({ backend: o.backend }, 'canary weight set to 0');
      return {
        changed: true,
        would: true,
        was,
        detail: `sent "${what}" to ${where}: ${o.baselineServer} ${base.current}→${after.base.current}, ${o.canaryServer} ${canary.current}→0`,
      };
    }

    async function sendAll(commands: readonly (readonly [string, string])[], call: RuntimeCall): Promise<void> {
      for (const [server, value] of commands) await setWeight(server, value, call);
    }

    async function readBoth(call: RuntimeCall) {
      return { base: await weight(o.baselineServer, call), canary: await weight(o.canaryServer, call) };
    }

    /** `setCanaryShare` above 0: absolute weights canary = p·k, baseline = (100 − p)·k. */
    async function setShare(share: number, ctx: ActionContext): Promise<ActionResult> {
      if (ctx.signal.aborted) throw abortedError(TYPE, ctx.signal);
      const call = { signal: ctx.signal, timeoutMs: o.timeoutMs };
      const want = shareWeights(share, MAX_WEIGHT);
      const now = await readBoth(call);
      const head = shareDetail(want.share, shareOf(now.canary.current, now.base.current));
      const state = `${o.baselineServer}=${now.base.current}, ${o.canaryServer}=${now.canary.current}`;
      const rounded = roundedNote(share, want.share, "HAProxy's integer weights");
      if (now.base.current === want.baseline && now.canary.current === want.canary)
        return { changed: false, detail: `${head}: ${where} already has ${state}${rounded}` };
      const commands = [
        [o.baselineServer, String(want.baseline)] as const,
        [o.canaryServer, String(want.canary)] as const,
      ];
      const what = commands.map(([s, v]) => `set weight ${o.backend}/${s} ${v}`).join('; ');
      if (ctx.dryRun)
        return { changed: true, detail: `dry-run: ${head}: would send "${what}" to ${where} (now ${state})${rounded}` };
      await sendAll(commands, call);
      const after = await readBoth(call);
      if (after.base.current !== want.baseline || after.canary.current !== want.canary) {
        throw failed(
          `after "${what}" ${where} reports ${o.baselineServer}=${after.base.current}, ${o.canaryServer}=${after.canary.current}`,
        );
      }
      withBindings(ctx.logger, { connector: name }).info({ backend: o.backend, share: want.share }, 'canary share set');
      return {
        changed: true,
        detail: `${head}: sent "${what}" to ${where}: ${o.baselineServer} ${now.base.current}→${want.baseline}, ${o.canaryServer} ${now.canary.current}→${want.canary}${rounded}`,
      };
    }

    return {
      name,
      type: TYPE,
      kind: 'traffic',
      async apply(ctx: ActionContext): Promise<ActionResult> {
        const { changed, detail } = await rollback(ctx);
        return { changed, detail };
      },
      async setCanaryShare(percent: number, ctx: ActionContext): Promise<ActionResult> {
        const share = checkShare(TYPE, percent);
        if (share === 0) {
          const r = await rollback(ctx);
          return { changed: r.changed || r.would, detail: `${shareDetail(0, r.was)}: ${r.detail}` };
        }
        return setShare(share, ctx);
      },
      async healthCheck(ctx): Promise<void> {
        const call = { signal: ctx.signal, timeoutMs: o.timeoutMs };
        const level = (await send('show cli level', call)).trim();
        if (level !== 'admin')
          throw failed(
            `the runtime API at ${describeAddress(address)} grants level "${level}": set weights needs "level admin" on its stats socket`,
          );
        await weight(o.baselineServer, call);
        await weight(o.canaryServer, call);
      },
    };
  },
};
