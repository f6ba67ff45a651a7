import { describe, expect, it } from 'vitest';
import {
  DISCORD_LIMITS,
  DISCORD_MAX_METRICS,
  buildDiscordMessage,
  embedChars,
  escapeDiscord,
  type DiscordMessage,
} from '../../../../connectors/notifiers/discord-message.js';
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

const len = (s: string) => Array.from(s).length;

function expectWithinLimits(m: DiscordMessage): void {
  expect(len(m.content)).toBeLessThanOrEqual(DISCORD_LIMITS.content);
  expect(m.embeds.length).toBeLessThanOrEqual(10);
  for (const e of m.embeds) {
    expect(len(e.title)).toBeLessThanOrEqual(DISCORD_LIMITS.title);
    expect(len(e.description)).toBeLessThanOrEqual(DISCORD_LIMITS.description);
    expect(e.fields.length).toBeLessThanOrEqual(DISCORD_LIMITS.fields);
    for (const f of e.fields) {
      expect(len(f.name)).toBeLessThanOrEqual(DISCORD_LIMITS.fieldName);
      expect(len(f.value)).toBeLessThanOrEqual(DISCORD_LIMITS.fieldValue);
      expect(f.value).not.toBe('');
    }
    expect(len(e.footer.text)).toBeLessThanOrEqual(DISCORD_LIMITS.footer);
  }
  expect(embedChars(m)).toBeLessThanOrEqual(DISCORD_LIMITS.embedTotal);
}

describe('buildDiscordMessage', () => {
  it('stays within Discord limits for every kind of notification, and pings nobody', () => {
    for (const n of [...everyKind(), hugeOperatorNotification('y'.repeat(20_000))]) {
      const m = buildDiscordMessage(n, { dryRun: false });
      expectWithinLimits(m);
      expect(m.allowed_mentions).toEqual({ parse: [] });
    }
  });

  it('cuts oversized decisions to every limit, the 6000-character total included', () => {
    const huge = 'y'.repeat(20_000);
    const d = rollbackDecision({
      service: huge,
      reason: huge,
      canaryVersion: huge,
      baselineVersion: huge,
      analysis: huge,
    });
    const m = buildDiscordMessage({ ...actionFailed(d), failure: { connector: 'c', error: huge } }, { dryRun: false });
    expectWithinLimits(m);
    expect(m.embeds[0]!.title.endsWith('…')).toBe(true);
  });

  it('caps metric fields and counts the rest', () => {
    const verdicts: MetricVerdict[] = Array.from({ length: 60 }, (_, i) => ({ ...errorRateFail, metric: `m${i}` }));
    const m = buildDiscordMessage({ kind: 'decision', decision: rollbackDecision({ verdicts }) }, { dryRun: false });
    expectWithinLimits(m);
    const names = m.embeds[0]!.fields.map((f) => f.name);
    expect(names).toContain(`m${DISCORD_MAX_METRICS - 1} (error-rate-sequential): FAIL`);
    expect(names).not.toContain(`m${DISCORD_MAX_METRICS} (error-rate-sequential): FAIL`);
    expect(m.embeds[0]!.fields.find((f) => f.name === 'More metrics')?.value).toContain(
      `…and ${60 - DISCORD_MAX_METRICS} more metrics`,
    );
  });

  it('escapes Discord markdown in decision data', () => {
    expect(escapeDiscord('**x** [a](http://evil) <@123> `c` ~s~ |sp| > q # h \\')).toBe(
      '\\*\\*x\\*\\* \\[a\\](http://evil) \\<@123\\> \\`c\\` \\~s\\~ \\|sp\\| \\> q \\# h \\\\',
    );
    const d = rollbackDecision({ reason: 'see [here](http://evil) @everyone' });
    const m = buildDiscordMessage({ kind: 'decision', decision: d }, { dryRun: false });
    expect(m.embeds[0]!.description).toBe('see \\[here\\](http://evil) @everyone');
  });

  it('links the title only for http(s) links and carries the decision time', () => {
    const url = (link: string) =>
      buildDiscordMessage({ ...everyNotification()[0]!, link }, { dryRun: false }).embeds[0]!.url;
    expect(url('https://vigil.example.com/d/1')).toBe('https://vigil.example.com/d/1');
    expect(url('javascript:alert(1)')).toBeUndefined();
    expect(buildDiscordMessage(everyNotification()[0]!, { dryRun: false }).embeds[0]!.timestamp).toBe(
      '2026-01-01T00:01:00.000Z',
    );
  });

  it('marks dry runs in title, footer and plan', () => {
    const m = buildDiscordMessage(everyNotification()[0]!, { dryRun: true });
    expect(m.embeds[0]!.title).toMatch(/^\[dry-run\] /);
    expect(m.embeds[0]!.footer.text).toContain('DRY RUN');
    expect(m.embeds[0]!.fields.at(-1)!.value).toContain('NOT applied');
  });

  it('marks the failed step in the plan', () => {
    const m = buildDiscordMessage(actionFailed(), { dryRun: false });
    expect(m.embeds[0]!.fields.at(-1)).toEqual({
      name: 'Plan',
      value: 'kill-flag → **shift-traffic (failed here)** → undo-deploy',
      inline: false,
    });
    expect(m.embeds[0]!.description.startsWith('**Connector shift-traffic failed:')).toBe(true);
  });

  it("an operator's pause: what it means, By and Why escaped, the facts, the analysis linked, nobody pinged", () => {
    const n = operatorNotification({ operator: { by: HOSTILE, reason: HOSTILE } });
    const m = buildDiscordMessage(n, { dryRun: false });
    const esc = escapeDiscord(HOSTILE);
    expect(esc).toBe(
      '\\<script\\>alert(1)\\</script\\> \\*bold\\* \\_it\\_ @here \\<!channel\\> \\[x\\](https://evil.example)',
    );
    expect(m.content).toBe(`checkout canary v1.8.0: analysis paused by ${esc}`);
    expect(m.allowed_mentions).toEqual({ parse: [] }); // @here shows as typed and pings nobody
    const e = m.embeds[0]!;
    expect(e.description).toBe('Looks still run and are shown; nothing is decided until the analysis is resumed.');
    expect(e.fields).toEqual([
      { name: 'By', value: `${esc} (token ops-bot)`, inline: true },
      { name: 'Why', value: esc, inline: true },
      { name: 'Service', value: 'checkout', inline: true },
      { name: 'Canary', value: 'v1.8.0', inline: true },
      { name: 'Baseline', value: 'v1.7.3', inline: true },
      { name: 'Look', value: '7', inline: true },
      { name: 'Analysis', value: 'checkout', inline: true },
    ]);
    expect(e).toMatchObject({
      url: 'https://vigil.example.com/api/v1/analyses/checkout',
      footer: { text: 'Analysis checkout' },
      timestamp: '2026-01-01T00:01:05.000Z',
    });
    expect(buildDiscordMessage(n, { dryRun: true }).embeds[0]!.footer.text).toBe(
      'Analysis checkout · ⚠ DRY RUN: Vigil decides and notifies, it changes nothing',
    );
  });

  it('a rollback by hand: title by hand, By and Why first, the plan still within 25 fields', () => {
    const verdicts: MetricVerdict[] = Array.from({ length: 40 }, (_, i) => ({ ...errorRateFail, metric: `m${i}` }));
    const m = buildDiscordMessage({ kind: 'decision', decision: manualRollback({ verdicts }) }, { dryRun: false });
    expectWithinLimits(m);
    const e = m.embeds[0]!;
    expect(e.title).toBe('Rollback by hand (alice): checkout canary v1.8.0 → baseline v1.7.3');
    expect(e.fields.slice(0, 2).map((f) => [f.name, f.value])).toEqual([
      ['By', 'alice (token ops-bot)'],
      ['Why', 'database migration on the orders DB until 14:00'],
    ]);
    expect(e.fields.at(-1)!.name).toBe('Plan');
  });
});
