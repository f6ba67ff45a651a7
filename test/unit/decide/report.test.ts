/**
 * Decision reports, pure (src/decide/report.ts builds the model, report-render.ts writes it): the look table, the
 * plan's steps with their answers and timings, the manual actions of the version's run, what happens when the
 * analysis is gone, replicas' sources merged, and escaping (HTML and Markdown) of names that come from telemetry.
 */
import { describe, expect, it } from 'vitest';
import type { LookPoint } from '../../../src/analysis/analysis-types.js';
import type { Decision, MetricVerdict } from '../../../src/contracts/index.js';
import type { AuditEntry } from '../../../src/decide/audit-replay.js';
import {
  auditNeedles,
  buildReport,
  decisionFrom,
  entriesOf,
  reportLink,
  shellQuote,
  type ReportSources,
} from '../../../src/decide/report.js';
import { duration, htmlEscape, mdEscape, renderHtml, renderMarkdown } from '../../../src/decide/report-render.js';
import { mdRows } from '../../helpers/markdown-table.js';

const T = Date.parse('2026-01-01T00:10:00.000Z'); // the decision's audit entry
const at = (ms: number) => new Date(T + ms).toISOString();
const API = 'https://vigil.example.com';

function verdict(metric: string, over: Partial<MetricVerdict> = {}): MetricVerdict {
  return {
    detector: 'error-rate-sequential',
    metric,
    phase: 'fail',
    pValue: 0.0031,
    alpha: 0.025,
    estimate: 2.1,
    lower: 1.45,
    upper: 3.05,
    effect: 'error-rate ratio canary/baseline',
    samples: { baseline: 12_480, canary: 1_315 },
    summary: 'error rate 2.1x',
    shadow: false,
    ...over,
  };
}

function decision(over: Partial<Decision> = {}): Decision {
  return {
    id: 'd-0123456789abcdef',
    analysis: 'cart:2',
    service: 'cart',
    outcome: 'rollback',
    reason: 'canary is worse: error-rate 2.1x',
    canaryVersion: '2',
    baselineVersion: '1',
    look: 3,
    eventTimeUnixMs: Date.parse('2026-01-01T00:00:30.000Z'),
    verdicts: [verdict('error-rate'), verdict('latency', { phase: 'inconclusive', pValue: 0.4, shadow: true })],
    configHash: 'c0ffee1234567890',
    plan: ['mark', 'hook', 'flag'],
    dryRun: false,
    used: { baseline: 1, canary: 0.98 },
    late: { baseline: 0, canary: 27 },
    ...over,
  };
}

function look(n: number, over: Partial<LookPoint> = {}): LookPoint {
  return {
    look: n,
    atUnixMs: Date.parse('2026-01-01T00:00:00.000Z') + n * 10_000,
    requests: { baseline: 4160, canary: 440 },
    errors: { baseline: 41, canary: 22 },
    metrics: [
      {
        metric: 'error-rate',
        phase: 'inconclusive',
        pValue: 0.2,
        alpha: 0.025,
        estimate: 1.9,
        lower: 0.8,
        threshold: 1.1,
      },
      { metric: 'latency', phase: 'inconclusive', pValue: 0.4, alpha: 0.025, shadow: true },
    ],
    ...over,
  };
}

const LOOKS = [
  look(1),
  look(2),
  look(3, {
    decided: 'rollback',
    metrics: [
      {
        metric: 'error-rate',
        phase: 'fail',
        pValue: 0.0031,
        alpha: 0.025,
        estimate: 2.1,
        lower: 1.45,
        upper: 3.05,
        threshold: 1.1,
      },
      { metric: 'latency', phase: 'inconclusive', pValue: 0.4, alpha: 0.025, shadow: true },
    ],
  }),
  look(4), // a look after the decision (not in the report)
];

const d = decision();
/** The audit log of the version: an earlier run decided and resumed, a pause of this run, the decision, its steps. */
const ENTRIES: AuditEntry[] = [
  { type: 'decision', ...decision({ id: 'd-earlier', look: 9 }), loggedAt: at(-600_000) },
  {
    type: 'pause',
    analysis: 'cart:2',
    service: 'cart',
    canaryVersion: '2',
    by: 'eve',
    reason: 'old run',
    token: 'ops',
    loggedAt: at(-590_000),
  },
  { type: 'resume', service: 'cart', canaryVersion: '2', by: 'eve', reason: 'fixed', loggedAt: at(-500_000) },
  {
    type: 'pause',
    analysis: 'cart:2',
    service: 'cart',
    canaryVersion: '2',
    by: 'bob',
    reason: 'checking | the <b>dash</b>',
    token: 'ops',
    loggedAt: at(-4_000),
  },
  {
    type: 'unpause',
    analysis: 'cart:2',
    service: 'cart',
    canaryVersion: '2',
    by: 'bob',
    reason: 'looks real',
    token: 'ops',
    loggedAt: at(-2_000),
  },
  {
    type: 'pause',
    analysis: 'other:1',
    service: 'other',
    canaryVersion: '1',
    by: 'x',
    reason: 'y',
    loggedAt: at(-1_000),
  },
  { type: 'decision', ...d, loggedAt: at(0) },
  {
    type: 'action',
    decisionId: d.id,
    analysis: 'cart:2',
    service: 'cart',
    step: 0,
    connector: 'mark',
    changed: true,
    detail: 'noop: recorded cart',
    dryRun: false,
    attempt: 1,
    loggedAt: at(1_500),
  },
  {
    type: 'action',
    decisionId: 'd-earlier',
    analysis: 'cart:2',
    service: 'cart',
    step: 1,
    connector: 'hook',
    changed: true,
    detail: 'other decision',
    dryRun: false,
    attempt: 1,
    loggedAt: at(1_600),
  },
  {
    type: 'action-failed',
    decisionId: d.id,
    analysis: 'cart:2',
    service: 'cart',
    step: 1,
    connector: 'hook',
    dryRun: false,
    attempt: 3,
    error: 'HTTP 503 from hook',
    code: 'VIGIL_ERR_CONNECTOR_HTTP',
    loggedAt: at(65_000),
  },
  {
    type: 'notify-failed',
    decisionId: d.id,
    analysis: 'cart:2',
    notifier: 'chat',
    kind: 'action-failed',
    attempt: 5,
    error: 'HTTP 429',
    loggedAt: at(70_000),
  },
  {
    type: 'resume',
    analysis: 'cart:2',
    service: 'cart',
    canaryVersion: '2',
    by: 'alice',
    reason: 'flag fixed',
    token: 'ops',
    loggedAt: at(120_000),
  },
];

const sources = (over: Partial<ReportSources> = {}): ReportSources => ({
  decision: d,
  entries: ENTRIES,
  looks: LOOKS,
  audit: { path: '/var/lib/vigil/audit.jsonl', from: 0, size: 4096 },
  ...over,
});

const NOW = T + 125_000;
const model = (s: ReportSources[] = [sources()], dd: Decision = d) =>
  buildReport({ decision: dd, sources: s, nowUnixMs: NOW, apiUrl: API });

describe('the report model', () => {
  it('picks the entries of the decision and of its run: not another decision, analysis or run', () => {
    const picked = entriesOf(ENTRIES, d);
    expect(picked.own?.loggedAt).toBe(at(0));
    expect(picked.plan.map((e) => [e.type, e.step])).toEqual([
      ['action', 0],
      ['action-failed', 1],
    ]);
    expect(picked.notify).toHaveLength(1);
    // from the version's previous decision to its next: the earlier run's pause and resume are in (the resume
    // started this run), the other analysis's pause is not
    expect(picked.manual.map((e) => [e.type, e.by])).toEqual([
      ['pause', 'eve'],
      ['resume', 'eve'],
      ['pause', 'bob'],
      ['unpause', 'bob'],
      ['resume', 'alice'],
    ]);
    const next: AuditEntry = { type: 'decision', ...decision({ id: 'd-next', look: 20 }), loggedAt: at(200_000) };
    const later: AuditEntry = { type: 'pause', analysis: 'cart:2', by: 'z', reason: 'next run', loggedAt: at(210_000) };
    expect(entriesOf([...ENTRIES, next, later], d).manual.map((e) => e.by)).not.toContain('z');
  });

  it('the plan: each step with its answer, attempt and time after the decision; the steps after a failure not run', () => {
    const m = model();
    expect(m.decidedAt).toBe(at(0));
    expect(m.ageMs).toBe(125_000);
    expect(m.plan).toEqual({
      state: 'failed',
      note: 'The plan stopped at step 2 (hook): the steps after it were not run.',
      steps: [
        {
          step: 0,
          connector: 'mark',
          status: 'done',
          changed: true,
          detail: 'noop: recorded cart',
          attempt: 1,
          dryRun: false,
          loggedAt: at(1_500),
          afterMs: 1_500,
        },
        {
          step: 1,
          connector: 'hook',
          status: 'failed',
          error: 'HTTP 503 from hook',
          code: 'VIGIL_ERR_CONNECTOR_HTTP',
          attempt: 3,
          dryRun: false,
          loggedAt: at(65_000),
          afterMs: 65_000,
        },
        { step: 2, connector: 'flag', status: 'not run' },
      ],
    });
    expect(m.notifications).toEqual([
      { notifier: 'chat', kind: 'action-failed', error: 'HTTP 429', attempt: 5, loggedAt: at(70_000) },
    ]);
  });

  it('the looks up to the decision, the totals summed over them, and the why from explain.ts', () => {
    const m = model();
    expect(m.looks?.map((l) => l.look)).toEqual([1, 2, 3]);
    expect(m.totals).toEqual({
      source: 'looks',
      firstLook: 1,
      baseline: { requests: 3 * 4160, errors: 3 * 41 },
      canary: { requests: 3 * 440, errors: 3 * 22 },
    });
    expect(m.why).toEqual({
      reason: 'canary is worse: error-rate 2.1x',
      deciding: [
        'error-rate: FAIL, error-rate ratio canary/baseline 2.10 (bounds 1.45–3.05), p-value 0.0031 (alpha 0.025), samples baseline 12,480 / canary 1,315; p-value at or below its alpha; worse beyond 1.10',
      ],
      notes: [
        'Confidence: the lower bound holds with 97.5% confidence, and so does the upper bound (alpha 0.025; anytime-valid).',
        'Other metrics: latency inconclusive (shadow).',
      ],
      plan: 'Rollback plan: mark → hook → flag.',
    });
  });

  it('the analysis gone: says so, no looks, no totals; a later run of the version: says so too', () => {
    const gone = model([sources({ looks: undefined })]);
    expect(gone.looks).toBeUndefined();
    expect(gone.totals).toBeUndefined();
    expect(gone.looksNote).toBe(
      'Analysis cart:2 is no longer in memory (its looks are kept only while the agent holds the analysis): the verdicts at the decision follow.',
    );
    expect(gone.resume.note).toBe('Already resumed by alice at 2026-01-01T00:12:00.000Z: canary 2 is analysed again.');
    const snapshot = { id: 'cart:2', phase: 'running', decisionId: undefined } as unknown as ReportSources['analysis'];
    const later = model([sources({ analysis: snapshot })]);
    expect(later.looks).toBeUndefined();
    expect(later.looksNote).toMatch(/^Analysis cart:2 in memory now is a later run of canary 2 \(resumed since\)/);
  });

  it("merges the replicas' sources: the decision from one, steps from each, the replicas that did not answer", () => {
    const own = ENTRIES.filter((e) => e.type !== 'action-failed');
    const other: ReportSources = {
      entries: ENTRIES.filter((e) => e.type === 'action-failed'),
      audit: { path: '/data/audit.jsonl', from: 1024, size: 9216 },
      replica: 'vigil-1',
    };
    const m = buildReport({
      decision: d,
      sources: [sources({ entries: own, replica: 'vigil-0' }), other],
      unreachable: ['vigil-2'],
      nowUnixMs: NOW,
      apiUrl: API,
    });
    expect(m.plan.steps.map((s) => s.status)).toEqual(['done', 'failed', 'not run']);
    expect(m.sources).toEqual([
      'replica vigil-0: audit log /var/lib/vigil/audit.jsonl',
      'replica vigil-1: audit log /data/audit.jsonl (its last 8192 bytes of 9216: older entries were not read)',
      'vigil-2: did not answer (its audit entries are missing here)',
    ]);
    expect(decisionFrom([other, sources()], d.id)).toEqual(d);
    expect(decisionFrom([{ ...other, entries: ENTRIES }], d.id)).toEqual(d); // from its audit entry
    expect(decisionFrom([other], d.id)).toBeUndefined();
  });

  it('a decision by hand: its own row among the manual actions, at its time', () => {
    const manual = { by: 'carol', reason: 'p99 on fire', token: 'ops', atUnixMs: T - 100 };
    const byHand = decision({ manual, reason: 'rollback by hand: carol: p99 on fire' });
    const m = model([sources({ decision: byHand })], byHand);
    expect(m.manual.map((a) => [a.action, a.by, a.afterMs, a.isDecision ?? false])).toEqual([
      ['pause', 'eve', -590_000, false],
      ['resume', 'eve', -500_000, false],
      ['pause', 'bob', -4_000, false],
      ['unpause', 'bob', -2_000, false],
      ['rollback', 'carol', -100, true],
      ['resume', 'alice', 120_000, false],
    ]);
  });

  it('finds the audit lines of the decision and of its version by substring, then exactly', () => {
    const n = auditNeedles(d.id, d);
    const lines = ENTRIES.map((e) => JSON.stringify(e));
    expect(ENTRIES.filter((_, i) => n.line(lines[i]!)).length).toBe(ENTRIES.length - 1); // not the other analysis
    expect(ENTRIES.filter(n.entry).map((e) => e.type)).toEqual(
      ENTRIES.filter((e) => !(e.type === 'action' && e.decisionId === 'd-earlier') && e.analysis !== 'other:1').map(
        (e) => e.type,
      ),
    );
    const onlyId = auditNeedles(d.id, undefined);
    expect(lines.filter(onlyId.line)).toHaveLength(4); // its own entry, its 2 steps, its notification
  });
});

describe('the report written out', () => {
  it('Markdown: the look table, row by row, as the looks say', () => {
    const md = renderMarkdown(model(), API);
    const head = md.split('\n').find((l) => l.startsWith('| Look'));
    expect(head).toBe(
      '| Look | Event time | Requests canary / baseline | Failed canary / baseline | error-rate (worse beyond 1.10) | latency (shadow) | Outcome |',
    );
    expect(mdRows(md, '## Evidence per look')).toEqual([
      [
        '1',
        '2026-01-01T00:00:10Z',
        '440 / 4,160',
        '22 (5.0%) / 41 (1.0%)',
        'inconclusive; p 0.20 (α 0.025); 1.90 (≥ 0.80)',
        'inconclusive; p 0.40 (α 0.025)',
        '',
      ],
      [
        '2',
        '2026-01-01T00:00:20Z',
        '440 / 4,160',
        '22 (5.0%) / 41 (1.0%)',
        'inconclusive; p 0.20 (α 0.025); 1.90 (≥ 0.80)',
        'inconclusive; p 0.40 (α 0.025)',
        '',
      ],
      [
        '3',
        '2026-01-01T00:00:30Z',
        '440 / 4,160',
        '22 (5.0%) / 41 (1.0%)',
        'fail; p 0.0031 (α 0.025); 2.10 (1.45–3.05)',
        'inconclusive; p 0.40 (α 0.025)',
        '**rollback**',
      ],
    ]);
    expect(mdRows(md, '### Verdicts at the decision')).toEqual([
      ['error-rate', 'fail', '0.0031', '0.025', '2.10', '1.45–3.05', '1,315 / 12,480'],
      ['latency (shadow)', 'inconclusive', '0.40', '0.025', '2.10', '1.45–3.05', '1,315 / 12,480'],
    ]);
  });

  it('Markdown: the steps with answers and timings, the manual actions with who and why', () => {
    const md = renderMarkdown(model(), API);
    expect(md).toContain('A step failed for good. The plan stopped at step 2 (hook): the steps after it were not run.');
    expect(mdRows(md, '## Plan')).toEqual([
      ['1', 'mark', 'changed', 'noop: recorded cart', '1', '2026-01-01T00:10:01.500Z', '+1.5 s'],
      [
        '2',
        'hook',
        '**FAILED**',
        'HTTP 503 from hook \\[VIGIL\\_ERR\\_CONNECTOR\\_HTTP\\]',
        '3',
        '2026-01-01T00:11:05.000Z',
        '+1m5s',
      ],
      ['3', 'flag', 'not run', '', '', '', ''],
    ]);
    expect(md).toContain(
      '- chat (action-failed) failed for good after 5 attempts at 2026-01-01T00:11:10.000Z: HTTP 429',
    );
    expect(mdRows(md, '## Manual actions')).toEqual([
      ['pause', 'eve', 'old run', 'ops', '2026-01-01T00:00:10.000Z', '9m50s before'],
      ['resume', 'eve', 'fixed', '', '2026-01-01T00:01:40.000Z', '8m20s before'],
      ['pause', 'bob', 'checking \\| the \\<b\\>dash\\</b\\>', 'ops', '2026-01-01T00:09:56.000Z', '4.0 s before'],
      ['unpause', 'bob', 'looks real', 'ops', '2026-01-01T00:09:58.000Z', '2.0 s before'],
      ['resume', 'alice', 'flag fixed', 'ops', '2026-01-01T00:12:00.000Z', '+2m'],
    ]);
    expect(md).toContain('- Decided at: 2026-01-01T00:10:00.000Z (2m5s ago)\n');
    expect(md).toContain('- Share of requests used: canary 98.0%, baseline 100.0%\n');
    expect(md).toContain('- Late (arrived after their look closed, not compared): canary 27, baseline 0\n');
    expect(md).toContain('- Config hash: c0ffee1234567890\n');
    expect(md).toContain(
      "```sh\nvigil resume 'cart:2' --by 'YOUR NAME' --reason 'WHY' --api 'https://vigil.example.com'\n```",
    );
    expect(md).toContain("curl -X POST 'https://vigil.example.com/api/v1/analyses/cart%3A2/resume' \\\n");
  });

  it('a dry run says so at the top and in what was compared', () => {
    const dry = decision({ dryRun: true });
    const md = renderMarkdown(model([sources({ decision: dry })], dry), API);
    expect(md.split('\n')[0]).toBe('# \\[dry-run\\] Rollback cart: canary 2 is worse than baseline 1');
    expect(md).toContain('Decision report generated at 2026-01-01T00:12:05.000Z. **Dry run: nothing was changed.**');
    expect(md).toContain('- Mode: **DRY RUN**: nothing was changed\n');
  });

  it('a <script> in a service name stays text in HTML; the page has no script and loads nothing', () => {
    const evil = decision({
      service: '<script>alert(1)</script>',
      analysis: '<script>alert(1)</script>:2',
      reason: 'canary is worse: "<img src=x onerror=alert(2)>"',
    });
    const html = renderHtml(model([sources({ decision: evil, looks: undefined })], evil), API);
    expect(html).not.toMatch(/<script|<img/i);
    expect(html).toContain('<li>Service: &#60;script&#62;alert(1)&#60;/script&#62;</li>');
    expect(html).toContain('<title>Rollback &#60;script&#62;alert(1)&#60;/script&#62;: canary 2 is worse');
    expect(html).toContain('&#34;&#60;img src=x onerror=alert(2)&#62;&#34;');
    // the resume command: shell-quoted, then HTML-escaped
    expect(html).toContain(
      `<pre><code>vigil resume &#39;&#60;script&#62;alert(1)&#60;/script&#62;:2&#39; --by &#39;YOUR NAME&#39;`,
    );
    expect([...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1])).toEqual([
      'data:,',
      'https://vigil.example.com/api/v1/decisions/d-0123456789abcdef',
    ]);
  });

  it('a | in a name cannot split a Markdown table cell; backticks cannot break out of a code block', () => {
    const piped = decision({ service: 'a|b', plan: ['mark'] });
    const entries: AuditEntry[] = [
      { type: 'decision', ...piped, loggedAt: at(0) },
      {
        type: 'action',
        decisionId: d.id,
        analysis: 'cart:2',
        service: 'cart',
        step: 0,
        connector: 'mark',
        changed: true,
        detail: 'x | y `z`',
        attempt: 1,
        loggedAt: at(10),
      },
    ];
    const md = renderMarkdown(model([sources({ decision: piped, entries })], piped), API);
    expect(mdRows(md, '## Plan')).toEqual([['1', 'mark', 'changed', 'x \\| y \\`z\\`', '1', at(10), '+10 ms']]);
    expect(md).toContain('- Service: a\\|b\n');
    const ticks = decision({ analysis: 'x```\n# owned:2' });
    const fenced = renderMarkdown(model([sources({ decision: ticks })], ticks), API);
    expect(fenced).toContain("````sh\nvigil resume 'x```\n# owned:2' --by");
    expect(fenced).toContain(
      "````sh\nvigil resume 'x```\n# owned:2' --by 'YOUR NAME' --reason 'WHY' --api 'https://vigil.example.com'\n````\n",
    );
  });

  it('escapers and helpers', () => {
    expect(mdEscape('a|b <i>*c*</i> [d](e) `f` _g_ #h &amp;\nnext')).toBe(
      'a\\|b \\<i\\>\\*c\\*\\</i\\> \\[d\\](e) \\`f\\` \\_g\\_ \\#h \\&amp; next',
    );
    expect(htmlEscape(`<a href="x">'&'</a>`)).toBe('&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;');
    expect(shellQuote("it's $(rm -rf /)")).toBe(`'it'\\''s $(rm -rf /)'`);
    expect([850, 12_345, 65_000, 3_723_000].map(duration)).toEqual(['850 ms', '12.3 s', '1m5s', '1h2m3s']);
    expect(reportLink('https://vigil.example.com/', 'd-1/2')).toBe(
      'https://vigil.example.com/api/v1/decisions/d-1%2F2/report',
    );
  });
});
