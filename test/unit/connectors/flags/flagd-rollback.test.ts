/**
 * The flagd connector's rollback after a promotion plan set a canary share: the fractional split `setCanaryShare`
 * wrote decides before `defaultVariant`, so `apply` puts its canary at weight 0 (as `setCanaryShare(0)`), not only
 * `defaultVariant` on the baseline; the result is checked with flagd's own evaluation (@openfeature/flagd-core).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { type FlagdOptions, flagdFactory } from '../../../../connectors/flags/flagd.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../../helpers/connectors/fixtures.js';
import { variantHits } from '../../../helpers/flagd-core.js';

const FIXTURE = readFileSync(new URL('../../../../fixtures/flags/flagd-flags.json', import.meta.url), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'vigil-flagd-rollback-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
let file = '';
beforeEach(() => {
  file = join(dir, `flags-${n++}.json`);
  writeFileSync(file, FIXTURE);
});

const connector = (extra: Partial<FlagdOptions> = {}) =>
  asPlan(
    flagdFactory.create(
      'flag',
      flagdFactory.parse({ path: file, flag: 'checkout-v2', variant: 'baseline', canaryVariant: 'canary', ...extra }),
      deps,
    ),
  );
const ctx = (dryRun = false) => actionContext(rollbackDecision(), { dryRun });
const targeting = () =>
  (JSON.parse(readFileSync(file, 'utf8')) as { flags: Record<string, { targeting?: unknown }> }).flags['checkout-v2']!
    .targeting;
const canaryHits = () => variantHits(readFileSync(file, 'utf8'), 'checkout-v2', 'canary');

describe('flagd apply after setCanaryShare', () => {
  it('puts the canary split at 0 and defaultVariant on the baseline: no evaluation gets the canary', async () => {
    const c = connector();
    await c.setCanaryShare!(25, ctx());
    expect(canaryHits()).toBeGreaterThan(400); // about 500 of 2,000
    const res = await c.apply(ctx());
    expect(res).toEqual({
      changed: true,
      detail: `applied: set defaultVariant of flag "checkout-v2" in ${file} to "baseline" and targeting of flag "checkout-v2" in ${file} to {"fractional":[["canary",0],["baseline",100]]} (temp file + rename); before: flag "checkout-v2" in ${file} has defaultVariant "canary" and targeting {"fractional":[["canary",25],["baseline",75]]}`,
    });
    expect(targeting()).toEqual({
      fractional: [
        ['canary', 0],
        ['baseline', 100],
      ],
    });
    expect(canaryHits()).toBe(0);
    // the state setCanaryShare(0) leaves; a second apply writes nothing
    expect((await c.setCanaryShare!(0, ctx())).changed).toBe(false);
    expect((await c.apply(ctx())).changed).toBe(false);
  });

  it('with defaultVariant already on the baseline, only the split changes; a dry run writes nothing', async () => {
    writeFileSync(file, FIXTURE.replace('"defaultVariant": "canary",', '"defaultVariant": "baseline",'));
    const c = connector();
    await c.setCanaryShare!(5, ctx());
    const before = readFileSync(file, 'utf8');
    const dry = await c.apply(ctx(true));
    expect(dry.changed).toBe(false);
    expect(dry.detail).toBe(
      `dry-run: would set targeting of flag "checkout-v2" in ${file} to {"fractional":[["canary",0],["baseline",100]]} (temp file + rename); now flag "checkout-v2" in ${file} has defaultVariant "baseline" and targeting {"fractional":[["canary",5],["baseline",95]]}`,
    );
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect((await c.apply(ctx())).changed).toBe(true);
    expect(canaryHits()).toBe(0);
  });

  it('keeps the bucketing expression of the split', async () => {
    const c = connector({ flag: 'pricing-experiment', variant: 'control', canaryVariant: 'treatment' });
    await c.apply(ctx());
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { flags: Record<string, { targeting: unknown }> };
    expect(doc.flags['pricing-experiment']!.targeting).toEqual({
      fractional: [{ var: 'userId' }, ['treatment', 0], ['control', 100]],
    });
  });

  it('without canaryVariant, a split is targeting like any other: apply sets defaultVariant only', async () => {
    await connector().setCanaryShare!(25, ctx());
    const res = await connector({ canaryVariant: undefined }).apply(ctx());
    expect(res.detail).toMatch(/^applied: set defaultVariant of .* to "baseline" \(temp file \+ rename\); /);
    expect(res.detail).toMatch(/; note: its targeting rules still decide for the contexts they match$/);
    expect(targeting()).toEqual({
      fractional: [
        ['canary', 25],
        ['baseline', 75],
      ],
    });
  });
});
