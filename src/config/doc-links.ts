/**
 * Where the documentation answers a config problem: every `fix:` line ends with one of these links
 * (`file#anchor`, GitHub heading slugs). test/unit/config/doc-links.test.ts checks that each file exists and
 * has a heading with that slug, so a renamed heading fails the build instead of printing a dead link.
 */

export const CONFIG_DOC = 'README.md#configuration';
export const DETECTORS_DOC = 'README.md#detectors';
export const CONNECTORS_DOC = 'README.md#connectors-the-rollback-plan-and-notifiers';
export const CONNECTOR_OPTIONS_DOC = 'docs/connectors.md#types-and-options';
export const DETECTOR_OPTIONS_DOC = 'docs/detectors.md#types-and-options';

/** Sections by top-level key (others: CONFIG_DOC). */
const SECTION_DOCS: Record<string, string> = {
  ingest: 'docs/ingest.md#backpressure',
  limits: 'docs/ingest.md#limits-and-expiry',
};

/** Detectors with a section of their own in docs/detectors.md (others: its table of types and options). */
const DETECTOR_DOCS: Record<string, string> = {
  'latency-quantile': 'docs/detectors.md#latency-quantile',
  srm: 'docs/detectors.md#srm',
  'slo-guard': 'docs/detectors.md#slo-guard',
  'kayenta-mann-whitney': 'docs/detectors.md#kayenta-mann-whitney',
};

/** The section of docs/connectors.md that explains each built-in connector type, with an example. */
const CONNECTOR_DOCS: Record<string, string> = {
  webhook: 'docs/connectors.md#webhook-signed-cloudevents',
  flagd: 'docs/connectors.md#feature-flags',
  unleash: 'docs/connectors.md#feature-flags',
  launchdarkly: 'docs/connectors.md#feature-flags',
  flagsmith: 'docs/connectors.md#feature-flags',
  nginx: 'docs/connectors.md#traffic-and-deployers',
  haproxy: 'docs/connectors.md#traffic-and-deployers',
  'gateway-api': 'docs/connectors.md#traffic-and-deployers',
  istio: 'docs/connectors.md#traffic-and-deployers',
  kubernetes: 'docs/connectors.md#traffic-and-deployers',
  'argo-rollouts': 'docs/connectors.md#traffic-and-deployers',
  command: 'docs/connectors.md#traffic-and-deployers',
};
const NOTIFIER_DOCS: Record<string, string> = {
  webhook: 'docs/connectors.md#webhook-signed-cloudevents',
  slack: 'docs/connectors.md#chat-and-paging',
  teams: 'docs/connectors.md#chat-and-paging',
  discord: 'docs/connectors.md#chat-and-paging',
  'google-chat': 'docs/connectors.md#chat-and-paging',
  mattermost: 'docs/connectors.md#chat-and-paging',
  pagerduty: 'docs/connectors.md#chat-and-paging',
};

/** The doc for a key of the config (a path as in ConfigIssue: ['analysis', 'metrics', 0, 'name']). */
export function docForKey(path: readonly PropertyKey[]): string {
  const [top, second] = path;
  if (top === 'analysis' && second === 'metrics') return DETECTORS_DOC;
  if (top === 'connectors' || top === 'notifiers') return CONNECTORS_DOC;
  return (typeof top === 'string' ? SECTION_DOCS[top] : undefined) ?? CONFIG_DOC;
}

export function docForDetector(type: string): string {
  return DETECTOR_DOCS[type] ?? DETECTOR_OPTIONS_DOC;
}

/** The options table, plus the section with behaviour and an example when the type has one. */
export function docsForConnector(section: 'connectors' | 'notifiers', type: string): string[] {
  const own = (section === 'connectors' ? CONNECTOR_DOCS : NOTIFIER_DOCS)[type];
  return own ? [CONNECTOR_OPTIONS_DOC, own] : [CONNECTOR_OPTIONS_DOC];
}

/** Every link this module can print (for the test that resolves them). */
export function allDocLinks(): string[] {
  return [
    ...new Set([
      CONFIG_DOC,
      DETECTORS_DOC,
      CONNECTORS_DOC,
      CONNECTOR_OPTIONS_DOC,
      DETECTOR_OPTIONS_DOC,
      ...Object.values(SECTION_DOCS),
      ...Object.values(DETECTOR_DOCS),
      ...Object.values(CONNECTOR_DOCS),
      ...Object.values(NOTIFIER_DOCS),
    ]),
  ];
}
