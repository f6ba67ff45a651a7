/**
 * The walls of the house bite: the import zones and purity rules of eslint.config.js refuse what the design
 * forbids, and the cycle check finds a cycle. Linted with the repository's own zones and rules, on probe
 * sources placed where the forbidden code would live (the resolver follows their imports to real files).
 */
import { join } from 'node:path';
import { ESLint } from 'eslint';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { importSettings, pureFiles, pureRules, zones } from '../../../eslint.config.js';

const root = join(import.meta.dirname, '../../..');

const eslint = new ESLint({
  cwd: root,
  overrideConfigFile: true,
  overrideConfig: [
    {
      files: ['**/*.ts'],
      languageOptions: { parser: tseslint.parser },
      plugins: { 'import-x': importX },
      settings: importSettings(root),
      rules: {
        'import-x/no-restricted-paths': ['error', { zones }],
        'import-x/no-cycle': ['error', { ignoreExternal: true }],
      },
    },
    { files: pureFiles, rules: pureRules },
  ],
});

async function problems(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, filePath) });
  return result!.messages.map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

describe('the walls of eslint.config.js', () => {
  it('a detector may not import a connector, nor the agent', async () => {
    const found = await problems(
      "import { connectors } from '../connectors/index.js';\nimport { buildConnectors } from '../src/connectors-build.js';\nexport const x = [connectors, buildConnectors];\n",
      'detectors/probe.ts',
    );
    expect(found).toEqual([
      expect.stringMatching(/^import-x\/no-restricted-paths: .*detectors never import connectors/),
      expect.stringMatching(/^import-x\/no-restricted-paths: .*detectors import only src\/contracts/),
    ]);
  });

  it('a detector may import contracts, errors and the pure histogram module', async () => {
    const found = await problems(
      "import type { Detector } from '../src/contracts/index.js';\nimport { VigilError } from '../src/errors.js';\nimport { histogramCount } from '../src/evidence/latency-histogram.js';\nexport const x: [Detector | undefined, unknown, unknown] = [undefined, VigilError, histogramCount];\n",
      'detectors/probe.ts',
    );
    expect(found).toEqual([]);
  });

  it('a connector may not import the job queue or a detector', async () => {
    const found = await problems(
      "import { createQueue } from '../../src/jobs/create-queue.js';\nimport { detectors } from '../../detectors/index.js';\nexport const x = [createQueue, detectors];\n",
      'connectors/flags/probe.ts',
    );
    expect(found).toEqual([
      expect.stringMatching(/connectors import only src\/contracts/),
      expect.stringMatching(/connectors never import detectors/),
    ]);
  });

  it('ingest may not wait on the queue', async () => {
    const found = await problems(
      "import { createQueue } from '../jobs/create-queue.js';\nexport const x = createQueue;\n",
      'src/ingest/probe.ts',
    );
    expect(found).toEqual([expect.stringMatching(/ingest never waits on the queue/)]);
  });

  it('replay, backtest and demo are leaves that only the CLI composes', async () => {
    const code = "import { runReplay } from '../replay/run-replay.js';\nexport const x = runReplay;\n";
    expect(await problems(code, 'src/agent/probe.ts')).toEqual([
      expect.stringMatching(/only src\/cli\.ts composes them/),
    ]);
    expect(
      await problems(
        "import { runReplay } from './replay/run-replay.js';\nexport const x = runReplay;\n",
        'src/cli.ts',
      ),
    ).toEqual([]);
  });

  it('analysis does not reach into ingest', async () => {
    const found = await problems(
      "import { cohortRulesOf } from '../ingest/cohort.js';\nexport const x = cohortRulesOf;\n",
      'src/analysis/probe.ts',
    );
    expect(found).toEqual([expect.stringMatching(/analysis sees samples and batches/)]);
  });

  it('the state store keeps opaque bytes: it may not import the queue, the analysis or the logger', async () => {
    const found = await problems(
      "import { createQueue } from '../jobs/create-queue.js';\nimport { AnalysisRegistry } from '../analysis/analysis-registry.js';\nimport { createLogger } from '../logger.js';\nexport const x = [createQueue, AnalysisRegistry, createLogger];\n",
      'src/state/probe.ts',
    );
    expect(found).toEqual([
      expect.stringMatching(/the state store keeps opaque bytes/),
      expect.stringMatching(/the state store keeps opaque bytes/),
      expect.stringMatching(/the state store keeps opaque bytes/),
    ]);
    expect(
      await problems(
        "import { Redis } from 'ioredis';\nimport { rename } from 'node:fs/promises';\nimport type { Decision } from '../contracts/index.js';\nimport { VigilError } from '../errors.js';\nimport { redactRedisUrl } from '../redis-url.js';\nimport { unframe } from './frame.js';\nexport const x: unknown[] = [Redis, rename, VigilError, redactRedisUrl, unframe, undefined as Decision | undefined];\n",
        'src/state/probe.ts',
      ),
    ).toEqual([]);
  });

  it('detectors and the engine are pure: no clock, no randomness, no I/O', async () => {
    const code =
      "import { readFileSync } from 'node:fs';\nexport const x = [readFileSync, Date.now(), Math.random(), new Date(), setTimeout];\n";
    const found = await problems(code, 'detectors/probe.ts');
    expect(found.map((f) => f.split(':')[0])).toEqual([
      'no-restricted-imports',
      'no-restricted-properties',
      'no-restricted-properties',
      'no-restricted-syntax',
      'no-restricted-globals',
    ]);
    expect(await problems(code, 'src/decide/engine.ts')).toHaveLength(5);
    expect(await problems(code, 'src/decide/audit-replay.ts')).toHaveLength(5);
    // the audit replay reads the entries it is given: it may not reach the log's file I/O (nor make a cycle)
    expect(
      await problems(
        "import { readAuditTail } from './audit-log.js';\nexport const x = readAuditTail;\n",
        'src/decide/audit-replay.ts',
      ),
    ).toEqual(
      expect.arrayContaining([expect.stringMatching(/^import-x\/no-restricted-paths: .*the audit replay .* are pure/)]),
    );
    // hashing is deterministic: the engine derives decision ids with node:crypto
    expect(
      await problems("import { createHash } from 'node:crypto';\nexport const x = createHash;\n", 'detectors/probe.ts'),
    ).toEqual([]);
  });

  it('finds an import cycle', async () => {
    const found = await problems(
      "import { b } from './cycle-b.js';\nexport const a = (): number => b() + 1;\n",
      'test/fixtures/lint/cycle-a.ts',
    );
    expect(found).toEqual([expect.stringMatching(/^import-x\/no-cycle: Dependency cycle detected/)]);
  });
});
