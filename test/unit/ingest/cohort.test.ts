import { describe, expect, it } from 'vitest';
import type { CohortRules } from '../../../src/ingest/cohort.js';
import {
  DEFAULT_COHORT_RULES,
  cohortFromAttribute,
  cohortFromPodLabel,
  cohortRulesOf,
  pickVersion,
  resolveResource,
  resolveSpanCohort,
} from '../../../src/ingest/cohort.js';
import { parseConfig } from '../../../src/config/load.js';
import { BUILTIN_REGISTRIES } from '../../../src/registries.js';

const rules = (over: Partial<CohortRules> = {}): CohortRules => ({ ...DEFAULT_COHORT_RULES, ...over });

describe('cohort attribute synonyms', () => {
  it.each([
    ['canary', 'canary'],
    ['Candidate', 'canary'],
    ['EXPERIMENT', 'canary'],
    [' canary ', 'canary'],
    ['baseline', 'baseline'],
    ['control', 'baseline'],
    ['Stable', 'baseline'],
    ['PRIMARY', 'baseline'],
    ['blue', undefined],
    ['', undefined],
    [undefined, undefined],
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
    [
      'attribute wins over label and version',
      rules({ canaryVersion: '2' }),
      { 'vigil.cohort': 'control', 'k8s.pod.label.track': 'canary', 'service.version': '2' },
      { version: '2', cohort: 'baseline' },
    ],
    [
      'unknown attribute value falls through to the label',
      rules(),
      { 'vigil.cohort': 'blue', 'k8s.pod.label.track': 'canary' },
      { version: '', cohort: 'canary' },
    ],
    [
      'deprecated k8s.pod.labels form',
      rules(),
      { 'k8s.pod.labels.track': 'stable' },
      { version: '', cohort: 'baseline' },
    ],
    [
      'current label form before deprecated',
      rules(),
      { 'k8s.pod.label.track': 'canary', 'k8s.pod.labels.track': 'stable' },
      { version: '', cohort: 'canary' },
    ],
    [
      'label keys in configured order',
      rules({ podLabels: ['role', 'track'] }),
      { 'k8s.pod.label.track': 'canary', 'k8s.pod.label.role': 'stable' },
      { version: '', cohort: 'baseline' },
    ],
    [
      'label outside the configured keys is ignored',
      rules({ podLabels: ['role'] }),
      { 'k8s.pod.label.track': 'canary' },
      { version: '', cohort: 'unknown' },
    ],
    [
      'canaryVersion matches',
      rules({ canaryVersion: '1.5' }),
      { 'service.version': '1.5' },
      { version: '1.5', cohort: 'canary' },
    ],
    [
      'canaryVersion, other version is baseline',
      rules({ canaryVersion: '1.5' }),
      { 'service.version': '1.4' },
      { version: '1.4', cohort: 'baseline' },
    ],
    [
      'canaryVersion against the pod label version',
      rules({ canaryVersion: '7' }),
      { 'k8s.pod.label.app.kubernetes.io/version': '7' },
      { version: '7', cohort: 'canary' },
    ],
    ['nothing matches', rules(), { 'service.version': '1.4' }, { version: '1.4', cohort: 'unknown' }],
    [
      'custom attribute key',
      rules({ attribute: 'canarylens.cohort' }),
      { 'canarylens.cohort': 'canary', 'vigil.cohort': 'baseline' },
      { version: '', cohort: 'canary' },
    ],
  ];
  it.each(table)('%s', (_name, r, attrs, expected) => {
    expect(resolveResource(r, (k) => attrs[k])).toEqual({ service: 'unknown_service', ...expected });
  });
});

describe("rule 4: the service's rollouts[].canaryVersion, after every other rule", () => {
  const byService = new Map([['checkout', '2.0']]);
  const r = rules({ canaryVersionByService: byService });
  const table: [string, CohortRules, Record<string, string>, { service: string; version: string; cohort: string }][] = [
    [
      'its canary version is the canary',
      r,
      { 'service.name': 'checkout', 'service.version': '2.0' },
      { service: 'checkout', version: '2.0', cohort: 'canary' },
    ],
    [
      'its other versions are the baseline',
      r,
      { 'service.name': 'checkout', 'service.version': '1.9' },
      { service: 'checkout', version: '1.9', cohort: 'baseline' },
    ],
    [
      'an unversioned resource is the baseline',
      r,
      { 'service.name': 'checkout' },
      { service: 'checkout', version: '', cohort: 'baseline' },
    ],
    [
      'other services stay unknown',
      r,
      { 'service.name': 'cart', 'service.version': '2.0' },
      { service: 'cart', version: '2.0', cohort: 'unknown' },
    ],
    [
      'the cohort attribute wins',
      r,
      { 'service.name': 'checkout', 'service.version': '2.0', 'vigil.cohort': 'baseline' },
      { service: 'checkout', version: '2.0', cohort: 'baseline' },
    ],
    [
      'an attribute naming no cohort falls through to it',
      r,
      { 'service.name': 'checkout', 'service.version': '2.0', 'vigil.cohort': 'blue' },
      { service: 'checkout', version: '2.0', cohort: 'canary' },
    ],
    [
      'a pod label wins',
      r,
      { 'service.name': 'checkout', 'service.version': '1.9', 'k8s.pod.label.track': 'canary' },
      { service: 'checkout', version: '1.9', cohort: 'canary' },
    ],
    [
      'the global canaryVersion wins',
      rules({ canaryVersion: '3.0', canaryVersionByService: byService }),
      { 'service.name': 'checkout', 'service.version': '2.0' },
      { service: 'checkout', version: '2.0', cohort: 'baseline' },
    ],
    [
      'the pod label version counts as the version',
      r,
      { 'service.name': 'checkout', 'k8s.pod.label.version': '2.0' },
      { service: 'checkout', version: '2.0', cohort: 'canary' },
    ],
  ];
  it.each(table)('%s', (_name, rr, attrs, expected) => {
    expect(resolveResource(rr, (k) => attrs[k])).toEqual(expected);
  });

  it('a span (or metric point) attribute naming a cohort still overrides it; other values leave it', () => {
    const { cohort } = resolveResource(r, (k) => ({ 'service.name': 'checkout', 'service.version': '2.0' })[k]);
    expect(resolveSpanCohort('baseline', cohort)).toBe('baseline');
    expect(resolveSpanCohort('bogus', cohort)).toBe('canary');
  });
});

describe('cohortRulesOf: the rules of a whole config', () => {
  it('takes cohorts: and every rollouts[].canaryVersion, as data a decode worker receives intact', () => {
    const loaded = parseConfig(
      `
cohorts: { attribute: deploy.track, podLabels: [role], canaryVersion: null }
rollouts:
  - { service: checkout, canaryVersion: "2.0" }
  - { service: cart, expectedCanaryShare: 0.1 }
  - { service: "constructor", canaryVersion: "9" }
`,
      't.yaml',
      BUILTIN_REGISTRIES,
      {},
    );
    const r = cohortRulesOf(loaded.config);
    expect(r).toEqual({
      attribute: 'deploy.track',
      podLabels: ['role'],
      canaryVersion: null,
      canaryVersionByService: new Map([
        ['checkout', '2.0'],
        ['constructor', '9'],
      ]),
    });
    expect(structuredClone(r)).toEqual(r);
    expect(resolveResource(r, (k) => ({ 'service.name': 'toString', 'service.version': '9' })[k]).cohort).toBe(
      'unknown',
    );
    expect(cohortRulesOf(parseConfig('{}', 'd.yaml', BUILTIN_REGISTRIES, {}).config)).toEqual({
      attribute: 'vigil.cohort',
      podLabels: ['track'],
      canaryVersion: null,
    });
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
