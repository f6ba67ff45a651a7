import { describe, expect, it } from 'vitest';
import {
  MATTERMOST_LIMITS,
  buildMattermostMessage,
  escapeMattermost,
  mattermostChars,
} from '../../../../connectors/notifiers/mattermost-message.js';
import type { MetricVerdict } from '../../../../src/contracts/decision.js';
import {
  HOSTILE,
  actionFailed,
  errorRateFail,
  everyKind,
  everyNotification,
  hugeOperatorNotification,
  manualRollback,
  operatorNotification,
  rollbackDecision,
} from '../../../helpers/connectors/fixtures.js';

describe('buildMattermostMessage', () => {
  it('stays within the post limit for every kind of notification', () => {
    for (const n of [...everyKind(), hugeOperatorNotification('z'.repeat(40_000))]) {
      const m = buildMattermostMessage(n, { dryRun: false });
      expect(mattermostChars(m)).toBeLessThanOrEqual(MATTERMOST_LIMITS.text);
      expect(m.attachments).toHaveLength(1);
    }
  });

  it('cuts oversized decisions and many metrics until the post fits', () => {
    const huge = 'z'.repeat(40_000);
    const verdicts: MetricVerdict[] = Array.from({ length: 60 }, (_, i) => ({
      ...errorRateFail,
      metric: `m${i}`,
      summary: huge,
    }));
    const d = rollbackDecision({ service: huge, reason: huge, verdicts });
    const m = buildMattermostMessage(
      { ...actionFailed(d), failure: { connector: 'c', error: huge } },
      { dryRun: false },
    );
    expect(mattermostChars(m)).toBeLessThanOrEqual(MATTERMOST_LIMITS.text);
    expect(m.attachments[0]!.text).toContain(`…and ${60 - MATTERMOST_LIMITS.maxMetrics} more metrics`);
    expect(Array.from(m.attachments[0]!.fallback).length).toBeLessThanOrEqual(MATTERMOST_LIMITS.fallback);
  });

  it('escapes Markdown and breaks channel-wide mentions in decision data', () => {
    expect(escapeMattermost('@channel **x** [a](b) `c` @all')).toBe(
      '@\u200bchannel \\*\\*x\\*\\* \\[a\\](b) \\`c\\` @\u200ball',
    );
    const d = rollbackDecision({ service: '@here', reason: 'ping @channel' });
    const m = buildMattermostMessage({ kind: 'decision', decision: d }, { dryRun: false });
    const all = JSON.stringify(m);
    expect(all).not.toMatch(/@(here|channel)/);
    expect(m.attachments[0]!.fields[0]).toEqual({ short: true, title: 'Service', value: '@\u200bhere' });
  });

  it('passes channel, username and icon overrides through', () => {
    const m = buildMattermostMessage(everyNotification()[0]!, {
      dryRun: false,
      channel: 'releases',
      username: 'vigil',
      iconUrl: 'https://x/i.png',
    });
    expect(m).toMatchObject({ channel: 'releases', username: 'vigil', icon_url: 'https://x/i.png' });
    expect(buildMattermostMessage(everyNotification()[0]!, { dryRun: false })).not.toHaveProperty('channel');
  });

  it('links the decision only for http(s) links', () => {
    const att = (link: string) =>
      buildMattermostMessage({ ...everyNotification()[0]!, link }, { dryRun: false }).attachments[0]!;
    expect(att('https://vigil.example.com/d/1').title_link).toBe('https://vigil.example.com/d/1');
    expect(att('javascript:alert(1)')).not.toHaveProperty('title_link');
  });

  it('marks dry runs in text, footer and plan; lists the steps of a completed plan', () => {
    const m = buildMattermostMessage(everyNotification()[0]!, { dryRun: true });
    expect(m.text).toMatch(/^\*\*\\\[dry-run\\\] /);
    expect(m.attachments[0]!.footer).toContain('DRY RUN');
    expect(m.attachments[0]!.text).toContain('NOT applied');
    const done = buildMattermostMessage(everyNotification()[2]!, { dryRun: false });
    expect(done.attachments[0]!.text).toContain(
      '**Steps:**\n- kill-flag: changed, flag checkout-v2 set to off\n- shift-traffic: already in place',
    );
  });

  it("an operator's pause: By and Why Markdown-escaped, mentions broken, the analysis as linked title", () => {
    const n = operatorNotification({ operator: { by: HOSTILE, reason: HOSTILE } });
    const m = buildMattermostMessage(n, { dryRun: false });
    const esc = escapeMattermost(HOSTILE);
    expect(esc).toBe(
      '\\<script\\>alert(1)\\</script\\> \\*bold\\* \\_it\\_ @\u200bhere \\<!channel\\> \\[x\\](https://evil.example)',
    );
    expect(JSON.stringify(m)).not.toMatch(/@here/);
    expect(m.text).toBe(`**checkout canary v1.8.0: analysis paused by ${esc}**`);
    const a = m.attachments[0]!;
    expect(a).toMatchObject({
      title: 'Analysis checkout',
      title_link: 'https://vigil.example.com/api/v1/analyses/checkout',
      text: 'Looks still run and are shown; nothing is decided until the analysis is resumed.',
      color: '#f5a623',
    });
    expect(a).not.toHaveProperty('footer');
    expect(a.fields.slice(0, 2)).toEqual([
      { short: true, title: 'By', value: `${esc} (token ops-bot)` },
      { short: true, title: 'Why', value: esc },
    ]);
    expect(a.fields.map((f) => f.title)).toEqual(['By', 'Why', 'Service', 'Canary', 'Baseline', 'Look', 'Analysis']);
    expect(buildMattermostMessage(n, { dryRun: true }).attachments[0]!.footer).toBe(
      '⚠ DRY RUN: Vigil decides and notifies, it changes nothing',
    );
  });

  it('a resume of a decided analysis says the decision stands and the version can be analysed again', () => {
    const n = operatorNotification({ operator: { action: 'resume' }, analysis: { phase: 'rollback' } });
    const m = buildMattermostMessage(n, { dryRun: false });
    expect(m.text).toBe('**checkout canary v1.8.0: analysis resumed by alice**');
    expect(m.attachments[0]!.text).toBe(
      'The earlier decision (rollback) stands; canary v1.8.0 can be analysed again: a new analysis starts with its next requests.',
    );
  });

  it('a rollback by hand: title by hand, By and Why first', () => {
    const m = buildMattermostMessage({ kind: 'decision', decision: manualRollback() }, { dryRun: false });
    expect(m.text).toBe('**Rollback by hand (alice): checkout canary v1.8.0 → baseline v1.7.3**');
    expect(m.attachments[0]!.fields.slice(0, 2).map((f) => [f.title, f.value])).toEqual([
      ['By', 'alice (token ops-bot)'],
      ['Why', 'database migration on the orders DB until 14:00'],
    ]);
  });
});
