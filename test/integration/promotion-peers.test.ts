/**
 * Promotion plans with real peers (issue 17, "done means"): a real agent fed real OTel SDK spans in synthetic time
 * (test/helpers/promotion-drive.ts) moves the canary share through a real nginx (upstream weights), a real haproxy
 * (runtime API weights) and a flagd flag-definition file (a fractional split, evaluated with flagd's own engine).
 * After every look the share the audit log says was set is compared with the share AT THE PEER (the weights in the
 * file nginx serves, the weights haproxy reports, the split flagd reads), and whenever it moves, with what the peer
 * does: 200 requests through nginx or haproxy to the two named backends, 2,000 targeting keys evaluated by flagd.
 * - a healthy canary walks 1 → 5 → 25 → 50 → 100% and is promoted by the plan;
 * - a canary that regresses once it carries 25% of the traffic is rolled back at 25%, through the same connector:
 *   the peer ends at the baseline only, and no further share is set;
 * - a gate at 50% holds the share at 25% until an approval through the API, recorded before the 50% step.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { flagdCore, variantHits } from '../helpers/flagd-core.js';
import { type AuditRecord, type Cleanups, type PromotionDrive, promotionDrive } from '../helpers/promotion-drive.js';
import { fitsShare, startHaproxy, startNginx, tally } from './connectors/traffic/proxy-peers.js';

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A peer whose canary share the plan's connector `router` sets. */
interface SharePeer {
  /** The `router` connector entry (YAML flow mapping). */
  connector: string;
  /** The canary share in place, in percent, as the peer itself has it. */
  share(): Promise<number>;
  /** Checks that what the peer does follows `share` (once its change is live); says what it observed. */
  follows(share: number): Promise<string>;
}

const round = (x: number) => Math.round(x * 100) / 100;

/** The `weight=` of `server <address>` in an nginx upstream, 0 when it is `down`. */
function nginxWeight(text: string, address: string): number {
  const m = new RegExp(`server ${address.replace(/\./g, '\\.')} weight=(\\d+)([^;]*);`).exec(text);
  if (!m) throw new Error(`no "server ${address} weight=" in:\n${text}`);
  return /\bdown\b/.test(m[2]!) ? 0 : Number(m[1]);
}

/** 200 requests through the proxy at `url`: the canary's answers fit `share`. */
async function throughProxy(url: string, share: number): Promise<string> {
  const t = await tally(url, 200);
  expect(fitsShare(t.canary ?? 0, 200, share), `${share}%: ${JSON.stringify(t)}`).toBe(true);
  return `${t.canary ?? 0}/200`;
}

async function nginxPeer(): Promise<SharePeer> {
  const n = await startNginx({ canaryDown: true }); // the canary deployed, no traffic yet
  cleanups.push(() => n.close());
  const [baseline, canary] = [`127.0.0.1:${n.baseline.port}`, `127.0.0.1:${n.canary.port}`];
  let reloads = n.reloadsDone();
  return {
    connector: `{ name: router, type: nginx, options: { includePath: "${n.include}", upstream: checkout, baselineServer: "${baseline}", canaryServer: "${canary}", nginxBinary: "${n.bin}", config: "${n.conf}" } }`,
    share() {
      const text = readFileSync(n.include, 'utf8');
      const [b, c] = [nginxWeight(text, baseline), nginxWeight(text, canary)];
      return Promise.resolve(round((100 * c) / (b + c)));
    },
    async follows(share) {
      await n.waitForReloads(++reloads); // every change of the file is one reload
      return throughProxy(n.url, share);
    },
  };
}

async function haproxyPeer(): Promise<SharePeer> {
  const h = await startHaproxy();
  cleanups.push(() => h.close());
  await h.cli('set weight checkout/canary 0'); // the canary deployed, no traffic yet
  return {
    connector: `{ name: router, type: haproxy, options: { socket: "${h.socket}", backend: checkout, baselineServer: baseline, canaryServer: canary } }`,
    async share() {
      const w = await h.weights(); // `get weight` on haproxy's runtime API
      return round((100 * w.canary) / (w.baseline + w.canary));
    },
    follows: (share) => throughProxy(h.url, share),
  };
}

const FLAGS = readFileSync(new URL('../../fixtures/flags/flagd-flags.json', import.meta.url), 'utf8');

function flagdPeer(): SharePeer {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-promote-flagd-'));
  cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
  const file = join(dir, 'flags.json');
  // the canary deployed, every evaluation still gets the baseline
  writeFileSync(file, FLAGS.replace('"defaultVariant": "canary",', '"defaultVariant": "baseline",'));
  return {
    connector: `{ name: router, type: flagd, options: { path: "${file}", flag: checkout-v2, variant: baseline, canaryVariant: canary } }`,
    share() {
      const text = readFileSync(file, 'utf8');
      flagdCore(text); // flagd accepts the document
      const flag = (JSON.parse(text) as { flags: Record<string, { defaultVariant: string; targeting?: unknown }> })
        .flags['checkout-v2']!;
      const split = (flag.targeting as { fractional?: unknown[] } | undefined)?.fractional;
      if (split === undefined) return Promise.resolve(flag.defaultVariant === 'canary' ? 100 : 0);
      const buckets = split.filter((b): b is [string, number] => Array.isArray(b));
      const total = buckets.reduce((s, [, w]) => s + w, 0);
      return Promise.resolve(
        round((100 * buckets.filter(([v]) => v === 'canary').reduce((s, [, w]) => s + w, 0)) / total),
      );
    },
    follows(share) {
      const hits = variantHits(readFileSync(file, 'utf8'), 'checkout-v2', 'canary');
      expect(fitsShare(hits, 2_000, share), `${share}%: ${hits}/2000 evaluations got the canary`).toBe(true);
      return Promise.resolve(`${hits}/2000`);
    },
  };
}

const PEERS: [string, () => Promise<SharePeer> | SharePeer][] = [
  ['nginx (upstream weights)', nginxPeer],
  ['haproxy (runtime API weights)', haproxyPeer],
  ['flagd (a fractional split)', flagdPeer],
];

/**
 * The error rate alone, its looks combined as independent (`combine: independent`, docs/detectors.md): these looks are
 * clean, and a strong regression decides in its first look, so 2 looks per step are enough to catch it at its step
 * (the default `robust` combination needs about 9 looks here, more than a step of 2 gives it).
 */
const config = (peer: SharePeer, approve: number[] = []) => `
analysis:
  interval: 10s
  allowedLateness: 1s
  minSamples: 50
  maxDuration: 1h
  alpha: 0.01
  metrics: [{ name: error-rate, detector: error-rate-sequential, options: { combine: independent } }]
connectors: [${peer.connector}]
plan: [router]
rollouts:
  - service: checkout
    promote: { via: router, steps: [1, 5, 25, 50, 100], minLooksPerStep: 2, approve: [${approve.join(', ')}] }
server: { auth: { open: true } }
`;

/** The share the audit log says is in place: the last `promote-step`, 0 after the rollback plan's step on router. */
function auditedShare(audit: readonly AuditRecord[]): number {
  let share = 0;
  for (const e of audit) {
    if (e.type === 'promote-step') share = e.share as number;
    if (e.type === 'action' && e.connector === 'router') share = 0;
  }
  return share;
}

/** What the peer showed over the drive: each share it moved to, its share after each look, what it did at each. */
interface Watch {
  shares: number[];
  perLook: number[];
  observed: string[];
  /** The share at the peer now. */
  current: number;
}

const looksAt = (w: Watch, share: number) => w.perLook.filter((s) => s === share).length;

/** The per-look hook: the peer's share equals the audit log's, and a new share is live in what the peer does. */
function watchPeer(peer: SharePeer, drive: PromotionDrive) {
  const w: Watch = { shares: [], perLook: [], observed: [], current: 0 };
  const check = async (look: number) => {
    const audited = auditedShare(drive.audit());
    const atPeer = await peer.share();
    expect(atPeer, `look ${look}: the audit log says ${audited}%, the peer has ${atPeer}%`).toBe(audited);
    if (atPeer !== w.current) {
      w.shares.push(atPeer);
      w.observed.push(`${atPeer}%: ${await peer.follows(atPeer)}`);
    }
    w.current = atPeer;
    w.perLook.push(atPeer);
  };
  return { w, check };
}

describe.each(PEERS)('promotion plan through %s', (name, start) => {
  it('walks a healthy canary 1 → 5 → 25 → 50 → 100%, the peer following each step, then promotes', async () => {
    const peer = await start();
    const drive = await promotionDrive(config(peer), 'promote-peers', cleanups);
    const { w, check } = watchPeer(peer, drive);
    await drive.run({ canaryErrors: () => 0.01, afterLook: check });
    console.info(`${name}, healthy: ${w.observed.join('; ')}`);

    expect(w.shares).toEqual([1, 5, 25, 50, 100]);
    const steps = drive.audit().filter((e) => e.type === 'promote-step');
    expect(steps.map((e) => [e.share, e.step, e.changed])).toEqual([
      [1, 0, true],
      [5, 1, true],
      [25, 2, true],
      [50, 3, true],
      [100, 4, true],
    ]);
    expect(String(steps[0]!.detail)).toMatch(/^canary share 1% \(was 0%\): /);
    expect(String(steps[3]!.detail)).toMatch(/^canary share 50% \(was 25%\): /);
    expect(drive.audit().filter((e) => e.type === 'promote-step-failed')).toEqual([]);
    for (const s of [1, 5, 25, 50]) expect(looksAt(w, s), `looks at ${s}%`).toBeGreaterThanOrEqual(2);
    expect(drive.decisions).toHaveLength(1);
    expect(drive.decisions[0]).toMatchObject({ outcome: 'promote', manual: { by: 'promotion plan' } });
    expect(await peer.share()).toBe(100);
  }, 30_000);

  it('rolls a canary that regresses at 25% back at 25%, through the same peer: baseline only, no share after', async () => {
    const peer = await start();
    const drive = await promotionDrive(config(peer), 'promote-peers', cleanups);
    const { w, check } = watchPeer(peer, drive);
    let decidedAt: number | undefined;
    await drive.run({
      // load-dependent: the canary fails once the peer gives it a quarter of the traffic
      canaryErrors: () => (w.current >= 25 ? 0.3 : 0.01),
      async afterLook(look) {
        if (drive.decisions.length > 0) decidedAt ??= w.current; // the share before this look's check
        await check(look);
      },
      looksAfterDecision: 2,
    });
    console.info(`${name}, regressed at 25%: ${w.observed.join('; ')}`);

    expect(drive.decisions).toHaveLength(1);
    expect(drive.decisions[0]).toMatchObject({ outcome: 'rollback', plan: ['router'] });
    expect(drive.decisions[0]!.reason).toMatch(/^canary is worse: error-rate: /);
    expect(decidedAt).toBe(25);
    expect(drive.promoteSteps()).toEqual([1, 5, 25]);
    expect(w.shares).toEqual([1, 5, 25, 0]);
    const audit = drive.audit();
    const decision = audit.findIndex((e) => e.type === 'decision' && e.outcome === 'rollback');
    expect(decision).toBeGreaterThan(audit.findLastIndex((e) => e.type === 'promote-step'));
    expect(audit.filter((e) => e.type === 'action')).toMatchObject([{ connector: 'router', changed: true }]);
    expect(await peer.share()).toBe(0);
    expect(w.perLook.slice(-3)).toEqual([0, 0, 0]); // the decision's look and the 2 after it
  }, 30_000);
});

describe('promotion plan with an approval gate at 50%, through nginx', () => {
  it('holds the share at 25% at the peer until the approval, recorded before the 50% step; then 50, 100', async () => {
    const peer = await nginxPeer();
    const drive = await promotionDrive(config(peer, [50]), 'promote-gate', cleanups);
    const { w, check } = watchPeer(peer, drive);
    const approve = () =>
      fetch(`${drive.started.apiUrl}/api/v1/analyses/checkout:2.0/approve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ by: 'alice', reason: 'error budget fine, go to half' }),
      });
    const answers: [number, unknown][] = [];
    await drive.run({
      canaryErrors: () => 0.01,
      async afterLook(look) {
        await check(look);
        const at25 = w.current === 25 ? looksAt(w, 25) : 0;
        // too early (the looks at 25% are not in), then once it has waited 3 looks more than the 2 it needs
        if (at25 === 1 || (at25 === 5 && answers.length === 1)) {
          const res = await approve();
          answers.push([res.status, await res.json()]);
        }
      },
    });
    console.info(`nginx, gate at 50%: ${w.observed.join('; ')}`);

    expect(answers).toEqual([
      [409, expect.objectContaining({ message: expect.stringContaining('is not waiting for an approval') })],
      [200, { approved: 50, analysis: 'checkout:2.0' }],
    ]);
    expect(looksAt(w, 25)).toBeGreaterThanOrEqual(5);
    expect(w.shares).toEqual([1, 5, 25, 50, 100]);
    const audit = drive.audit();
    const approval = audit.findIndex((e) => e.type === 'approve');
    expect(audit[approval]).toMatchObject({
      analysis: 'checkout:2.0',
      share: 50,
      by: 'alice',
      reason: 'error budget fine, go to half',
    });
    const at50 = audit.findIndex((e) => e.type === 'promote-step' && e.share === 50);
    expect(approval).toBeLessThan(at50);
    expect(
      audit
        .slice(0, approval)
        .filter((e) => e.type === 'promote-step')
        .map((e) => e.share),
    ).toEqual([1, 5, 25]);
    expect(drive.decisions).toHaveLength(1);
    expect(drive.decisions[0]).toMatchObject({ outcome: 'promote', manual: { by: 'promotion plan' } });
  }, 30_000);
});
