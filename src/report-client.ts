/**
 * `vigil report ID`: a decision's report from a running agent (GET /api/v1/decisions/:id/report), printed as the
 * API wrote it, Markdown or HTML. Every failure is ONE line on stderr naming the URL it tried and why (connection
 * refused, timeout, unknown decision, refused token, HTTP status), exit 1, as `vigil status` does. The bearer token
 * is sent, never printed.
 */
import { oneLine, requestApi, type ApiCall } from './status.js';

export interface ReportClientOptions extends ApiCall {
  id: string;
  format: 'md' | 'html';
  /** Receives the report as it came (it ends with a newline). */
  write: (text: string) => void;
}

const ACCEPT = { md: 'text/markdown', html: 'text/html' } as const;

/** Prints the report. Exit code: 0 printed, 1 the agent could not be asked or answered an error. */
export async function runReport(o: ReportClientOptions): Promise<number> {
  const answer = await requestApi(o, {
    verb: 'report',
    path: `/api/v1/decisions/${encodeURIComponent(o.id)}/report?format=${o.format}`,
    scope: 'read',
    accept: ACCEPT[o.format],
    notFoundHint: 'vigil decisions lists the recent decisions and their ids',
  });
  if (answer === undefined) return 1;
  if (!answer.type.startsWith(ACCEPT[o.format])) {
    o.err(
      `vigil report: ${answer.url}: not a Vigil report (is --api the agent's API port?): ${oneLine(answer.text, 80)}`,
    );
    return 1;
  }
  o.write(answer.text.endsWith('\n') ? answer.text : `${answer.text}\n`);
  return 0;
}
