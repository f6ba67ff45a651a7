/** docs/argo-rollouts.md and docs/flagger.md: every YAML and JSON block parses, and the manifests are the kinds
 *  the pages promise (a user applies them as they are). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { Secret, type ISecret } from 'kubernetes-models/v1/Secret';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

function blocks(page: string, lang: 'yaml' | 'json'): string[] {
  const text = readFileSync(fileURLToPath(new URL(`../../../docs/${page}`, import.meta.url)), 'utf8');
  return [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1] ?? '');
}

function kinds(page: string): string[] {
  return blocks(page, 'yaml').flatMap((b) =>
    parseAllDocuments(b).map((d) => {
      expect(d.errors.map((e) => e.message)).toEqual([]);
      expect(d.warnings.map((e) => e.message)).toEqual([]);
      return String((d.toJS() as { kind?: string }).kind ?? '(collector config)');
    }),
  );
}

describe('judge docs', () => {
  it('argo-rollouts.md: a Secret, the AnalysisTemplate and the Rollout, all parsing', () => {
    expect(kinds('argo-rollouts.md')).toEqual(['Secret', 'AnalysisTemplate', 'Rollout']);
    for (const j of blocks('argo-rollouts.md', 'json')) expect(() => JSON.parse(j) as unknown).not.toThrow();
    const secret = parseAllDocuments(blocks('argo-rollouts.md', 'yaml')[0] ?? '')[0]?.toJS() as ISecret;
    expect(() => new Secret(secret).validate()).not.toThrow();
  });

  it('flagger.md: the Collector config, the Canary with the four hooks and its Deployment, all parsing', () => {
    expect(kinds('flagger.md')).toEqual(['(collector config)', 'Canary', 'Deployment']);
    for (const j of blocks('flagger.md', 'json')) expect(() => JSON.parse(j) as unknown).not.toThrow();
    const canary = parseAllDocuments(blocks('flagger.md', 'yaml')[1] ?? '')[0]?.toJS() as {
      spec: { analysis: { webhooks: { type: string; url: string; metadata: Record<string, string> }[] } };
    };
    expect(canary.spec.analysis.webhooks.map((w) => [w.type, new URL(w.url).pathname])).toEqual([
      ['pre-rollout', '/api/v1/flagger/gate'],
      ['rollout', '/api/v1/flagger/gate'],
      ['confirm-promotion', '/api/v1/flagger/confirm-promotion'],
      ['rollback', '/api/v1/flagger/rollback'],
    ]);
    const deployment = parseAllDocuments(blocks('flagger.md', 'yaml')[2] ?? '')[0]?.toJS() as IDeployment;
    expect(() => new Deployment(deployment).validate()).not.toThrow();
    for (const w of canary.spec.analysis.webhooks) {
      expect(new URL(w.url).searchParams.get('token')).toBeTruthy();
      expect(w.metadata).toEqual({ service: 'checkout', canaryVersion: '1.4.2' });
    }
  });
});
