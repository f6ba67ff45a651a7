/**
 * Reads recorded OTLP JSON lines as the Collector's file exporter writes them: one
 * Export{Trace,Metrics,Logs}ServiceRequest per line, plain or gzip (detected by its magic bytes, not by the
 * file name). Shared by `vigil replay` and `vigil backtest`. Streams: memory is one line at a time.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { VigilError } from '../errors.js';

/** One non-empty line of a recording. `signal` is a cheap guess from the top-level key. */
export interface RecordingLine {
  file: string;
  /** 1-based line number within `file`. */
  lineNo: number;
  text: string;
  signal: 'traces' | 'metrics' | 'logs';
}

async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

function inputError(file: string, e: unknown): VigilError {
  const why = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
  return new VigilError('VIGIL_ERR_REPLAY_INPUT', [`${file}: ${why}`], { cause: e });
}

/**
 * Which signal a line holds, from its top-level key (lowerCamelCase or snake_case): a line naming
 * `resourceSpans` is traces even if a string inside it mentions another signal; anything else unknown is
 * handed to the trace decoder, which reports it if it is not a request at all.
 */
export function lineSignal(text: string): RecordingLine['signal'] {
  if (text.includes('"resourceSpans"') || text.includes('"resource_spans"')) return 'traces';
  if (text.includes('"resourceMetrics"') || text.includes('"resource_metrics"')) return 'metrics';
  if (text.includes('"resourceLogs"') || text.includes('"resource_logs"')) return 'logs';
  return 'traces';
}

/**
 * Yields every non-empty line of `files`, in order.
 * @throws VigilError VIGIL_ERR_REPLAY_INPUT when a file cannot be opened or read (e.g. a truncated gzip).
 */
export async function* readRecording(files: readonly string[]): AsyncGenerator<RecordingLine> {
  for (const file of files) {
    let gzip: boolean;
    try {
      gzip = await isGzip(file);
    } catch (e) {
      throw inputError(file, e);
    }
    const source = createReadStream(file);
    const stream = gzip ? source.pipe(createGunzip()) : source;
    let lineNo = 0;
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    const it = lines[Symbol.asyncIterator]();
    try {
      for (;;) {
        let next: IteratorResult<string>;
        try {
          next = await it.next();
        } catch (e) {
          throw inputError(file, e);
        }
        if (next.done) break;
        lineNo++;
        const text = next.value;
        if (!text.trim()) continue;
        yield { file, lineNo, text, signal: lineSignal(text) };
      }
    } finally {
      // also when the consumer stops early: release the file
      lines.close();
      stream.destroy();
      source.destroy();
    }
  }
}
