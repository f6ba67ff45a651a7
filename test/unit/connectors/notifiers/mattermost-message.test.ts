import { describe, expect, it } from 'vitest';
import {
  MATTERMOST_LIMITS,
  buildMattermostMessage,
  escapeMattermost,
  mattermostChars,
} from '../../../../connectors/notifiers/mattermost-message.js';
import type { MetricVerdict } from '../../../../src/contracts/decision.js';
import {
  actionFailed,
  errorRateFail,
  everyNotification,
  rollbackDecision,
} from '../../../helpers/connectors/fixtures.js';

describe('buildMattermostMessage', () => {
  it('stays within the post limit for every kind of notification', () => {
    for (const n of everyNotification()) {
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
});
