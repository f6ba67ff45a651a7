// @ts-check
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * The nevers of the design (docs/architecture.md), as import zones: a wall here is a lint error, not a
 * convention. Paths are relative to the repository root.
 */
export const zones = [
  {
    target: './detectors',
    from: './src',
    except: ['./contracts', './errors.ts', './evidence/latency-histogram.ts'],
    message: 'detectors import only src/contracts, src/errors.ts and the pure src/evidence/latency-histogram.ts',
  },
  { target: './detectors', from: './connectors', message: 'detectors never import connectors' },
  {
    target: './connectors',
    from: './src',
    except: ['./contracts', './errors.ts'],
    message: 'connectors import only src/contracts and src/errors.ts',
  },
  { target: './connectors', from: './detectors', message: 'connectors never import detectors' },
  {
    target: './src/contracts',
    from: './src',
    except: ['./contracts', './errors.ts'],
    message: 'contracts are the plug-in API: they import only each other and src/errors.ts',
  },
  {
    target: ['./src/decide/engine.ts', './src/decide/audit-replay.ts', './src/evidence'],
    from: './src',
    except: ['./contracts', './errors.ts', './evidence'],
    message:
      'the decision engine, the audit replay and the evidence are pure: they import only contracts, errors and evidence',
  },
  {
    target: './src/ingest',
    from: ['./src/jobs', './src/decide', './src/http', './src/main.ts'],
    message: 'ingest never waits on the queue, the audit log or the servers: it hands samples on',
  },
  {
    target: './src/analysis',
    from: ['./src/ingest', './src/jobs', './src/http', './src/agent'],
    message: 'analysis sees samples and batches, not how they arrived (limits live in src/limits) nor what runs after',
  },
  {
    target: ['./src/!(cli).ts', './src/!(backtest|replay|demo)/**/*'],
    from: ['./src/backtest/**/*', './src/replay/**/*', './src/demo/**/*'],
    except: [],
    message: 'replay, backtest and demo are leaves: only src/cli.ts composes them',
  },
  {
    target: './src/state',
    from: './src',
    except: ['./contracts', './errors.ts', './redis-url.ts', './state'],
    message: 'the state store keeps opaque bytes: it imports only src/contracts, src/errors.ts and src/redis-url.ts',
  },
  {
    target: './src/jobs',
    from: ['./src/ingest', './src/analysis', './src/http', './src/main.ts'],
    message: 'jobs run plans; they know decisions and connectors, not telemetry or servers',
  },
];

/** How import-x reads the TypeScript sources it follows (without these it cannot see a cycle through .ts files). */
export function importSettings(/** @type {string} */ root) {
  return {
    ...importX.flatConfigs.typescript.settings,
    'import-x/resolver-next': [createTypeScriptImportResolver({ project: `${root}/tsconfig.json` })],
  };
}

/** The files held to `pureRules`. */
export const pureFiles = ['detectors/**/*.ts', 'src/decide/engine.ts', 'src/decide/audit-replay.ts'];

/** Purity of detectors, the decision engine and the audit replay: no clock, no randomness, no I/O, no timers.
 * @type {import('eslint').Linter.RulesRecord} */
export const pureRules = {
  'no-restricted-globals': [
    'error',
    ...['setTimeout', 'setInterval', 'setImmediate', 'fetch', 'performance', 'process', 'require'].map((name) => ({
      name,
      message: 'detectors and the decision engine are pure: time and I/O are passed in',
    })),
  ],
  'no-restricted-properties': [
    'error',
    { object: 'Date', property: 'now', message: 'pure code takes time as an argument' },
    { object: 'Math', property: 'random', message: 'pure code is deterministic: take a seeded source as an argument' },
  ],
  'no-restricted-syntax': [
    'error',
    { selector: 'ExportAllDeclaration', message: 'No export *: name what you export.' },
    {
      selector: "NewExpression[callee.name='Date'][arguments.length=0]",
      message: 'pure code takes time as an argument',
    },
  ],
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        {
          group: [
            'node:*',
            '!node:crypto',
            'fs',
            'fs/*',
            'http',
            'https',
            'net',
            'child_process',
            'pino',
            'ioredis',
            'bullmq',
          ],
          message: 'pure code does no I/O (node:crypto hashing is allowed: it is deterministic)',
        },
      ],
    },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench-results/**', 'coverage/**', 'test/fixtures/lint/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js', 'bin/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // fastify handlers are async by convention even when they return a value directly
      '@typescript-eslint/require-await': 'off',
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'No export *: name what you export.' },
      ],
    },
  },
  {
    files: ['src/**/*.ts', 'detectors/**/*.ts', 'connectors/**/*.ts', 'test/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: importSettings(import.meta.dirname),
    rules: {
      'import-x/no-restricted-paths': ['error', { zones }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  { files: pureFiles, rules: pureRules },
  {
    // one job per function: split what grows past this
    files: ['src/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }] },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  { files: ['eslint.config.js', 'bin/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    // the dashboard's browser modules (served as they are): the DOM is not in tsconfig's lib, so no typed rules
    files: ['src/http/dashboard/client/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['src/http/dashboard/client/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        ['document', 'location', 'fetch', 'setTimeout', 'clearTimeout', 'console', 'AbortController'].map((g) => [
          g,
          'readonly',
        ]),
      ),
    },
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }] },
  },
  { files: ['bin/*.js'], languageOptions: { globals: { process: 'readonly', URL: 'readonly' } } },
);
