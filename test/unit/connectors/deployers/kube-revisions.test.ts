import { describe, expect, it } from 'vitest';
import {
  controlledBy,
  equalIgnoreHash,
  imageTag,
  revisionOf,
  rollbackAnnotations,
  selectorString,
  versionOf,
} from '../../../../connectors/deployers/kube-revisions.js';

describe('kube-revisions (kubectl rollout undo semantics)', () => {
  it('builds the labelSelector query from matchLabels and matchExpressions', () => {
    expect(
      selectorString({
        matchLabels: { app: 'checkout', tier: 'web' },
        matchExpressions: [
          { key: 'track', operator: 'In', values: ['stable', 'canary'] },
          { key: 'env', operator: 'NotIn', values: ['dev'] },
          { key: 'owner', operator: 'Exists' },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('app=checkout,tier=web,track in (stable,canary),env notin (dev),owner,!legacy');
    expect(() => selectorString({ matchExpressions: [{ key: 'a', operator: 'Gt' }] })).toThrow(
      /unknown label selector operator Gt/,
    );
  });

  it('compares templates ignoring pod-template-hash and empty fields, as equalIgnoreHash does', () => {
    const a = {
      metadata: { labels: { app: 'x', 'pod-template-hash': 'abc' } },
      spec: { containers: [{ name: 'c', image: 'i:1', env: [] }] },
    };
    const b = {
      metadata: { labels: { app: 'x' }, annotations: {} },
      spec: { containers: [{ name: 'c', image: 'i:1' }] },
    };
    expect(equalIgnoreHash(a, b)).toBe(true);
    expect(equalIgnoreHash(a, { ...b, spec: { containers: [{ name: 'c', image: 'i:2' }] } })).toBe(false);
    expect(a.metadata.labels['pod-template-hash']).toBe('abc');
  });

  it("keeps kubectl's skipped annotations from the Deployment and the rest from the ReplicaSet", () => {
    expect(
      rollbackAnnotations(
        {
          metadata: {
            annotations: {
              'deployment.kubernetes.io/revision': '7',
              'kubectl.kubernetes.io/last-applied-configuration': '{}',
              note: 'new',
            },
          },
        },
        {
          metadata: {
            annotations: {
              'deployment.kubernetes.io/revision': '3',
              'deployment.kubernetes.io/desired-replicas': '2',
              note: 'old',
              owner: 'team-a',
            },
          },
        },
      ),
    ).toEqual({
      'deployment.kubernetes.io/revision': '7',
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
      note: 'old',
      owner: 'team-a',
    });
  });

  it('reads versions from a label or an image tag, revisions and ownership from metadata', () => {
    expect(imageTag('registry.local:5000/shop/app:1.4.2@sha256:abc')).toBe('1.4.2');
    expect(imageTag('registry.local:5000/shop/app')).toBeUndefined();
    expect(imageTag('app:latest')).toBe('latest');
    const t = { metadata: { labels: { v: '1.0' } }, spec: { containers: [{ name: 'app', image: 'x/app:2.0' }] } };
    expect(versionOf(t, { label: 'v' })).toBe('1.0');
    expect(versionOf(t, { container: 'app' })).toBe('2.0');
    expect(versionOf(t, { container: 'sidecar' })).toBeUndefined();
    expect(revisionOf({ metadata: { annotations: { 'deployment.kubernetes.io/revision': '12' } } })).toBe(12);
    expect(revisionOf({})).toBe(-1);
    const d = { metadata: { uid: 'u1' } };
    expect(controlledBy({ metadata: { ownerReferences: [{ uid: 'u1', controller: true }] } }, d)).toBe(true);
    expect(controlledBy({ metadata: { ownerReferences: [{ uid: 'u1' }] } }, d)).toBe(false);
  });
});
