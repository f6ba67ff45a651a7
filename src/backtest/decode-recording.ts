/**
 * Decodes a recording ONCE into a SampleStore, keeping the trace id of every request, which the A/A split
 * needs (the same trace always lands in the same pseudo-cohort, as a real traffic split would route it).
 *
 * Method: the samples' 52-bit traceKey is a hash of the trace id too, but the split below predates it and keeps
 * its own two 32-bit hashes of the id (the same trial seeds give the same splits as before). Each line is
 * parsed once here, its spans grouped by
 * (resource, scope, trace id), and each group re-serialised as a small ExportTraceServiceRequest handed to
 * the REAL JSON decoder (`decodeTracesJson`): every sample of a group belongs to that trace, and what a span
 * means (request or not, failed or not, cohort, version) is decided by the same code as in `serve` and
 * `replay`, with nothing duplicated. A line the decoder rejects anywhere is skipped whole, as replay does.
 * Cost: about one extra JSON parse + stringify per span, paid once per recording, not per trial.
 */
import type { CohortRules } from '../ingest/cohort.js';
import { decodeTracesJson } from '../ingest/otlp/decode-traces-json.js';
import { readRecording } from '../recording/read-recording.js';
import { hashString } from './hash.js';
import { cohortCode, SampleStoreBuilder, type SampleStore } from './sample-store.js';

export interface DecodeStats {
  files: number;
  lines: number;
  badLines: number;
  /** Metrics and logs lines: not read by the backtest. */
  otherLines: number;
  spans: number;
  samples: number;
  /** Requests whose span had no trace id: each is its own "trace" in the split. */
  samplesWithoutTraceId: number;
}

export interface DecodeOptions {
  files: readonly string[];
  /** The config's cohort rules (`cohortRulesOf`), as `serve` applies them. */
  rules: CohortRules;
  onBadLine?: (file: string, lineNo: number, message: string) => void;
  progress?: (stats: DecodeStats) => void;
}

const SEED_A = 0x5eed_a11;
const SEED_B = 0x5eed_b22;

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function field(o: Obj, camel: string, snake: string): unknown {
  const v = o[camel] ?? o[snake];
  return v === null ? undefined : v;
}

/** One (resource, scope, trace) group, as the JSON text of an ExportTraceServiceRequest. */
interface TraceGroup {
  traceId: string;
  request: string;
}

/**
 * Splits a parsed ExportTraceServiceRequest into per-trace requests; undefined when its shape is not the
 * expected one (then the whole line goes to the decoder, which names the problem or accepts it as a whole).
 */
function groupByTrace(root: unknown): TraceGroup[] | undefined {
  if (!isObj(root)) return undefined;
  const rss = field(root, 'resourceSpans', 'resource_spans') ?? [];
  if (!Array.isArray(rss)) return undefined;
  const out: TraceGroup[] = [];
  for (const rs of rss) {
    if (!isObj(rs)) return undefined;
    const resourceJson = JSON.stringify(field(rs, 'resource', 'resource') ?? null);
    const scopes = field(rs, 'scopeSpans', 'scope_spans') ?? [];
    if (!Array.isArray(scopes)) return undefined;
    for (const ss of scopes) {
      if (!isObj(ss)) return undefined;
      const spans = field(ss, 'spans', 'spans') ?? [];
      if (!Array.isArray(spans)) return undefined;
      const byTrace = new Map<string, unknown[]>();
      for (const span of spans) {
        if (!isObj(span)) return undefined;
        const id = field(span, 'traceId', 'trace_id');
        const key = typeof id === 'string' ? id.toLowerCase() : '';
        const list = byTrace.get(key);
        if (list) list.push(span);
        else byTrace.set(key, [span]);
      }
      const head = `{"resourceSpans":[{"resource":${resourceJson},"scopeSpans":[{"spans":`;
      for (const [traceId, list] of byTrace) out.push({ traceId, request: `${head}${JSON.stringify(list)}}]}]}` });
    }
  }
  return out;
}

/**
 * Reads and decodes `files` into a SampleStore. Undecodable lines are counted and skipped.
 * @throws VigilError VIGIL_ERR_REPLAY_INPUT when a file cannot be read.
 */
export async function decodeRecording(opts: DecodeOptions): Promise<{ store: SampleStore; stats: DecodeStats }> {
  const b = new SampleStoreBuilder();
  const stats: DecodeStats = {
    files: opts.files.length,
    lines: 0,
    badLines: 0,
    otherLines: 0,
    spans: 0,
    samples: 0,
    samplesWithoutTraceId: 0,
  };
  for await (const { file, lineNo, text, signal } of readRecording(opts.files)) {
    stats.lines++;
    if (signal !== 'traces') {
      stats.otherLines++;
      continue;
    }
    const mark = b.length;
    let spans = 0;
    let withoutId = 0;
    try {
      let root: unknown;
      try {
        root = JSON.parse(text);
      } catch {
        root = undefined;
      }
      const groups = root === undefined ? undefined : groupByTrace(root);
      // Unexpected shape: the decoder on the whole line throws the precise error, or (when it accepts the
      // line after all) gives samples that cannot be told apart by trace.
      const work = groups ?? [{ traceId: '', request: text }];
      for (const g of work) {
        const decoded = decodeTracesJson(g.request, opts.rules);
        spans += decoded.spans;
        for (const s of decoded.samples) {
          let a: number;
          let c: number;
          if (g.traceId === '') {
            const pos = `${file}\u0000${lineNo}\u0000${b.length}`;
            a = hashString(pos, SEED_A);
            c = hashString(pos, SEED_B);
            withoutId++;
          } else {
            a = hashString(g.traceId, SEED_A);
            c = hashString(g.traceId, SEED_B);
          }
          b.add(s.service, cohortCode(s.cohort), s.endUnixMs, s.durationMs, s.error, a, c, s.indicators);
        }
      }
    } catch (e) {
      b.truncate(mark);
      stats.badLines++;
      opts.onBadLine?.(file, lineNo, e instanceof Error ? e.message : String(e));
      b.endLine();
      continue;
    }
    b.endLine();
    stats.spans += spans;
    stats.samples += b.length - mark;
    stats.samplesWithoutTraceId += withoutId;
    if (stats.lines % 1000 === 0) opts.progress?.(stats);
  }
  return { store: b.build(), stats };
}
