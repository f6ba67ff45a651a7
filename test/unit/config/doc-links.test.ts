/**
 * Every documentation link a config problem can print (`fix: …; see FILE#anchor`) points at a file that
 * exists and a heading that has that GitHub slug.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allDocLinks } from '../../../src/config/doc-links.js';
import { ConfigError, loadConfigFile, parseConfig } from '../../../src/config/load.js';
import { BUILTIN_REGISTRIES } from '../../../src/registries.js';

const root = join(import.meta.dirname, '../../..');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces → "-", repeats get "-1", "-2". */
function headingSlugs(markdown: string): Set<string> {
  const slugs = new Set<string>();
  const counts = new Map<string, number>();
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const f = /^\s*(```|~~~)/.exec(line);
    if (f) {
      if (fence === undefined) fence = f[1];
      else if (f[1] === fence) fence = undefined;
      continue;
    }
    if (fence !== undefined) continue;
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const base = h[1]!
      .replace(/<[^>]*>/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = counts.get(base) ?? 0;
    counts.set(base, n + 1);
    slugs.add(n === 0 ? base : `${base}-${n}`);
  }
  return slugs;
}

function unresolved(link: string): string | undefined {
  const [file, anchor] = link.split('#') as [string, string | undefined];
  const path = join(root, file);
  if (!existsSync(path)) return `${link}: no file ${file}`;
  if (anchor !== undefined && !headingSlugs(readFileSync(path, 'utf8')).has(anchor))
    return `${link}: no heading with the slug "${anchor}" in ${file}`;
  return undefined;
}

const LINK = /\b((?:README|docs\/[\w.-]+)\.md)(#[\w-]+)?/g;
const linksIn = (text: string) => [...text.matchAll(LINK)].map((m) => `${m[1]}${m[2] ?? ''}`);

function problemsOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('documentation links in config problems', () => {
  it('slugs headings the way GitHub does', () => {
    const slugs = headingSlugs(
      '# Vigil\n## Connectors (the rollback plan) and notifiers\n## `vigil connectors test`\n```sh\n# not a heading\n```\n## Vigil\n',
    );
    expect([...slugs]).toEqual([
      'vigil',
      'connectors-the-rollback-plan-and-notifiers',
      'vigil-connectors-test',
      'vigil-1',
    ]);
  });

  it('every link the loader knows resolves to a file and a heading', () => {
    expect(allDocLinks().map(unresolved).filter(Boolean)).toEqual([]);
  });

  it('every fix printed for the invalid fixtures and for a config with one mistake of each kind names a link that resolves', () => {
    const dir = join(root, 'fixtures/config/invalid');
    const messages = readdirSync(dir).map(
      (f) => problemsOf(() => loadConfigFile(join(dir, f), BUILTIN_REGISTRIES, {}, { serving: true })).message,
    );
    messages.push(
      problemsOf(() =>
        parseConfig(
          [
            'ingest: { maxInflightRequests: 0 }',
            'limits: { maxServices: lots }',
            'analysis:',
            '  metrics:',
            '    - { name: a, detector: latency-quantile, options: { quantile: 2 } }',
            '    - { name: b, detector: srm, options: { onMismatch: panic } }',
            '    - { name: c, detector: nope }',
            'connectors:',
            '  - { name: f, type: flagd, options: {} }',
            '  - { name: n, type: nginx, options: {} }',
            '  - { name: w, type: webhook, options: { url: "${W}" } }',
            'notifiers:',
            '  - { name: s, type: slack, options: {} }',
            '  - { name: x, type: webhook, options: {} }',
            '  - { name: z, type: noop, options: { what: 1 } }',
          ].join('\n'),
          'all.yaml',
          BUILTIN_REGISTRIES,
          {},
        ),
      ).message,
    );
    const fixLines = messages.flatMap((m) => m.split('\n').filter((l) => l.trimStart().startsWith('fix:')));
    expect(fixLines.length).toBeGreaterThan(25);
    for (const line of fixLines) expect(linksIn(line), `a fix without a doc link: ${line}`).not.toEqual([]);
    const links = [...new Set(fixLines.flatMap(linksIn))];
    expect(links).toEqual(
      expect.arrayContaining([
        'docs/detectors.md#latency-quantile',
        'docs/detectors.md#srm',
        'docs/connectors.md#feature-flags',
        'docs/ingest.md#backpressure',
      ]),
    );
    expect(links.map(unresolved).filter(Boolean)).toEqual([]);
  });
});
