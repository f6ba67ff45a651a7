import { describe, expect, it } from 'vitest';
import {
  decidingVerdicts,
  describeBounds,
  describeConfidence,
  describeEvidence,
  describeValidity,
  describeVerdict,
  explainDecision,
  explainNotification,
  explainOperator,
  formatConfidence,
  formatInstant,
  formatCount,
  formatProbability,
  formatRatio,
} from '../../../../connectors/shared/explain.js';
import type { MetricVerdict } from '../../../../src/contracts/decision.js';
import {
  actionFailed,
  errorRateFail,
  everyNotification,
  latencyInconclusive,
  manualRollback,
  operatorNotification,
  promotionNotification,
  rollbackDecision,
  shadowFail,
} from '../../../helpers/connectors/fixtures.js';

describe('number formatting', () => {
  it('ratios: 2 decimals', () => {
    expect(formatRatio(2.1034)).toBe('2.10');
    expect(formatRatio(0.995)).toBe('0.99');
    expect(formatRatio(1)).toBe('1.00');
  });

  it('bounds: infinite sides spelled out, missing ones left out, never n/a', () => {
    expect(describeBounds({ lower: 1.4521, upper: 3.0467 })).toBe('bounds 1.45–3.05');
    expect(describeBounds({ lower: 1.21, upper: Infinity })).toBe('at least 1.21, unbounded above');
    expect(describeBounds({ lower: 1.21 })).toBe('at least 1.21');
    expect(describeBounds({ lower: NaN, upper: 3.05 })).toBe('at most 3.05');
    expect(describeBounds({ lower: -Infinity, upper: 3.05 })).toBe('at most 3.05, unbounded below');
    expect(describeBounds({ lower: -Infinity, upper: Infinity })).toBe('unbounded below, unbounded above');
    expect(describeBounds({})).toBeUndefined();
  });

  it('confidence levels: 1 - alpha in percent', () => {
    expect(formatConfidence(0.05)).toBe('95%');
    expect(formatConfidence(0.025)).toBe('97.5%');
    expect(formatConfidence(0.05 / 3 + 0.05 / 3 + 0.05 / 3)).toBe('95%');
    expect(formatConfidence(0.1)).toBe('90%');
  });

  it('p-values: 2 significant digits, "<0.0001" below', () => {
    expect(formatProbability(0.00312)).toBe('0.0031');
    expect(formatProbability(0.0001)).toBe('0.00010');
    expect(formatProbability(0.0000999)).toBe('<0.0001');
    expect(formatProbability(0)).toBe('<0.0001');
    expect(formatProbability(0.41)).toBe('0.41');
    expect(formatProbability(1)).toBe('1.0');
  });

  it('counts: thousands separators, "unknown" when not a number', () => {
    expect(formatCount(12480)).toBe('12,480');
    expect(formatCount(7)).toBe('7');
    expect(formatCount(NaN)).toBe('unknown');
  });
});

describe('decidingVerdicts', () => {
  it('rollback: failing metrics that are not shadows', () => {
    expect(decidingVerdicts(rollbackDecision())).toEqual([errorRateFail]);
  });
  it('promote: every metric that is not a shadow; abandoned: none', () => {
    expect(decidingVerdicts(rollbackDecision({ outcome: 'promote' }))).toEqual([errorRateFail, latencyInconclusive]);
    expect(decidingVerdicts(rollbackDecision({ outcome: 'abandoned' }))).toEqual([]);
  });
});

describe('explainDecision', () => {
  it('explains a rollback with its numbers and plan', () => {
    const { title, lines } = explainDecision(rollbackDecision());
    expect(title).toBe('Rollback checkout: canary v1.8.0 is worse than baseline v1.7.3');
    expect(lines).toContain(
      'error-rate: FAIL, error-rate ratio canary/baseline 2.10 (bounds 1.45–3.05), p-value 0.0031 (alpha 0.025), ' +
        'samples baseline 12,480 / canary 1,315',
    );
    expect(lines).toContain(
      'Confidence: all lower bounds hold together with 95% confidence, and so do all upper bounds ' +
        '(alpha 0.050 split across 2 acting metrics; anytime-valid).',
    );
    expect(lines).toContain('Other metrics: latency inconclusive, latency-p99 fail (shadow).');
    expect(lines).toContain('Rollback plan: kill-flag → shift-traffic → undo-deploy.');
    expect(lines.at(-1)).toBe('Decision dec-01JH2Q7K8Z, config sha256:3f9a1c07d2e4.');
  });

  it('marks dry runs in the title and says the plan is not applied', () => {
    const { title, lines } = explainDecision(rollbackDecision({ dryRun: true }));
    expect(title.startsWith('[dry-run] Rollback')).toBe(true);
    expect(lines.join('\n')).toMatch(/NOT applied; no connector is touched/);
  });

  it('names the route and handles promote', () => {
    const { title, lines } = explainDecision(rollbackDecision({ outcome: 'promote', route: '/pay', plan: [] }));
    expect(title).toBe('Promote checkout /pay: canary v1.8.0 holds up against baseline v1.7.3');
    expect(lines).toContain('No action: nothing is rolled back.');
  });

  it('describes a shadow verdict as not acted on, and an unbounded upper bound', () => {
    expect(describeVerdict(shadowFail)).toBe(
      'latency-p99: FAIL (shadow, not acted on), p99 latency ratio canary/baseline 1.52 (at least 1.21, unbounded above), ' +
        'p-value <0.0001 (alpha 0.050), samples baseline 12,480 / canary 1,315',
    );
  });
});

describe('a detector that is not anytime-valid (acting by acknowledgeNotAnytimeValid: true)', () => {
  const kayentaFail: MetricVerdict = {
    detector: 'kayenta-mann-whitney',
    metric: 'latency-kayenta',
    phase: 'fail',
    pValue: 0.0042,
    estimate: 1.31,
    effect: 'mean ratio canary/baseline of per-look geometric-mean latencies (Kayenta, not anytime-valid)',
    samples: { baseline: 12_480, canary: 1_315 },
    summary: 'Kayenta High: … Kayenta compatibility: not anytime-valid, …',
    anytimeValid: false,
    alpha: 0.025,
    shadow: false,
  };

  it('its failure: the explanation says alpha does not bound its false alarms, and its p-value says so', () => {
    const d = rollbackDecision({ verdicts: [errorRateFail, kayentaFail] });
    const caution =
      'Not anytime-valid: latency-kayenta (kayenta-mann-whitney) acts though its false alarms grow with the number of looks (acknowledgeNotAnytimeValid: true): alpha does not bound them, so this rollback may be a false alarm.';
    expect(describeValidity(d)).toBe(caution);
    const { lines } = explainDecision(d);
    expect(lines).toContain(caution);
    expect(lines.indexOf(caution)).toBe(lines.findIndex((l) => l.startsWith('latency-kayenta: FAIL')) + 1);
    expect(describeEvidence(kayentaFail)).toBe(
      'p-value 0.0042 (alpha 0.025; not anytime-valid), samples baseline 12,480 / canary 1,315',
    );
  });

  it('a promote it took part in says its pass carries no guarantee; anytime-valid or shadow ones say nothing', () => {
    const pass = { ...kayentaFail, phase: 'pass' as const };
    expect(describeValidity(rollbackDecision({ outcome: 'promote', verdicts: [pass] }))).toBe(
      'Not anytime-valid: latency-kayenta (kayenta-mann-whitney) acts though its false alarms grow with the number of looks (acknowledgeNotAnytimeValid: true): its pass carries no anytime-valid guarantee.',
    );
    expect(describeValidity(rollbackDecision())).toBeUndefined();
    const shadow = { ...kayentaFail, shadow: true };
    expect(describeValidity(rollbackDecision({ verdicts: [errorRateFail, shadow] }))).toBeUndefined();
    expect(explainDecision(rollbackDecision()).lines.some((l) => l.includes('anytime-valid:'))).toBe(false);
    expect(describeEvidence(errorRateFail)).not.toContain('anytime');
  });
});

describe('describeConfidence', () => {
  it('states the family level of the alpha split once: the sum of the acting alphas, shadows left out', () => {
    const weighted = rollbackDecision({
      verdicts: [
        { ...errorRateFail, alpha: 0.0075 },
        { ...latencyInconclusive, alpha: 0.0025 },
        { ...shadowFail, alpha: 0.0075 },
      ],
    });
    expect(describeConfidence(weighted)).toMatch(/ 99% confidence/);
    expect(describeConfidence(rollbackDecision({ verdicts: [errorRateFail] }))).toBe(
      'Confidence: the lower bound holds with 97.5% confidence, and so does the upper bound (alpha 0.025; anytime-valid).',
    );
  });

  it('says nothing when the message shows no bound', () => {
    expect(describeConfidence(rollbackDecision({ outcome: 'abandoned' }))).toBeUndefined();
    const noBounds = { ...errorRateFail, lower: undefined, upper: undefined };
    expect(describeConfidence(rollbackDecision({ verdicts: [noBounds] }))).toBeUndefined();
  });
});

describe('explainNotification', () => {
  it('action-failed: names the connector and its error first, and links the decision', () => {
    const { title, lines } = explainNotification(actionFailed());
    expect(title).toBe('Rollback of checkout canary v1.8.0 FAILED: connector shift-traffic');
    expect(lines[0]).toMatch(
      /^Connector shift-traffic failed: traffic answered HTTP 403: .* \[VIGIL_ERR_CONNECTOR_HTTP_4XX\]/,
    );
    expect(lines.at(-1)).toBe('Details: https://vigil.example.com/api/decisions/dec-01JH2Q7K8Z');
  });

  it('plan-completed: lists what each step did', () => {
    const { lines } = explainNotification({
      kind: 'plan-completed',
      decision: rollbackDecision(),
      steps: [{ connector: 'kill-flag', changed: false, detail: 'flag already off' }],
    });
    expect(lines).toContain('Step kill-flag: already in place, flag already off');
  });
});

describe('actions by hand', () => {
  it('a decision by hand says so in every title, and who, with which token, when', () => {
    const titles = everyNotification(manualRollback()).map((n) => explainNotification(n).title);
    expect(titles).toEqual([
      'Rollback by hand (alice): checkout canary v1.8.0 → baseline v1.7.3',
      'Rollback by hand (alice) of checkout canary v1.8.0 FAILED: connector shift-traffic',
      'Rolled back by hand (alice): checkout canary v1.8.0 → baseline v1.7.3',
    ]);
    const promote = explainDecision(manualRollback({ outcome: 'promote', plan: [], dryRun: true }));
    expect(promote.title).toBe('[dry-run] Promoted by hand (alice): checkout canary v1.8.0');
    expect(explainDecision(manualRollback()).lines.slice(0, 2)).toEqual([
      'rollback by hand: alice: database migration on the orders DB until 14:00',
      'By hand: alice (token ops-bot), at 2026-01-01T00:01:05.000Z.',
    ]);
    expect(explainDecision(rollbackDecision()).lines.join('\n')).not.toContain('by hand');
  });

  it("an operator's pause and resume: title, why, who, what it means, the analysis, the link", () => {
    expect(explainOperator(operatorNotification())).toEqual({
      title: 'checkout canary v1.8.0: analysis paused by alice',
      lines: [
        'Why: database migration on the orders DB until 14:00',
        'By: alice (token ops-bot), at 2026-01-01T00:01:05.000Z.',
        'Looks still run and are shown; nothing is decided until the analysis is resumed.',
        'checkout: canary v1.8.0 vs baseline v1.7.3, look 7, analysis checkout.',
        'Details: https://vigil.example.com/api/v1/analyses/checkout',
      ],
    });
    const resumed = explainOperator(
      operatorNotification({ operator: { action: 'resume' }, dryRun: true, link: undefined }),
    );
    expect(resumed.title).toBe('[dry-run] checkout canary v1.8.0: analysis resumed by alice');
    expect(resumed.lines[2]).toBe('The pause is lifted: the next look decides as usual.');
    expect(resumed.lines.some((l) => l.startsWith('Details'))).toBe(false);
    const decided = explainOperator(
      operatorNotification({ operator: { action: 'resume' }, analysis: { phase: 'promote' } }),
    );
    expect(decided.lines[2]).toBe(
      'The earlier decision (promote) stands; canary v1.8.0 can be analysed again: a new analysis starts with its next requests.',
    );
  });

  it("the promotion plan's calls: an approval asked for (and how to give it), given, and a held step", () => {
    expect(explainOperator(promotionNotification('approval-needed'))).toEqual({
      title: 'checkout canary v1.8.0: promotion to 50% waits for an approval',
      lines: [
        'Why: the plan waits for an approval of 50%',
        'By: promotion plan (token vigil), at 2026-01-01T00:01:05.000Z.',
        "The canary stays at 25% until someone approves 50%: the dashboard's Approve, " +
          '`vigil approve checkout --by <who> --reason <why>`, or POST /api/v1/analyses/checkout/approve.',
        'checkout: canary v1.8.0 vs baseline v1.7.3, look 7, analysis checkout.',
        'Details: https://vigil.example.com/api/v1/analyses/checkout',
      ],
    });
    const approved = explainOperator(promotionNotification('approve'));
    expect(approved.title).toBe('checkout canary v1.8.0: promotion to 50% approved by alice');
    expect(approved.lines[2]).toBe('The promotion plan sets the canary share to 50% at its next look.');
    const held = explainOperator(promotionNotification('promotion-held'));
    expect(held.title).toBe('checkout canary v1.8.0: promotion HELD at 25%: 50% could not be set');
    expect(held.lines[2]).toBe(
      'Connector router failed: nginx -t failed. The canary stays at 25%: the plan tries 50% again at each look and ' +
        'never goes past a share that is not in place; fix the connector, or roll back by hand.',
    );
  });

  it('an instant that is not a number reads "an unknown time" (never throws)', () => {
    expect(formatInstant(Date.UTC(2026, 0, 1))).toBe('2026-01-01T00:00:00.000Z');
    expect(formatInstant(NaN)).toBe('an unknown time');
    expect(explainOperator(operatorNotification({ operator: { atUnixMs: NaN } })).lines[1]).toBe(
      'By: alice (token ops-bot), at an unknown time.',
    );
  });
});

describe('business and resource metrics', () => {
  const conversion: MetricVerdict = {
    detector: 'ratio-sequential',
    metric: 'conversion',
    phase: 'fail',
    pValue: 0.0031,
    alpha: 0.025,
    shadow: false,
    effect: 'conversion ratio canary/baseline',
    estimate: 0.8312,
    lower: 0.7,
    upper: 0.9413,
    worse: 'lower',
    samples: { baseline: 4000, canary: 4000 },
    summary: 'conversion 0.83x baseline: lower is worse',
  };
  const memory: MetricVerdict = {
    ...conversion,
    detector: 'gauge-sequential',
    metric: 'memory',
    effect: 'memory ratio canary/baseline (instance means)',
    estimate: 1.21,
    lower: 1.08,
    upper: 1.35,
    worse: 'higher',
    instances: { baseline: 10, canary: 3 },
    samples: { baseline: 120, canary: 36 },
  };

  it('a verdict says which way is worse, in chat and in every explanation', () => {
    expect(describeVerdict(conversion)).toBe(
      'conversion: FAIL, conversion ratio canary/baseline 0.83 (bounds 0.70–0.94): lower is worse, p-value 0.0031 (alpha 0.025), samples baseline 4,000 / canary 4,000',
    );
    const { lines } = explainDecision(rollbackDecision({ verdicts: [conversion] }));
    expect(lines.some((l) => l.includes('0.83 (bounds 0.70–0.94): lower is worse'))).toBe(true);
  });

  it('a gauge verdict shows the instances compared per cohort (few instances, little power)', () => {
    expect(describeEvidence(memory)).toBe(
      'p-value 0.0031 (alpha 0.025), samples baseline 120 / canary 36, instances baseline 10 / canary 3',
    );
    expect(describeVerdict(memory)).toContain('1.21 (bounds 1.08–1.35): higher is worse');
  });
});

describe('rollback drills', () => {
  it('a drill decision says so first in every title', () => {
    const d = rollbackDecision({ drill: true });
    expect(explainDecision(d).title.startsWith('[DRILL] ')).toBe(true);
    expect(explainDecision(rollbackDecision()).title).not.toContain('DRILL');
    expect(explainDecision(rollbackDecision({ drill: true, dryRun: true })).title).toMatch(/^\[DRILL\] \[dry-run\] /);
  });
});
