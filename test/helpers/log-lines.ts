/**
 * Test helpers for Vigil's JSON log lines: a real logger (createLogger: same options, redaction and format as the
 * agent) writing into an array, and a duplicate-key check on the RAW text (JSON.parse keeps the last of two equal
 * keys without a word, so a line like {"connector":"a","connector":"a"} parses fine).
 */
import { createLogger, type Logger } from '../../src/logger.js';

export interface CapturedLogs {
  logger: Logger;
  /** Every line written so far, raw (without the trailing newline). */
  raw(): string[];
  /** Every line, parsed. */
  parsed(): Record<string, unknown>[];
}

export function captureLogs(level = 'debug'): CapturedLogs {
  const chunks: string[] = [];
  const logger = createLogger({
    level,
    destination: {
      write: (s: string) => {
        chunks.push(s);
      },
    },
  });
  const raw = (): string[] =>
    chunks
      .join('')
      .split('\n')
      .filter((l) => l.length > 0);
  return { logger, raw, parsed: () => raw().map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/**
 * Keys that occur more than once in the same object of a JSON text, at any depth, as `path.key` ("" for the top
 * level). A small tokenizer over the raw text: strings (with escapes), objects, arrays; O(length).
 */
export function duplicateKeys(json: string): string[] {
  interface Frame {
    kind: 'object' | 'array';
    keys: Set<string>;
    expectKey: boolean;
    path: string;
    lastKey: string;
  }
  const stack: Frame[] = [];
  const dups: string[] = [];
  let i = 0;
  while (i < json.length) {
    const c = json[i];
    const top = stack.at(-1);
    if (c === '"') {
      let j = i + 1;
      while (j < json.length && json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      const text = JSON.parse(json.slice(i, j + 1)) as string;
      if (top?.kind === 'object' && top.expectKey) {
        if (top.keys.has(text)) dups.push(top.path === '' ? text : `${top.path}.${text}`);
        top.keys.add(text);
        top.lastKey = text;
        top.expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (c === '{' || c === '[') {
      const path =
        top === undefined
          ? ''
          : top.kind === 'object'
            ? top.path === ''
              ? top.lastKey
              : `${top.path}.${top.lastKey}`
            : `${top.path}[]`;
      stack.push({ kind: c === '{' ? 'object' : 'array', keys: new Set(), expectKey: c === '{', path, lastKey: '' });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',' && top?.kind === 'object') {
      top.expectKey = true;
    }
    i++;
  }
  return dups;
}
