export type {
  Cohort,
  CohortOrUnknown,
  RequestSample,
  DecodedTraces,
  CohortIncrement,
  SpanIndicatorSpec,
  MetricIndicatorSpec,
} from './telemetry.js';
export type { LogMoments, LatencyHistogram, CohortBatch, CohortPair, GaugeCell, RatioCounts } from './evidence.js';
export { REQUEST_DURATION_METRICS } from './telemetry.js';
export { ROUTE_NONE, ROUTE_OTHER, INSTANCE_SERIES_SEPARATOR } from './evidence.js';
export type {
  LookInput,
  Phase,
  Verdict,
  Detector,
  DetectorFactory,
  DetectorLookResult,
  DetectorReads,
  CounterSelector,
  Where,
  WorseDirection,
} from './detector.js';
export type { Outcome, MetricVerdict, Decision } from './decision.js';
export { notificationIds } from './connector.js';
export { whereText } from './detector.js';
export type {
  RollbackTarget,
  ActionContext,
  ActionResult,
  PlanConnectorKind,
  PlanConnector,
  Notification,
  NotificationKind,
  DecisionNotification,
  DecisionNotificationKind,
  OperatorNotificationAction,
  OperatorNotification,
  OperatorNotificationAnalysis,
  Notifier,
  AnyConnector,
  ConnectorDeps,
  ConnectorFactory,
} from './connector.js';
