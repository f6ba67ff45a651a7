import { describe, expect, it } from 'vitest';
import type { CohortRules } from '../../../src/ingest/cohort.js';
import {
  DEFAULT_COHORT_RULES, cohortFromAttribute, cohortFromPodLabel, pickVersion, resolveResource, resolveSpanCohort,
} from '../../../src/ingest/cohort.js';

const rules = (over: Partial<CohortRules> = {}): CohortRules => ({ ...DEFAULT_COHORT_RULES, ...over });

describe('cohort attribute synonyms', () => {
  it.each([
    ['canary', 'canary'], ['Candidate', 'canary'], ['EXPERIMENT', 'canary'], [' canary ', 'canary'],
    ['baseline', 'baseline'], ['control', 'baseline'], ['Stable', 'baseline'], ['PRIMARY', 'baseline'],
    ['blue', undefined], ['', undefined], [undefined, undefined],
  ])('%j -> %s', (value, cohort) => {
    expect(cohortFromAttribute(value)).toBe(cohort);
  });

  it('pod label values: canary, stable, baseline, primary only', () => {
    expect(cohortFromPodLabel('canary')).toBe('canary');
    expect(cohortFromPodLabel('stable')).toBe('baseline');
    expect(cohortFromPodLabel('Primary')).toBe('baseline');
    expect(cohortFromPodLabel('baseline')).toBe('baseline');
    expect(cohortFromPodLabel('experiment')).toBeUndefined();
    expect(cohortFromPodLabel('control')).toBeUndefined();
  });
});

describe('version', () => {
  it('prefers service.version, then the app.kubernetes.io/version label, then the version label', () => {
    expect(pickVersion('1.0', '2.0', '3.0')).toBe('1.0');
    expect(pickVersion(undefined, '2.0', '3.0')).toBe('2.0');
    expect(pickVersion('', '2.0', '3.0')).toBe('2.0');
    expect(pickVersion(undefined, undefined, '3.0')).toBe('3.0');
    expect(pickVersion(undefined, undefined, undefined)).toBe('');
  });
});

describe('resolveResource: first rule that matches', () => {
  const table: [string, CohortRules, Record<string, string>, { version: string; cohort: string }][] = [
    ['attribute wins over label and version', rules({ canaryVersion: '2' }),
      { 'vigil.cohort': 'control', 'k8s.pod.label.track': 'canary', 'service.version': '2' }, { version: '2', cohort: 'baseline' }],
    ['unknown attribute value falls through to the label', rules(),
      { 'vigil.cohort': 'blue', 'k8s.pod.label.track': 'canary' }, { version: '', cohort: 'canary' }],
    ['deprecated k8s.pod.labels form', rules(), { 'k8s.pod.labels.track': 'stable' }, { version: '', cohort: 'baseline' }],
    ['current label form before deprecated', rules(),
      { 'k8s.pod.label.track': 'canary', 'k8s.pod.labels.track': 'stable' }, { version: '', cohort: 'canary' }],
    ['label keys in configured order', rules({ podLabels: ['role', 'track'] }),
      { 'k8s.pod.label.track': 'canary', 'k8s.pod.label.role': 'stable' }, { version: '', cohort: 'baseline' }],
    ['label outside the configured keys is ignored', rules({ podLabels: ['role'] }),
      { 'k8s.pod.label.track': 'canary' }, { version: '', cohort: 'unknown' }],
    ['canaryVersion matches', rules({ canaryVersion: '1.5' }), { 'service.version': '1.5' }, { version: '1.5', cohort: 'canary' }],
    ['canaryVersion, other version is baseline', rules({ canaryVersion: '1.5' }), { 'service.version': '1.4' }, { version: '1.4', cohort: 'baseline' }],
    ['canaryVersion against the pod label version', rules({ canaryVersion: '7' }),
      { 'k8s.pod.label.app.kubernetes.io/version': '7' }, { version: '7', cohort: 'canary' }],
    ['nothing matches', rules(), { 'service.version': '1.4' }, { version: '1.4', cohort: 'unknown' }],
    ['custom attribute key', rules({ attribute: 'canarylens.cohort' }),
      { 'canarylens.cohort': 'canary', 'vigil.cohort': 'baseline' }, { version: '', cohort: 'canary' }],
  ];
  it.each(table)('%s', (_name, r, attrs, expected) => {
    expect(resolveResource(r, (k) => attrs[k])).toEqual(expected);
  });
});

describe('span-level override', () => {
  it('a span attribute naming a cohort overrides the resource; others leave it', () => {
    expect(resolveSpanCohort('canary', 'baseline')).toBe('canary');
    expect(resolveSpanCohort('Control', 'unknown')).toBe('baseline');
    expect(resolveSpanCohort('bogus', 'canary')).toBe('canary');
    expect(resolveSpanCohort(undefined, 'unknown')).toBe('unknown');
  });
});
