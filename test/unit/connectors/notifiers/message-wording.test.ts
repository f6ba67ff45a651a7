/**
 * Wording every chat and paging message builder shares (slack, teams, discord, google-chat, mattermost, pagerduty):
 * - a bound is never "n/a" (nor "∞", "NaN"): an infinite upper bound reads "unbounded above", a missing one is left
 *   out;
 * - a message states ONE confidence level: the family-wise level of the decision's alpha split, here 95% for
 *   alpha 0.05, whatever the per-metric alphas (weights 3:1:1) and phases (one-sided fail/pass bounds, two-sided
 *   inconclusive ones). The decisions with real summaries come from the real detectors and the real engine, so a
 *   detector that printed its own per-metric level again would fail here.
 * The whole payload is checked as serialised JSON (every text field, fallback texts and PagerDuty details included).
 */
import { describe, expect, it } from 'vitest';
import { buildDiscordMessage } from '../../../../connectors/notifiers/discord-message.js';
import { buildGoogleChatMessage } from '../../../../connectors/notifiers/google-chat-message.js';
import { buildMattermostMessage } from '../../../../connectors/notifiers/mattermost-message.js';
import { buildPagerDutyEvent } from '../../../../connectors/notifiers/pagerduty-event.js';
import { buildSlackMessage } from '../../../../connectors/notifiers/slack-message.js';
import { buildTeamsMessage } from '../../../../connectors/notifiers/teams-message.js';
import { createErrorRateSequential } from '../../../../detectors/error-rate-sequential.js';
import type { Notification } from '../../../../src/contracts/connector.js';
import type { Decision, MetricVerdict } from '../../../../src/contracts/decision.js';
import { decide, splitAlpha } from '../../../../src/decide/engine.js';
import { batch, lookInput } from '../../../helpers/detectors.js';
import {
  NOW_MS,
  errorRateFail,
  everyNotification,
  latencyInconclusive,
  rollbackDecision,
  shadowFail,
} from '../../../helpers/connectors/fixtures.js';

const BUILDERS: { name: string; build: (n: Notification) => unknown }[] = [
  { name: 'slack', build: (n) => buildSlackMessage(n, { dryRun: false }) },
  { name: 'teams', build: (n) => buildTeamsMessage(n, { dryRun: false }) },
  { name: 'discord', build: (n) => buildDiscordMessage(n, { dryRun: false }) },
  { name: 'google-chat', build: (n) => buildGoogleChatMessage(n, { dryRun: false, threaded: true }) },
  { name: 'mattermost', build: (n) => buildMattermostMessage(n, { dryRun: false }) },
  {
    name: 'pagerduty',
    build: (n) =>
      buildPagerDutyEvent(n, {
        routingKey: 'R0UTINGKEY0123456789abcdefABCDEF',
        severity: 'error',
        onAbandoned: 'trigger',
        resolveAfterRollback: false,
        dryRun: false,
        nowMs: NOW_MS,
      }),
  },
];

/** Distinct confidence levels a text states ("95% confidence" → "95%"). */
function levels(text: string): string[] {
  return [...new Set([...text.matchAll(/(\d+(?:\.\d+)?)% confidence/g)].map((m) => `${m[1]}%`))];
}

type Look = [canaryRequests: number, canaryErrors: number, baselineRequests: number, baselineErrors: number];

/** The last verdict of a real error-rate-sequential run. */
function errorRateVerdict(metric: string, looks: Look[], alpha: number): MetricVerdict {
  const d = createErrorRateSequential(metric, {}, 25);
  let state = d.init();
  let last: MetricVerdict | undefined;
  looks.forEach(([nc, xc, nb, xb], i) => {
    const r = d.look(state, lookInput(i + 1, batch(nc, xc), batch(nb, xb)), alpha);
    state = r.state;
    last = { ...r.verdict, alpha, shadow: false };
  });
  return last!;
}

/** Three acting error-rate metrics, weights 3:1:1 of alpha 0.05, decided by the real engine. */
function realDecision(looks: { worse: Look; onlyCanaryFails: Look; same: Look }, elapsedMs: number): Decision {
  const alphas = splitAlpha(0.05, [
    { weight: 3, shadow: false },
    { weight: 1, shadow: false },
    { weight: 1, shadow: false },
  ]);
  const n = 12;
  const verdicts = [
    errorRateVerdict(
      'errors',
      Array.from({ length: n }, () => looks.worse),
      alphas[0]!,
    ),
    errorRateVerdict(
      'errors-5xx',
      Array.from({ length: n }, () => looks.onlyCanaryFails),
      alphas[1]!,
    ),
    errorRateVerdict(
      'errors-timeouts',
      Array.from({ length: n }, () => looks.same),
      alphas[2]!,
    ),
  ];
  const d = decide(
    {
      analysisId: 'checkout',
      service: 'checkout',
      canaryVersion: 'v1.8.0',
      baselineVersion: 'v1.7.3',
      look: n,
      atUnixMs: NOW_MS,
      elapsedMs,
      verdicts,
    },
    {
      maxDurationMs: 1_800_000,
      plan: ['kill-flag', 'shift-traffic'],
      dryRun: false,
      configHash: 'sha256:3f9a1c07d2e4',
      maxRollbacks: 3,
      recentRollbacks: 0,
    },
  );
  if (d === null) throw new Error('the engine decided nothing');
  return d;
}

const rollbackWithRealSummaries = realDecision(
  { worse: [1000, 60, 1000, 10], onlyCanaryFails: [1000, 20, 1000, 0], same: [1000, 10, 1000, 10] },
  60_000,
);
const promoteAtMaxDuration = realDecision(
  { worse: [1000, 11, 1000, 10], onlyCanaryFails: [1000, 10, 1000, 11], same: [1000, 10, 1000, 10] },
  1_800_000,
);

const SCENARIOS: { name: string; decision: Decision; unboundedAbove: boolean }[] = [
  {
    name: 'an infinite upper bound',
    decision: rollbackDecision({ verdicts: [{ ...errorRateFail, upper: Infinity }, latencyInconclusive, shadowFail] }),
    unboundedAbove: true,
  },
  {
    name: 'a missing upper bound (how records store an unbounded side) and a missing lower one',
    decision: rollbackDecision({
      verdicts: [
        { ...errorRateFail, upper: undefined },
        { ...errorRateFail, metric: 'errors-5xx', lower: undefined },
        { ...latencyInconclusive, alpha: 0 },
      ],
    }),
    unboundedAbove: false,
  },
  {
    name: 'a missing estimate, p-value and bound (NaN)',
    decision: rollbackDecision({
      verdicts: [{ ...errorRateFail, estimate: NaN, upper: NaN, pValue: NaN }, latencyInconclusive],
    }),
    unboundedAbove: false,
  },
  {
    name: 'real detector summaries, alphas 0.03 / 0.01 / 0.01, two failing metrics',
    decision: rollbackWithRealSummaries,
    unboundedAbove: false,
  },
  {
    name: 'real detector summaries, promote at maxDuration with inconclusive (two-sided) bounds',
    decision: promoteAtMaxDuration,
    unboundedAbove: false,
  },
];

describe('the scenarios are what they claim', () => {
  it('the real rollback fails on two metrics with different alphas, one of them without an upper bound', () => {
    const d = rollbackWithRealSummaries;
    expect(d.outcome).toBe('rollback');
    const failing = d.verdicts.filter((v) => v.phase === 'fail');
    expect(failing.map((v) => v.metric)).toEqual(['errors', 'errors-5xx']);
    expect(new Set(failing.map((v) => v.alpha)).size).toBe(2);
    expect(failing[1]!.upper).toBeUndefined();
    expect(d.reason).toContain('lower bound');
  });

  it('the real promote is at maxDuration, with inconclusive metrics', () => {
    expect(promoteAtMaxDuration.outcome).toBe('promote');
    expect(promoteAtMaxDuration.verdicts.every((v) => v.phase === 'inconclusive' && v.lower !== undefined)).toBe(true);
  });
});

describe.each(BUILDERS)('$name message wording', ({ build }) => {
  for (const s of SCENARIOS) {
    const notifications =
      s.decision.outcome === 'rollback'
        ? everyNotification(s.decision)
        : [{ kind: 'decision' as const, decision: s.decision }];
    for (const n of notifications) {
      it(`${n.kind}, ${s.name}: no "n/a", unbounded sides in words, one confidence level`, () => {
        const payload = build(n);
        if (
          payload === undefined ||
          (typeof payload === 'object' &&
            payload !== null &&
            'event_action' in payload &&
            payload.event_action === 'resolve')
        ) {
          return; // PagerDuty resolves a promote: nothing is said
        }
        const text = JSON.stringify(payload);
        expect(text).not.toMatch(/n\/a|NaN|∞|undefined/i); // PagerDuty's numeric fields write an infinite bound "Infinity"
        if (s.unboundedAbove) expect(text).toContain('unbounded above');
        expect(levels(text)).toEqual(['95%']);
      });
    }
  }
});
