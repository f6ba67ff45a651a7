import type { Verdict } from './detector.js';

export type Outcome = 'rollback' | 'promote' | 'abandoned';

export interface MetricVerdict extends Verdict {
  /** alpha_i given to this metric by the Bonferroni split. */
  alpha: number;
  /** Shadow metrics are computed and recorded, never acted on. */
  shadow: boolean;
}

/** The record written to the audit log BEFORE any job is enqueued. */
export interface Decision {
  id: string;
  analysis: string;
  service: string;
  route?: string;
  outcome: Outcome;
  /** Why, in one sentence. */
  reason: string;
  canaryVersion: string;
  baselineVersion: string;
  look: number;
  eventTimeUnixMs: number;
  verdicts: MetricVerdict[];
  configHash: string;
  /** Plan (connector names, in order) that this decision runs; empty for promote. */
  plan: string[];
  dryRun: boolean;
  /**
   * A synthetic decision of `vigil connectors test`: no canary was analysed. Receivers of forwarded
   * decisions (webhooks) see it as `data.test: true` and the CloudEvents extension `vigiltest: true`.
   */
  test?: true;
  /**
   * A decision of a rollback drill (`vigil drill`): synthetic telemetry of a regressed canary went through the real
   * pipeline under a drill version. Receivers see `data.drill: true` and the CloudEvents extension `vigildrill: true`;
   * chat titles start with "[DRILL]"; recovery, the judge and the version history ignore it like a test decision.
   */
  drill?: true;
  /** Requests per cohort that arrived after their look had closed (not compared); present when any did. */
  late?: { baseline: number; canary: number };
  /** Share of each cohort's requests for the compared looks that were compared (compared / (compared + late));
   *  null for a cohort with neither. Absent on decisions that compared nothing (tests, connector checks). */
  used?: { baseline: number | null; canary: number | null };
  /** A decision an operator took by hand (`POST /api/v1/analyses/:id/{rollback,promote}`): who, why (verbatim), the
   *  name of the API token used, and when (wall clock). Absent on the detectors' decisions. */
  manual?: { by: string; reason: string; token: string; atUnixMs: number };
}
