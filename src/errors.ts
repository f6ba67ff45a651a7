/**
 * The ONE table of Vigil's error codes. Every error Vigil raises on purpose carries one of these codes.
 *
 * Rules (as fastify does it): codes are `VIGIL_ERR_<AREA>_<WHAT>`, each has a message template and a
 * `retryable` flag; a retired code is never reused for something else. Connectors wrap vendor errors with
 * `cause`; a vendor 4xx is never retryable, a 5xx or a timeout is.
 */
export const ERROR_CODES = {
  // config
  VIGIL_ERR_CONFIG_NOT_FOUND: { message: 'config file not found: %s', retryable: false },
  VIGIL_ERR_CONFIG_YAML: { message: 'config file is not valid YAML: %s', retryable: false },
  VIGIL_ERR_CONFIG_INVALID: { message: 'config is invalid: %s', retryable: false },
  VIGIL_ERR_CONFIG_ENV_MISSING: { message: 'environment variable %s is not set', retryable: false },
  VIGIL_ERR_CONFIG_UNKNOWN_TYPE: { message: 'unknown type %s', retryable: false },
  VIGIL_ERR_CONFIG_UNKNOWN_CONNECTOR: { message: 'plan names connector %s, which is not defined', retryable: false },
  VIGIL_ERR_CONFIG_DUPLICATE_NAME: { message: 'name %s is used twice', retryable: false },
  VIGIL_ERR_CONFIG_CONNECTOR_OPTIONS: { message: 'connector options are invalid: %s', retryable: false },
  VIGIL_ERR_CONFIG_AUTH: { message: 'the control API would not be protected: %s', retryable: false },
  VIGIL_ERR_CONFIG_NOT_ANYTIME_VALID: {
    message: 'an acting metric has a detector that is not anytime-valid: %s',
    retryable: false,
  },
  // ingest
  VIGIL_ERR_INGEST_DECODE: { message: 'OTLP payload could not be decoded: %s', retryable: false },
  VIGIL_ERR_INGEST_MEDIA_TYPE: { message: 'unsupported media type %s', retryable: false },
  VIGIL_ERR_INGEST_ENCODING: { message: 'unsupported content encoding %s', retryable: false },
  VIGIL_ERR_INGEST_TOO_LARGE: { message: 'request body exceeds %s bytes', retryable: false },
  VIGIL_ERR_INGEST_TIMEOUT: { message: 'the request %s did not arrive within %s ms', retryable: true },
  VIGIL_ERR_INGEST_THROTTLED: { message: 'ingest queue is full (%s); retry after %s s', retryable: true },
  // analysis / decision
  VIGIL_ERR_DETECTOR_OPTIONS: { message: 'detector options are invalid: %s', retryable: false },
  VIGIL_ERR_AUDIT_WRITE: { message: 'audit log could not be written: %s', retryable: true },
  VIGIL_ERR_AUDIT_READ: { message: 'audit log could not be read back: %s', retryable: false },
  // jobs
  VIGIL_ERR_QUEUE_UNAVAILABLE: { message: 'job queue is unavailable: %s', retryable: true },
  VIGIL_ERR_JOB_RETRIES_EXHAUSTED: { message: 'job %s failed after %s attempts', retryable: false },
  VIGIL_ERR_QUEUE_DRAIN_TIMEOUT: { message: 'queue %s did not drain within %s ms', retryable: true },
  VIGIL_ERR_QUEUE_CLOSED: { message: 'queue %s is closed', retryable: false },
  // state (the agent's checkpoints)
  VIGIL_ERR_STATE_CORRUPT: { message: 'checkpoint %s is corrupt: %s', retryable: false },
  VIGIL_ERR_STATE_READ: { message: 'checkpoint %s could not be read: %s', retryable: true },
  VIGIL_ERR_STATE_WRITE: { message: 'checkpoint %s could not be written: %s', retryable: true },
  VIGIL_ERR_STATE_CLOSED: { message: 'state store %s is closed', retryable: false },
  // cluster (several replicas on one Redis)
  VIGIL_ERR_CLUSTER_FENCED: {
    message: 'write for service %s refused: lease token %s of replica %s is no longer the owner',
    retryable: false,
  },
  // connectors
  VIGIL_ERR_CONNECTOR_HTTP_4XX: { message: 'vendor rejected the request: %s', retryable: false },
  VIGIL_ERR_CONNECTOR_HTTP_5XX: { message: 'vendor failed: %s', retryable: true },
  VIGIL_ERR_CONNECTOR_TIMEOUT: { message: 'vendor did not answer within %s ms', retryable: true },
  VIGIL_ERR_CONNECTOR_NETWORK: { message: 'vendor unreachable: %s', retryable: true },
  VIGIL_ERR_CONNECTOR_FAILED: { message: 'connector failed: %s', retryable: false },
  VIGIL_ERR_CONNECTOR_ABORTED: { message: 'connector call was aborted by the caller: %s', retryable: true },
  // cli
  VIGIL_ERR_CLI_USAGE: { message: '%s', retryable: false },
  VIGIL_ERR_REPLAY_INPUT: { message: 'recording is unreadable: %s', retryable: false },
  VIGIL_ERR_BACKTEST_NO_TRAFFIC: { message: 'nothing to backtest: %s', retryable: false },
} as const satisfies Record<string, { message: string; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

function format(template: string, args: readonly unknown[]): string {
  let i = 0;
  return template.replace(/%s/g, () => (i < args.length ? String(args[i++]) : '%s'));
}

export class VigilError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Extra structured facts (file, key, fix, http status...) for logs and API answers; never secrets. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    args: readonly unknown[] = [],
    opts: { cause?: unknown; details?: Record<string, unknown>; retryable?: boolean } = {},
  ) {
    super(format(ERROR_CODES[code].message, args), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'VigilError';
    this.code = code;
    this.retryable = opts.retryable ?? ERROR_CODES[code].retryable;
    this.details = Object.freeze({ ...(opts.details ?? {}) });
  }
}

export function isVigilError(e: unknown): e is VigilError {
  return e instanceof VigilError;
}

/** Whether an error should be retried by a job runner: VigilErrors say so; anything unknown is retried. */
export function isRetryable(e: unknown): boolean {
  return isVigilError(e) ? e.retryable : true;
}

/**
 * Wraps an HTTP answer from a vendor into a VigilError: 4xx is permanent (except 408 and 429, which say
 * "try again"), 5xx is retryable. The vendor's body is kept short and never includes request headers.
 */
export function vendorHttpError(vendor: string, status: number, body: string): VigilError {
  const snippet = body.length > 300 ? `${body.slice(0, 300)}…` : body;
  const what = `${vendor} answered HTTP ${status}${snippet ? `: ${snippet}` : ''}`;
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return new VigilError('VIGIL_ERR_CONNECTOR_HTTP_4XX', [what], { details: { vendor, status } });
  }
  return new VigilError('VIGIL_ERR_CONNECTOR_HTTP_5XX', [what], { details: { vendor, status } });
}

/** Wraps a thrown fetch error (network, abort/timeout) into a retryable VigilError with the cause. */
export function vendorFetchError(vendor: string, err: unknown, timeoutMs: number): VigilError {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return new VigilError('VIGIL_ERR_CONNECTOR_TIMEOUT', [timeoutMs], { cause: err, details: { vendor } });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new VigilError('VIGIL_ERR_CONNECTOR_NETWORK', [`${vendor}: ${msg}`], { cause: err, details: { vendor } });
}
