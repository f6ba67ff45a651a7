import {
  chmodSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { type FlagdOptions, flagdFactory } from '../../../../connectors/flags/flagd.js';
import { connectorConformance, type StatefulPeer } from '../../../helpers/connectors/conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../../helpers/connectors/fixtures.js';
import { flagdCore as flagd, variantHits } from '../../../helpers/flagd-core.js';
import { rejection } from '../../../helpers/rejection.js';

const FIXTURE = readFileSync(new URL('../../../../fixtures/flags/flagd-flags.json', import.meta.url), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'vigil-flagd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function connector(path: string, extra: Partial<FlagdOptions> = {}) {
  return asPlan(
    flagdFactory.create(
      'kill-flag',
      flagdFactory.parse({ path, flag: 'checkout-v2', variant: 'baseline', ...extra }),
      deps,
    ),
  );
}

connectorConformance(
  'flagd (a real flag-definition file)',
  (t) => connector(fileURLToPath(t.url), { canaryVariant: 'canary' }),
  {
    stateful: (): Promise<StatefulPeer> => {
      const file = join(mkdtempSync(join(dir, 'conformance-')), 'flags.json');
      return Promise.resolve({
        url: pathToFileURL(file).href,
        rollOut: () => {
          writeFileSync(file, FIXTURE);
          return Promise.resolve();
        },
        // The inode changes with every replacement, so a rewrite with the same bytes still shows.
        snapshot: () => Promise.resolve(`${statSync(file).ino}:${readFileSync(file, 'utf8')}`),
        close: () => Promise.resolve(),
      });
    },
  },
);

describe('flagd against the file flagd reads, evaluated with @openfeature/flagd-core', () => {
  let n = 0;
  let file = '';
  beforeEach(() => {
    file = join(mkdtempSync(join(dir, `case-${n++}-`)), 'flags.json');
    writeFileSync(file, FIXTURE);
  });

  it('after the rollback the flag resolves to the baseline variant; every other flag resolves as before', async () => {
    const before = flagd(FIXTURE);
    expect(before.resolveStringEvaluation('checkout-v2', 'fallback', {})).toMatchObject({
      value: 'v1.8.0',
      variant: 'canary',
    });
    const res = await connector(file).apply(actionContext(rollbackDecision()));
    expect(res).toEqual({
      changed: true,
      detail: `applied: set defaultVariant of flag "checkout-v2" in ${file} to "baseline" (temp file + rename); before: flag "checkout-v2" in ${file} has defaultVariant "canary"`,
    });
    const text = readFileSync(file, 'utf8');
    const after = flagd(text);
    expect(after.resolveStringEvaluation('checkout-v2', 'fallback', {})).toMatchObject({
      value: 'v1.7.3',
      variant: 'baseline',
      reason: 'STATIC',
    });
    for (const [key, type, dflt, ctx] of [
      ['search-ranking', 'string', 'x', { email: 'ann@beta.example.com' }],
      ['search-ranking', 'string', 'x', { email: 'bob@example.com' }],
      ['new-banner', 'boolean', true, {}],
      ['pricing-experiment', 'number', 0, { targetingKey: 'user-7' }],
    ] as const) {
      expect(after.resolve(type, key, dflt, ctx)).toEqual(before.resolve(type, key, dflt, ctx));
    }
    expect(text).toBe(FIXTURE.replace('"defaultVariant": "canary",', '"defaultVariant": "baseline",'));
    expect(readdirSync(join(file, '..'))).toEqual(['flags.json']);
  });

  it('a flag with targeting keeps it: matching contexts still get their variant, others the new default; the result says so', async () => {
    const res = await connector(file, { flag: 'search-ranking', variant: '2' }).apply(
      actionContext(rollbackDecision()),
    );
    expect(res.changed).toBe(true);
    expect(res.detail).toMatch(/; note: its targeting rules still decide for the contexts they match$/);
    const after = flagd(readFileSync(file, 'utf8'));
    expect(after.resolveStringEvaluation('search-ranking', 'x', { email: 'bob@example.com' })).toMatchObject({
      value: 'bm25',
      reason: 'DEFAULT',
    });
    expect(after.resolveStringEvaluation('search-ranking', 'x', { email: 'ann@beta.example.com' })).toMatchObject({
      value: 'neural',
      reason: 'TARGETING_MATCH',
    });
  });

  it('a flag without defaultVariant gets one that flagd accepts', async () => {
    const res = await connector(file, { flag: 'pricing-experiment', variant: 'control' }).apply(
      actionContext(rollbackDecision()),
    );
    expect(res.detail).toContain('before: flag "pricing-experiment" in');
    expect(res.detail).toContain('has no defaultVariant');
    expect(flagd(readFileSync(file, 'utf8')).getFlag('pricing-experiment')?.defaultVariant).toBe('control');
  });

  it('reads first: already on the variant → nothing written (same inode); dry run names the write and writes nothing', async () => {
    const ino = statSync(file).ino;
    const dry = await connector(file).apply(actionContext(rollbackDecision(), { dryRun: true }));
    expect(dry).toEqual({
      changed: false,
      detail: `dry-run: would set defaultVariant of flag "checkout-v2" in ${file} to "baseline" (temp file + rename); now flag "checkout-v2" in ${file} has defaultVariant "canary"`,
    });
    expect(readFileSync(file, 'utf8')).toBe(FIXTURE);
    const done = await connector(file, { variant: 'canary' }).apply(actionContext(rollbackDecision()));
    expect(done).toEqual({
      changed: false,
      detail: `already rolled back: flag "checkout-v2" in ${file} has defaultVariant "canary"`,
    });
    expect(statSync(file).ino).toBe(ino);
  });

  it('a variant the flag does not have fails permanently, naming the variants, and leaves the file alone', async () => {
    const err = await rejection(connector(file, { variant: 'stable' }).apply(actionContext(rollbackDecision())));
    expect(err.code).toBe('VIGIL_ERR_CONNECTOR_FAILED');
    expect(err.retryable).toBe(false);
    expect(err.message).toBe(
      `connector failed: flagd: flag "checkout-v2" in ${file} has no variant "stable" (it has: canary, baseline): fix options.variant`,
    );
    expect(readFileSync(file, 'utf8')).toBe(FIXTURE);
    const ctx = actionContext(rollbackDecision());
    await expect(
      connector(file, { variant: 'stable' }).healthCheck!({ logger: ctx.logger, signal: ctx.signal }),
    ).rejects.toThrow('has no variant "stable"');
  });

  it('a missing file fails permanently with its cause; health check passes on a good file', async () => {
    const missing = await rejection(
      connector(join(dir, 'nope', 'flags.json')).apply(actionContext(rollbackDecision())),
    );
    expect(missing.retryable).toBe(false);
    expect(missing.details.errno).toBe('ENOENT');
    expect((missing.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    const ctx = actionContext(rollbackDecision());
    await expect(connector(file).healthCheck!({ logger: ctx.logger, signal: ctx.signal })).resolves.toBeUndefined();
  });

  it('keeps the file mode, and writes through a symlink (the link stays a link)', async () => {
    chmodSync(file, 0o640);
    const link = join(file, '..', 'current.json');
    symlinkSync(file, link);
    const res = await connector(link).apply(actionContext(rollbackDecision()));
    expect(res.changed).toBe(true);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(flagd(readFileSync(link, 'utf8')).resolveStringEvaluation('checkout-v2', 'x', {}).value).toBe('v1.7.3');
    expect(readdirSync(join(file, '..')).sort()).toEqual(['current.json', 'flags.json']);
  });
});

describe('flagd setCanaryShare: a fractional split, evaluated with @openfeature/flagd-core', () => {
  let n = 0;
  let file = '';
  beforeEach(() => {
    file = join(mkdtempSync(join(dir, `share-${n++}-`)), 'flags.json');
    writeFileSync(file, FIXTURE);
  });
  const sharer = (extra: Partial<FlagdOptions> = {}) => connector(file, { canaryVariant: 'canary', ...extra });
  /** The fraction of 2,000 targeting keys that get `variant`. */
  const fraction = (text: string, flag: string, variant: string) => variantHits(text, flag, variant) / 2_000;

  it('after setCanaryShare(30), 2,000 targeting keys get the canary variant 30% ± 3% of the time', async () => {
    const res = await sharer().setCanaryShare!(30, actionContext(rollbackDecision()));
    expect(res).toEqual({
      changed: true,
      detail: `canary share 30% (was 100%): set targeting of flag "checkout-v2" in ${file} to {"fractional":[["canary",30],["baseline",70]]} (temp file + rename)`,
    });
    const text = readFileSync(file, 'utf8');
    expect(JSON.parse(text)).toEqual({
      ...JSON.parse(FIXTURE),
      flags: {
        ...(JSON.parse(FIXTURE) as { flags: object }).flags,
        'checkout-v2': {
          ...(JSON.parse(FIXTURE) as { flags: Record<string, object> }).flags['checkout-v2'],
          targeting: {
            fractional: [
              ['canary', 30],
              ['baseline', 70],
            ],
          },
        },
      },
    });
    const f = fraction(text, 'checkout-v2', 'canary');
    console.info(`flagd observed canary fraction at 30%: ${f}`);
    expect(Math.abs(f - 0.3)).toBeLessThanOrEqual(0.03);
    // every other flag still evaluates as before
    expect(flagd(text).resolveStringEvaluation('search-ranking', 'x', {})).toEqual(
      flagd(FIXTURE).resolveStringEvaluation('search-ranking', 'x', {}),
    );
  });

  it('5 → 25 → 100 → 0: each step moves the split; the same share twice and a dry run write nothing', async () => {
    const c = sharer();
    for (const [share, was] of [
      [5, 100],
      [25, 5],
      [100, 25],
      [0, 100],
    ] as const) {
      const before = readFileSync(file, 'utf8');
      const dry = await c.setCanaryShare!(share, actionContext(rollbackDecision(), { dryRun: true }));
      expect(dry.changed).toBe(true);
      expect(dry.detail).toMatch(new RegExp(`^dry-run: canary share ${share}% \\(was ${was}%\\): would set targeting`));
      expect(readFileSync(file, 'utf8')).toBe(before);
      expect((await c.setCanaryShare!(share, actionContext(rollbackDecision()))).changed).toBe(true);
      const after = readFileSync(file, 'utf8');
      const ino = statSync(file).ino;
      const f = fraction(after, 'checkout-v2', 'canary');
      console.info(`flagd observed canary fraction at ${share}%: ${f}`);
      expect(Math.abs(f - share / 100)).toBeLessThanOrEqual(0.03);
      const again = await c.setCanaryShare!(share, actionContext(rollbackDecision()));
      expect(again.changed).toBe(false);
      expect(again.detail).toMatch(new RegExp(`^canary share ${share}% \\(was ${share}%\\): .* already splits`));
      expect((await c.setCanaryShare!(share, actionContext(rollbackDecision(), { dryRun: true }))).changed).toBe(false);
      expect([readFileSync(file, 'utf8'), statSync(file).ino]).toEqual([after, ino]);
    }
  });

  it('keeps a bucketing expression already in the split', async () => {
    const c = connector(file, { flag: 'pricing-experiment', variant: 'control', canaryVariant: 'treatment' });
    const res = await c.setCanaryShare!(2.5, actionContext(rollbackDecision()));
    expect(res.detail).toMatch(/^canary share 2\.5% \(was 50%\): /);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { flags: Record<string, { targeting: unknown }> };
    expect(doc.flags['pricing-experiment']!.targeting).toEqual({
      fractional: [{ var: 'userId' }, ['treatment', 5], ['control', 195]],
    });
  });

  it('never overwrites targeting rules that are not a canary split, and rejects a share outside 0–100', async () => {
    const c = connector(file, { flag: 'search-ranking', variant: '2', canaryVariant: '10' });
    const err = await rejection(c.setCanaryShare!(10, actionContext(rollbackDecision())));
    expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
    expect(err.message).toMatch(/has targeting rules that are not a fractional split of "10" and "2"/);
    for (const bad of [-1, 100.01, Number.NaN]) {
      const e = await rejection(sharer().setCanaryShare!(bad, actionContext(rollbackDecision())));
      expect([e.code, e.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
    }
    expect(readFileSync(file, 'utf8')).toBe(FIXTURE);
    // without canaryVariant the connector does not declare the capability
    expect('setCanaryShare' in connector(file)).toBe(false);
  });
});
