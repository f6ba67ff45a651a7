/**
 * Worker-thread entry of DecodePool (decode-pool.ts): decodes OTLP trace bodies with the
 * project's decoders and answers with the samples packed in transferable columns.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isVigilError } from '../../errors.js';
import type { CohortRules } from '../cohort.js';
import type { DecodeJob, DecodeReply } from './decode-pool.js';
import { decodeInline, packTraces, packedTransferList } from './decode-pool.js';

const { rules } = workerData as { rules: CohortRules };
const port = parentPort;
if (port === null) throw new Error('decode-worker runs in a worker thread only');

port.on('message', (job: DecodeJob) => {
  let reply: DecodeReply;
  try {
    const body = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
    const packed = packTraces(decodeInline(body, job.encoding, rules));
    port.postMessage({ id: job.id, ok: true, packed } satisfies DecodeReply, packedTransferList(packed));
    return;
  } catch (err) {
    reply = isVigilError(err)
      ? { id: job.id, ok: false, code: err.code, message: err.message, details: { ...err.details } }
      : { id: job.id, ok: false, message: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
