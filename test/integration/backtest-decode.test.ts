/**
 * The backtest's trace-aware decoding of a recording: it must give exactly the requests the ingest decoder
 * gives (same meaning, nothing duplicated), keep each request's trace, and treat bad lines as replay does.
 * Also: the committed fixture is what the generator script produces.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeRecording } from '../../src/backtest/decode-recording.js';
import { COHORT_BASELINE, COHORT_CANARY } from '../../src/backtest/sample-store.js';
import { DEFAULT_COHORT_RULES } from '../../src/ingest/cohort.js';
import { decodeTracesJson } from '../../src/ingest/otlp/decode-traces-json.js';
import { readRecording } from '../../src/recording/read-recording.js';
import { generateRecording, healthyCanarySpec } from '../helpers/generate-recordings.js';

const root = join(import.meta.dirname, '../..');
const fixture = join(root, 'fixtures/recordings/healthy-canary.jsonl.gz');

const attr = (key: string, v: string) => ({ key, value: { stringValue: v } });
const span = (traceId: string | undefined, kind: number, endMs: number, extra: Record<string, unknown> = {}) => ({
  ...(traceId === undefined ? {} : { traceId }),
  spanId: 'b7ad6b7169203331',
  name: 'GET /x',
  kind,
  startTimeUnixNano: `${endMs - 40}000000`,
  endTimeUnixNano: `${endMs}000000`,
  attributes: [attr('http.route', '/x')],
  ...extra,
});
const resource = (service: string, version: string, cohort?: string) => ({
  attributes: [
    attr('service.name', service),
    attr('service.version', version),
    ...(cohort ? [attr('vigil.cohort', cohort)] : []),
  ],
});

describe('backtest decoding', () => {
  it('gives exactly the samples of the ingest decoder on the fixture recording', async () => {
    const { store, stats } = await decodeRecording({ files: [fixture], rules: DEFAULT_COHORT_RULES });
    const expected: string[] = [];
    let spans = 0;
    for await (const line of readRecording([fixture])) {
      const d = decodeTracesJson(line.text, DEFAULT_COHORT_RULES);
      spans += d.spans;
      for (const s of d.samples) expected.push(`${s.service}|${s.cohort}|${s.endUnixMs}|${s.durationMs}|${s.error}`);
    }
    const cohortName = ['unknown', 'baseline', 'canary'];
    const got = Array.from(
      { length: store.length },
      (_, i) =>
        `${store.services[store.service[i]!]}|${cohortName[store.cohort[i]!]}|${store.endUnixMs[i]}|${store.durationMs[i]}|${store.error[i] === 1}`,
    );
    expect(got.sort()).toEqual(expected.sort());
    expect(stats).toMatchObject({ spans, samples: expected.length, badLines: 0, samplesWithoutTraceId: 0 });
    expect(store.lineEnds.at(-1)).toBe(store.length);
    expect(stats.spans).toBeGreaterThan(stats.samples); // the CLIENT child spans
  });

  it('keeps the trace of every request, across services and id case; skips bad lines whole; counts other signals', async () => {
    const T = 1_767_225_600_000;
    const t1 = '0af7651916cd43dd8448eb211c80319c';
    const t2 = '4bf92f3577b34da6a3ce929d0e0e4736';
    const line1 = {
      resourceSpans: [
        {
          resource: resource('web', '1.0', 'baseline'),
          scopeSpans: [
            {
              scope: { name: 's' },
              spans: [span(t1, 2, T), span(t2, 2, T + 1), span(t1, 3, T + 2), span(undefined, 2, T + 3)],
            },
          ],
        },
        { resource: resource('api', '2.0'), scopeSpans: [{ spans: [span(t1.toUpperCase(), 5, T + 4)] }] },
      ],
    };
    const badLine = {
      resourceSpans: [
        {
          resource: resource('web', '1.0', 'canary'),
          scopeSpans: [{ spans: [span(t2, 2, T + 5), span(t2, 2, T + 6, { startTimeUnixNano: 'soon' })] }],
        },
      ],
    };
    const metrics = { resourceMetrics: [] };
    const dir = mkdtempSync(join(tmpdir(), 'vigil-backtest-'));
    const file = join(dir, 'r.jsonl.gz');
    writeFileSync(
      file,
      gzipSync([line1, badLine, metrics].map((l) => JSON.stringify(l)).join('\n') + '\n\n{not json\n'),
    );
    const bad: string[] = [];
    const { store, stats } = await decodeRecording({
      files: [file],
      rules: { ...DEFAULT_COHORT_RULES, canaryVersionByService: new Map([['api', '2.0']]) },
      onBadLine: (_f, lineNo, message) => bad.push(`${lineNo}: ${message}`),
    });
    expect(stats).toMatchObject({
      files: 1,
      lines: 4,
      badLines: 2,
      otherLines: 1,
      spans: 5,
      samples: 4,
      samplesWithoutTraceId: 1,
    });
    expect(bad).toHaveLength(2);
    expect(bad[0]).toMatch(/^2: .*startTimeUnixNano/);
    expect(bad[1]).toMatch(/^5: .*invalid JSON/);
    expect(Array.from(store.lineEnds)).toEqual([4, 4, 4]); // the bad lines add nothing
    const at = (end: number) => {
      const i = Array.from(store.endUnixMs).findIndex((e) => e === end);
      expect(i, `sample ending at +${end - T} ms`).toBeGreaterThanOrEqual(0);
      return {
        service: store.services[store.service[i]!],
        cohort: store.cohort[i],
        a: store.traceA[i],
        b: store.traceB[i],
      };
    };
    const webT1 = at(T);
    const webT2 = at(T + 1);
    const noId = at(T + 3);
    const apiT1 = at(T + 4);
    expect(webT1).toMatchObject({ service: 'web', cohort: COHORT_BASELINE });
    expect(apiT1).toMatchObject({ service: 'api', cohort: COHORT_CANARY }); // unknown → rollouts[].canaryVersion
    expect([apiT1.a, apiT1.b]).toEqual([webT1.a, webT1.b]); // one trace, two services, id case ignored
    expect(webT2.a).not.toBe(webT1.a);
    expect(noId.a).not.toBe(webT1.a);
    expect(noId.a).not.toBe(webT2.a);
  });

  it('the committed fixture is what the generator script writes (same seed, same bytes)', async () => {
    const text = await generateRecording(healthyCanarySpec());
    expect(gzipSync(text, { level: 9 }).equals(readFileSync(fixture))).toBe(true);
    expect(readFileSync(fixture).length).toBeLessThan(1024 * 1024);
    expect(readFileSync(join(root, 'fixtures/recordings/many-services-aa.jsonl.gz')).length).toBeLessThan(1024 * 1024);
  });
});
