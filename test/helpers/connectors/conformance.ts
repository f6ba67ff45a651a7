/**
 * Conformance suites every connector must pass (the BullMQ adapter-conformance idea): call
 * `connectorConformance` / `notifierConformance` from a test file with a factory for the connector under
 * test. HTTP connectors get a REAL local server (the test HTTP peer, test/helpers/http-peer.ts) that
 * records raw requests and answers the statuses each case chooses; in-memory connectors run the cases that need no server.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Notifier, PlanConnector } from '../../../src/contracts/connector.js';
import type { VigilError } from '../../../src/errors.js';
import { actionContext, everyKind, everyNotification, notifyContext, rollbackDecision } from './fixtures.js';
import { HttpPeer, closedPortUrl } from '../http-peer.js';
import { rejection } from '../rejection.js';

export interface ConnectorTarget {
  /** Where the connector must send (the receiver's URL plus a path). */
  url: string;
  timeoutMs: number;
}

export interface HttpEnv {
  /** Strings that must never appear in errors or logs: secrets, the secret parts of URLs. */
  secrets: string[];
  /**
   * The path of the connector's first request under the target URL (default: exactly `/hook`). Connectors
   * that address resources below a base URL (a Kubernetes API server at `<url>`) send `/hook/apis/...`.
   */
  requestPath?: RegExp;
}

/**
 * A peer whose state a connector SETS: a file, a proxy, a (fake) Kubernetes API. Before each case the suite
 * puts it in the state a live canary leaves; snapshots prove what a call changed and what it did not.
 */
export interface StatefulPeer {
  /** The base URL the connector must talk to, for peers reached over HTTP; passed as `ConnectorTarget.url`. */
  url?: string;
  /** Puts the peer in the state a live canary of `canaryVersion` leaves (it receives traffic, it is deployed). */
  rollOut(canaryVersion: string): Promise<void>;
  /** The peer's observable state: equal snapshots mean nothing changed. */
  snapshot(): Promise<string>;
  close(): Promise<void>;
}

export interface PlanConformanceEnv {
  /** Present for connectors that talk HTTP (the failure cases run against a recording receiver). */
  http?: HttpEnv;
  /**
   * Present for connectors that SET state in a peer (started once per suite): the SET, dry-run and abort
   * cases then run against it and compare its state, instead of counting deliveries.
   */
  stateful?: () => Promise<StatefulPeer>;
}

export interface NotifierConformanceEnv {
  http?: HttpEnv & {
    contentType: RegExp;
    /** Whether a raw posted body says the notification is a dry run. */
    dryRunMarked(rawBody: string): boolean;
  };
}

const TIMEOUT_MS = 300;
/** Stateful peers are real processes (nginx -t, a reload): give them room; failure cases use TIMEOUT_MS. */
const STATEFUL_TIMEOUT_MS = 10_000;

function expectNoSecrets(err: VigilError, secrets: string[]): void {
  const shown = `${err.message} ${JSON.stringify(err.details)}`;
  for (const s of secrets) expect(shown).not.toContain(s);
}

/**
 * The failure cases shared by every HTTP connector: abort (before and during), vendor 4xx permanent,
 * 408/429/5xx retryable, timeout and network retryable with their cause, redirects not followed.
 * `call` performs one apply/post against the given target with the given signal.
 */
function httpFailureCases(
  receiver: () => HttpPeer,
  env: HttpEnv,
  call: (target: ConnectorTarget, signal: AbortSignal) => Promise<unknown>,
): void {
  const target = (): ConnectorTarget => ({ url: `${receiver().url}/hook`, timeoutMs: TIMEOUT_MS });

  it('honours an abort signal that fires while the vendor is answering', async () => {
    receiver().hang();
    const ac = new AbortController();
    const pending = call({ ...target(), timeoutMs: 30_000 }, ac.signal);
    await receiver().waitForRequests(1);
    ac.abort(new Error('worker shutting down'));
    const err = await rejection(pending);
    expect(err.code).toBe('VIGIL_ERR_CONNECTOR_ABORTED');
    expect(err.retryable).toBe(true);
    expect((err.cause as Error).message).toBe('worker shutting down');
  });

  for (const status of [400, 401, 404, 410]) {
    it(`maps vendor HTTP ${status} to a permanent error`, async () => {
      receiver().answer(status, `no_service ${status}`);
      const err = await rejection(call(target(), new AbortController().signal));
      expect(err.code).toBe('VIGIL_ERR_CONNECTOR_HTTP_4XX');
      expect(err.retryable).toBe(false);
      expect(err.details.status).toBe(status);
      expect(err.message).toContain(`no_service ${status}`);
      expectNoSecrets(err, env.secrets);
    });
  }

  for (const status of [408, 429, 500, 502, 503]) {
    it(`maps vendor HTTP ${status} to a retryable error`, async () => {
      receiver().answer(status, 'try later');
      const err = await rejection(call(target(), new AbortController().signal));
      expect(err.code).toBe('VIGIL_ERR_CONNECTOR_HTTP_5XX');
      expect(err.retryable).toBe(true);
      expect(err.details.status).toBe(status);
      expectNoSecrets(err, env.secrets);
    });
  }

  it('does not follow redirects (a signed body must not go elsewhere) and fails permanently', async () => {
    receiver().answer(307, '', { location: `${receiver().url}/elsewhere` });
    const err = await rejection(call(target(), new AbortController().signal));
    expect(err.code).toBe('VIGIL_ERR_CONNECTOR_FAILED');
    expect(err.retryable).toBe(false);
    const paths = receiver().requests.map((r) => r.path);
    expect(paths).toHaveLength(1);
    expect(paths[0]).toMatch(env.requestPath ?? /^\/hook$/);
  });

  it('maps a timeout to a retryable error whose cause is the TimeoutError', async () => {
    receiver().hang();
    const err = await rejection(call(target(), new AbortController().signal));
    expect(err.code).toBe('VIGIL_ERR_CONNECTOR_TIMEOUT');
    expect(err.retryable).toBe(true);
    expect((err.cause as Error).name).toBe('TimeoutError');
    expect(err.message).toContain(String(TIMEOUT_MS));
  });

  it('maps a refused connection to a retryable network error with its cause', async () => {
    const err = await rejection(call({ url: await closedPortUrl(), timeoutMs: 5_000 }, new AbortController().signal));
    expect(err.code).toBe('VIGIL_ERR_CONNECTOR_NETWORK');
    expect(err.retryable).toBe(true);
    expect(err.cause).toBeInstanceOf(Error);
    expectNoSecrets(err, env.secrets);
  });
}

function withReceiver(): () => HttpPeer {
  let receiver: HttpPeer | undefined;
  beforeAll(async () => {
    receiver = await HttpPeer.start();
  });
  afterAll(async () => {
    await receiver?.close();
  });
  beforeEach(() => receiver?.reset());
  return () => {
    if (!receiver) throw new Error('receiver not started');
    return receiver;
  };
}

function withPeer(start: () => Promise<StatefulPeer>): () => StatefulPeer {
  let peer: StatefulPeer | undefined;
  beforeAll(async () => {
    peer = await start();
  });
  afterAll(async () => {
    await peer?.close();
  });
  return () => {
    if (!peer) throw new Error('stateful peer not started');
    return peer;
  };
}

/** Every plan connector (flag, traffic, deployer, webhook) passes this. */
export function connectorConformance(
  name: string,
  makeConnector: (target: ConnectorTarget) => PlanConnector,
  env: PlanConformanceEnv,
): void {
  describe(`plan connector conformance: ${name}`, () => {
    const receiver = env.http ? withReceiver() : undefined;
    const peer = env.stateful ? withPeer(env.stateful) : undefined;
    const target = (): ConnectorTarget => {
      if (peer) return { url: peer().url ?? '', timeoutMs: STATEFUL_TIMEOUT_MS };
      return { url: receiver ? `${receiver().url}/hook` : 'http://127.0.0.1:9/unused', timeoutMs: TIMEOUT_MS };
    };
    const decision = rollbackDecision();
    if (peer) beforeEach(() => peer().rollOut(decision.canaryVersion));

    it('identifies itself as a plan connector', () => {
      const c = makeConnector(target());
      expect(['flag', 'traffic', 'deployer', 'webhook']).toContain(c.kind);
      expect(c.type).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(c.name).not.toBe('');
    });

    it('SETS state: applying the same decision twice is harmless', async () => {
      const c = makeConnector(target());
      const first = await c.apply(actionContext(decision));
      const afterFirst = peer ? await peer().snapshot() : '';
      const second = await c.apply(actionContext(decision));
      expect(first.detail).not.toBe('');
      expect(second.detail).not.toBe('');
      if (peer) {
        expect(first.changed).toBe(true);
        expect(second.changed).toBe(false);
        expect(await peer().snapshot()).toBe(afterFirst);
      } else if (receiver) {
        // The receiver cannot be asked whether it acted: both deliveries carry the same event id, which
        // receivers use as the idempotency key.
        const ids = receiver().requests.map((r) => (JSON.parse(r.text) as { id: string }).id);
        expect(ids).toEqual([decision.id, decision.id]);
        expect(first.changed).toBe(true);
      } else {
        expect(first.changed).toBe(true);
        expect(second.changed).toBe(false);
      }
    });

    it('treats a new canary version as a new state', async () => {
      const c = makeConnector(target());
      await c.apply(actionContext(decision));
      const next = rollbackDecision({ id: 'dec-next', canaryVersion: 'v1.8.1' });
      // A stateful peer only has something to roll back once the new canary is live again.
      if (peer) await peer().rollOut(next.canaryVersion);
      const res = await c.apply(actionContext(next));
      expect(res.changed).toBe(true);
      if (receiver && !peer) expect((JSON.parse(receiver().requests[1]!.text) as { id: string }).id).toBe('dec-next');
      if (peer) expect((await c.apply(actionContext(next))).changed).toBe(false);
    });

    it('dry run touches nothing and records nothing', async () => {
      const c = makeConnector(target());
      const before = peer ? await peer().snapshot() : '';
      const dry = await c.apply(actionContext(decision, { dryRun: true }));
      expect(dry.changed).toBe(false);
      expect(dry.detail).toMatch(/dry-run/);
      if (peer) expect(await peer().snapshot()).toBe(before);
      else if (receiver) expect(receiver().requests).toHaveLength(0);
      const real = await c.apply(actionContext(decision));
      expect(real.changed).toBe(true);
      if (peer) expect(await peer().snapshot()).not.toBe(before);
    });

    it('honours an already aborted signal: fails retryably and sends nothing', async () => {
      const c = makeConnector(target());
      const before = peer ? await peer().snapshot() : '';
      const ac = new AbortController();
      ac.abort(new Error('cancelled'));
      const err = await rejection(c.apply(actionContext(decision, { signal: ac.signal })));
      expect(err.code).toBe('VIGIL_ERR_CONNECTOR_ABORTED');
      expect(err.retryable).toBe(true);
      if (peer) {
        expect(await peer().snapshot()).toBe(before);
        expect((await c.apply(actionContext(decision))).changed).toBe(true);
      } else if (receiver) {
        expect(receiver().requests).toHaveLength(0);
      } else {
        expect((await c.apply(actionContext(decision))).changed).toBe(true);
      }
    });

    it('health check and close, when present, resolve', async () => {
      const c = makeConnector(target());
      const ctx = actionContext(decision);
      if (c.healthCheck)
        await expect(c.healthCheck({ logger: ctx.logger, signal: ctx.signal })).resolves.toBeUndefined();
      if (c.close) await expect(c.close()).resolves.toBeUndefined();
    });

    if (env.http && receiver) {
      httpFailureCases(receiver, env.http, (t, signal) => makeConnector(t).apply(actionContext(decision, { signal })));
    }

    shareCases(() => makeConnector(target()), peer);
  });
}

/**
 * For connectors that declare `setCanaryShare` (the cases check at run time and pass trivially otherwise):
 * invalid shares fail permanently and change nothing, setting a share SETS (the same share twice reports
 * `changed: false` and changes nothing), a dry run says whether it would change and changes nothing.
 */
function shareCases(make: () => PlanConnector, peer: (() => StatefulPeer) | undefined): void {
  const snapshot = () => (peer ? peer().snapshot() : Promise.resolve(''));

  it('setCanaryShare, when declared: a share outside 0–100 or not finite fails permanently and changes nothing', async () => {
    const c = make();
    if (!c.setCanaryShare) return;
    const before = await snapshot();
    for (const bad of [-1, 100.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const err = await rejection(c.setCanaryShare(bad, actionContext(rollbackDecision())));
      expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
    }
    expect(await snapshot()).toBe(before);
  });

  it('setCanaryShare, when declared: SETS the share; the same share twice changes nothing; a dry run writes nothing', async () => {
    const c = make();
    if (!c.setCanaryShare) return;
    for (const share of [25, 5]) {
      const before = await snapshot();
      const dry = await c.setCanaryShare(share, actionContext(rollbackDecision(), { dryRun: true }));
      expect(dry.changed).toBe(true);
      expect(dry.detail).toMatch(new RegExp(`^dry-run: canary share ${share}% \\(was `));
      expect(await snapshot()).toBe(before);
      const first = await c.setCanaryShare(share, actionContext(rollbackDecision()));
      expect(first.changed).toBe(true);
      expect(first.detail).toMatch(new RegExp(`^canary share ${share}% \\(was `));
      const after = await snapshot();
      if (peer) expect(after).not.toBe(before);
      const again = await c.setCanaryShare(share, actionContext(rollbackDecision()));
      expect(again.changed).toBe(false);
      expect(again.detail).toMatch(new RegExp(`^canary share ${share}% \\(was ${share}%\\)`));
      expect((await c.setCanaryShare(share, actionContext(rollbackDecision(), { dryRun: true }))).changed).toBe(false);
      expect(await snapshot()).toBe(after);
    }
  });
}

/** Every notifier passes this. */
export function notifierConformance(
  name: string,
  makeNotifier: (target: ConnectorTarget) => Notifier,
  env: NotifierConformanceEnv,
): void {
  describe(`notifier conformance: ${name}`, () => {
    const receiver = env.http ? withReceiver() : undefined;
    const target = (): ConnectorTarget => ({
      url: receiver ? `${receiver().url}/hook` : 'http://127.0.0.1:9/unused',
      timeoutMs: TIMEOUT_MS,
    });

    it('identifies itself as a notifier', () => {
      const n = makeNotifier(target());
      expect(n.kind).toBe('notifier');
      expect(n.type).toMatch(/^[a-z][a-z0-9-]*$/);
    });

    it('posts every kind of notification (actions by hand included), one request each, without secrets', async () => {
      const n = makeNotifier(target());
      const notes = everyKind();
      for (const note of notes) await n.post(note, notifyContext());
      if (env.http && receiver) {
        const reqs = receiver().requests;
        expect(reqs).toHaveLength(notes.length);
        reqs.forEach((r, i) => {
          expect(r.method).toBe('POST');
          expect(r.headers['content-type']).toMatch(env.http!.contentType);
          expect(() => JSON.parse(r.text) as unknown).not.toThrow();
          for (const s of env.http!.secrets) expect(r.text).not.toContain(s);
          const note = notes[i]!;
          // who did it, with which token (the promotion plan's own calls: by "promotion plan", token vigil)
          const who = note.kind === 'operator' ? note.operator : note.decision.manual;
          if (who) {
            expect(r.text).toContain(who.by);
            expect(r.text).toContain(who.token);
          }
          // the share it is about: "50%" in a message, `"share":50` in an event
          if (note.kind === 'operator' && note.promotion)
            expect(r.text).toMatch(new RegExp(`\\b${note.promotion.share}(%|\\b)`));
        });
      }
    });

    it('still notifies in a dry run, and marks it as one', async () => {
      const n = makeNotifier(target());
      await n.post(everyNotification()[0]!, notifyContext({ dryRun: true }));
      await n.post(everyNotification()[0]!, notifyContext({ dryRun: false }));
      await n.post(everyNotification(rollbackDecision({ dryRun: true }))[0]!, notifyContext({ dryRun: false }));
      if (env.http && receiver) {
        const marks = receiver().requests.map((r) => env.http!.dryRunMarked(r.text));
        expect(marks).toEqual([true, false, true]);
      }
    });

    it('honours an already aborted signal: fails retryably and sends nothing', async () => {
      const n = makeNotifier(target());
      const ac = new AbortController();
      ac.abort(new Error('cancelled'));
      const err = await rejection(n.post(everyNotification()[0]!, notifyContext({ signal: ac.signal })));
      expect(err.code).toBe('VIGIL_ERR_CONNECTOR_ABORTED');
      expect(err.retryable).toBe(true);
      if (receiver) expect(receiver().requests).toHaveLength(0);
    });

    if (env.http && receiver) {
      httpFailureCases(receiver, env.http, (t, signal) =>
        makeNotifier(t).post(everyNotification()[0]!, notifyContext({ signal })),
      );
    }
  });
}
