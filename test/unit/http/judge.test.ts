import { describe, expect, it } from 'vitest';
import type { AnalysisSnapshot } from '../../../src/analysis/analysis-registry.js';
import type { MetricVerdict } from '../../../src/contracts/index.js';
import { judge } from '../../../src/http/judge.js';
import { planDecision } from '../../helpers/decisions.js';

const T0 = 1_767_225_600_000;

function verdict(over: Partial<MetricVerdict> = {}): MetricVerdict {
  return {
    detector: 'error-rate',
    metric: 'errors',
    phase: 'inconclusive',
    pValue: 0.4,
    alpha: 0.025,
    shadow: false,
    samples: { baseline: 100, canary: 100 },
    summary: 'errors 1.1x',
    ...over,
  };
}

function snapshot(over: Partial<AnalysisSnapshot> = {}): AnalysisSnapshot {
  const service = over.service ?? 'cart';
  const canaryVersion = over.canaryVersion ?? '2';
  return {
    id: `${service}:${canaryVersion}`,
    service,
    canaryVersion,
    baselineVersion: '1',
    phase: 'running',
    why: 'collecting evidence',
    look: 3,
    startedAtUnixMs: T0,
    watermarkUnixMs: T0 + 30_000,
    totals: { baseline: { requests: 300, errors: 3 }, canary: { requests: 300, errors: 4 } },
    late: { baseline: 0, canary: 0 },
    used: { baseline: 1, canary: 1 },
    idleClosedLooks: { baseline: 0, canary: 0 },
    verdicts: [verdict(), verdict({ metric: 'latency', detector: 'latency', pValue: 0.2, shadow: true })],
    ...over,
  };
}

describe('judge', () => {
  it('running while the analysis runs: its why, the smallest acting p-value, every metric', () => {
    const a = judge([snapshot()], [], 'cart', '2');
    expect(a).toMatchObject({
      verdict: 'running',
      service: 'cart',
      canaryVersion: '2',
      analysis: 'cart:2',
      decision: null,
      reason: 'collecting evidence',
      pValue: 0.4, // the shadow metric's 0.2 does not act
    });
    expect(a.metrics.map((m) => [m.metric, m.phase, m.shadow])).toEqual([
      ['errors', 'inconclusive', false],
      ['latency', 'inconclusive', true],
    ]);
    expect(a.metrics[0]).not.toHaveProperty('samples');
  });

  it('fail once Vigil decided rollback', () => {
    const a = judge(
      [
        snapshot({
          phase: 'rollback',
          why: 'canary is worse: errors: 20x',
          decisionId: 'd-1',
          verdicts: [verdict({ phase: 'fail', pValue: 0.001, estimate: 20, lower: 9 })],
        }),
      ],
      [],
      'cart',
      '2',
    );
    expect(a).toMatchObject({
      verdict: 'fail',
      decision: 'd-1',
      reason: 'canary is worse: errors: 20x',
      pValue: 0.001,
    });
    expect(a.metrics[0]).toMatchObject({ estimate: 20, lower: 9 });
  });

  it('pass once Vigil would promote', () => {
    const a = judge([snapshot({ phase: 'promote', why: 'bounds exclude harm', decisionId: 'd-2' })], [], 'cart', '2');
    expect(a).toMatchObject({ verdict: 'pass', decision: 'd-2' });
  });

  it('fail for an abandoned (silent) canary, saying so', () => {
    const a = judge([snapshot({ phase: 'abandoned', why: 'the canary sent no telemetry for 300s' })], [], 'cart', '2');
    expect(a.verdict).toBe('fail');
    expect(a.reason).toBe('abandoned: the canary sent no telemetry for 300s');
  });

  it('unknown without an analysis of that version (or of that service)', () => {
    const other = judge([snapshot()], [], 'cart', '3');
    expect(other).toMatchObject({ verdict: 'unknown', canaryVersion: '3', analysis: null, pValue: null, metrics: [] });
    expect(other.reason).toContain('no analysis of version 3 of service cart');
    expect(judge([snapshot()], [], 'search', undefined)).toMatchObject({ verdict: 'unknown', canaryVersion: null });
  });

  it('without a version, judges the service newest analysis', () => {
    const old = snapshot({ canaryVersion: '2', phase: 'promote', startedAtUnixMs: T0 });
    const latest = snapshot({ canaryVersion: '3', startedAtUnixMs: T0 + 60_000 });
    const elsewhere = snapshot({ service: 'search', canaryVersion: '9', startedAtUnixMs: T0 + 120_000 });
    expect(judge([latest, old, elsewhere], [], 'cart', undefined)).toMatchObject({
      verdict: 'running',
      canaryVersion: '3',
    });
    expect(judge([old, latest], [], 'cart', '2').verdict).toBe('pass');
  });

  it('a decided analysis pruned from the registry is judged from its decision in the audit log', () => {
    const rollback = planDecision({
      id: 'd-9',
      analysis: 'cart:2',
      service: 'cart',
      canaryVersion: '2',
      reason: 'canary is worse',
      eventTimeUnixMs: T0 + 90_000,
      verdicts: [verdict({ phase: 'fail', pValue: 0.003 })],
    });
    expect(judge([], [rollback], 'cart', '2')).toMatchObject({
      verdict: 'fail',
      analysis: 'cart:2',
      decision: 'd-9',
      reason: 'canary is worse',
      pValue: 0.003,
    });
    // another service's or version's decision says nothing about this one
    expect(judge([], [rollback], 'cart', '3').verdict).toBe('unknown');
    expect(judge([], [rollback], 'search', '2').verdict).toBe('unknown');
    // promote and abandoned decisions
    expect(judge([], [{ ...rollback, outcome: 'promote' }], 'cart', '2').verdict).toBe('pass');
    expect(judge([], [{ ...rollback, outcome: 'abandoned' }], 'cart', '2').verdict).toBe('fail');
    // a synthetic decision of `vigil connectors test` judges nothing
    expect(judge([], [{ ...rollback, test: true }], 'cart', '2').verdict).toBe('unknown');
  });

  it('a listed analysis of the version outranks its older decisions (a resumed version runs again)', () => {
    const rollback = planDecision({ service: 'cart', canaryVersion: '2', eventTimeUnixMs: T0 + 10_000 });
    const again = snapshot({ canaryVersion: '2', startedAtUnixMs: T0 + 60_000 });
    expect(judge([again], [rollback], 'cart', '2').verdict).toBe('running');
  });

  it('without a version, a pruned decision newer than every listed analysis is the newest', () => {
    const listed = snapshot({ canaryVersion: '2', phase: 'promote', startedAtUnixMs: T0 });
    const pruned = planDecision({ service: 'cart', canaryVersion: '3', eventTimeUnixMs: T0 + 600_000 });
    expect(judge([listed], [pruned], 'cart', undefined)).toMatchObject({ verdict: 'fail', canaryVersion: '3' });
    const older = { ...pruned, eventTimeUnixMs: T0 - 600_000 };
    expect(judge([listed], [older], 'cart', undefined)).toMatchObject({ verdict: 'pass', canaryVersion: '2' });
  });
});
