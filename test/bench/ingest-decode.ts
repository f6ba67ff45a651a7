/**
 * Decode-only part of the ingest benchmark, one core, no I/O: the same 500-span request decoded by Vigil's
 * protobuf decoder, protobufjs 7 (decode, and decode + normalisation into the same samples), JSON.parse of
 * the request as OTLP/JSON, and Vigil's JSON decoder; plus the cost of aggregation (the agent's ingest of the
 * decoded samples, analysis running). Each case runs in interleaved rounds; the median round is reported,
 * which keeps the comparison fair on a machine shared with other work.
 */
import { isDeepStrictEqual } from 'node:util';
import { parseConfig } from '../../src/config/load.js';
import type { RequestSample, SpanIndicatorSpec } from '../../src/contracts/index.js';
import { DEFAULT_COHORT_RULES } from '../../src/ingest/cohort.js';
import { decodeTracesJson } from '../../src/ingest/otlp/decode-traces-json.js';
import { decodeTracesProtobuf } from '../../src/ingest/otlp/decode-traces-protobuf.js';
import { silentLogger } from '../../src/logger.js';
import { createAgent } from '../../src/main.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';
import { encodeJson, encodeProtobuf, fleet, makeResources } from './ingest-payload.js';
import { protobufjsDecode, protobufjsDecodeNormalize } from './ingest-protobufjs.js';

export interface DecodeRow {
  name: string;
  /** Bytes of the input in its encoding. */
  inputBytes: number;
  usPerRequest: number;
  spansPerSec: number;
  mbPerSec: number;
}

export interface DecodeResult {
  spansPerRequest: number;
  protobufBytes: number;
  jsonBytes: number;
  rows: DecodeRow[];
}

let sink: unknown;

function roundUs(fn: () => unknown, ms: number): number {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < 5; i++) sink = fn();
    n += 5;
    t = performance.now();
  }
  return ((t - t0) * 1000) / n;
}

/** Two span indicators as the decode bench configures them (`--decode-only`): a span attribute, and a span and a
 *  resource attribute together. */
export const BENCH_SPAN_INDICATORS: readonly SpanIndicatorSpec[] = [
  { key: 'checkout', where: { 'http.route': '/api/checkout' } },
  { key: 'prod-get', where: { 'http.request.method': 'GET', 'k8s.namespace.name': ['prod', 'staging'] } },
];

export function runDecode(opts: {
  spans: number;
  rounds: number;
  roundMs: number;
  /** Configured span indicators (CohortRules.spanIndicators); none by default. */
  spanIndicators?: readonly SpanIndicatorSpec[];
  /** Leave out the aggregation case (decoders only). */
  decodersOnly?: boolean;
}): DecodeResult {
  const resources = makeResources({
    services: fleet(25),
    spans: opts.spans,
    spansPerResource: 50,
    endMs: Date.now(),
    seed: 7,
  });
  const pb = encodeProtobuf(resources);
  const jsonText = encodeJson(resources);
  const json = Buffer.from(jsonText);
  const rules =
    opts.spanIndicators === undefined
      ? DEFAULT_COHORT_RULES
      : { ...DEFAULT_COHORT_RULES, spanIndicators: opts.spanIndicators };

  // the comparison is only fair if every decoder reads the same request into the same samples
  const reference = decodeTracesProtobuf(pb, rules);
  if (
    !isDeepStrictEqual(reference, protobufjsDecodeNormalize(pb, rules)) ||
    !isDeepStrictEqual(reference, decodeTracesJson(json, rules))
  ) {
    throw new Error('decoders disagree on the benchmark request');
  }
  if (reference.samples.length !== opts.spans) throw new Error('every benchmark span must be a request');

  const agent = createAgent({
    loaded: parseConfig('{}', 'bench.yaml', BUILTIN_REGISTRIES, {}),
    registries: BUILTIN_REGISTRIES,
    logger: silentLogger(),
    auditPath: '/dev/null',
  });
  const batches: RequestSample[][] = [];
  for (let k = 0; k < 400; k++)
    batches.push(reference.samples.map((s) => ({ ...s, endUnixMs: s.endUnixMs + k * 100 })));
  let b = 0;
  let calls = 0;

  const cases: { name: string; bytes: number; fn: () => unknown }[] = [
    { name: 'Vigil protobuf decoder (decode+normalize)', bytes: pb.length, fn: () => decodeTracesProtobuf(pb, rules) },
    { name: 'protobufjs 7 decode', bytes: pb.length, fn: () => protobufjsDecode(pb) },
    { name: 'protobufjs 7 decode+normalize', bytes: pb.length, fn: () => protobufjsDecodeNormalize(pb, rules) },
    { name: 'JSON.parse of OTLP/JSON (string)', bytes: json.length, fn: () => JSON.parse(jsonText) as unknown },
    { name: 'Vigil JSON decoder (utf8+parse+normalize)', bytes: json.length, fn: () => decodeTracesJson(json, rules) },
    {
      name: 'aggregation: agent.ingest of the samples',
      bytes: pb.length,
      fn: () => {
        // fresh span keys on every call: a re-ingested batch would be a duplicate (skipped by ingest/dedup.ts)
        const fresh = ++calls * 1_000_003;
        agent.ingest(batches[b]!.map((s) => ({ ...s, spanKey: (s.spanKey! + fresh) % 2 ** 52 })));
        b = (b + 1) % batches.length;
      },
    },
  ];
  if (opts.decodersOnly === true) cases.pop(); // the aggregation case
  for (const c of cases) roundUs(c.fn, 200); // warm-up (JIT)
  const perCase = cases.map(() => [] as number[]);
  for (let r = 0; r < opts.rounds; r++) cases.forEach((c, i) => perCase[i]!.push(roundUs(c.fn, opts.roundMs)));
  void agent.stop();
  const rows = cases.map((c, i) => {
    const sorted = [...perCase[i]!].sort((x, y) => x - y);
    const us = sorted[Math.floor(sorted.length / 2)]!;
    return {
      name: c.name,
      inputBytes: c.bytes,
      usPerRequest: us,
      spansPerSec: (opts.spans * 1e6) / us,
      mbPerSec: c.bytes / us,
    };
  });
  if (sink === Symbol.for('never')) console.log(sink);
  return { spansPerRequest: opts.spans, protobufBytes: pb.length, jsonBytes: json.length, rows };
}
