/**
 * Just enough of nginx's configuration syntax to edit an include file in place: a tokenizer that keeps
 * each token's offsets (words, quoted strings, `{`, `}`, `;`, comments skipped) and a parser into
 * directives and blocks. Edits are splices at token offsets, so everything else in the file (comments,
 * spacing, other blocks) stays byte for byte. O(n) in the file size.
 */

export interface Token {
  /** The word as nginx reads it: quotes removed, `\"` and `\\` unescaped. */
  value: string;
  start: number;
  end: number;
}

export interface Directive {
  /** The name and arguments. */
  words: Token[];
  /** Offset of the `;` that ends it, or of the `{` that opens its block. */
  terminator: number;
  block?: Directive[];
}

export class NginxSyntaxError extends Error {}

type Raw = Token & { kind: 'word' | '{' | '}' | ';' };

function tokenize(text: string): Raw[] {
  const out: Raw[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (c === '{' || c === '}' || c === ';') {
      out.push({ kind: c, value: c, start: i, end: i + 1 });
      i++;
      continue;
    }
    const start = i;
    let value = '';
    if (c === '"' || c === "'") {
      i++;
      while (i < text.length && text[i] !== c) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i];
        i++;
      }
      if (i >= text.length) throw new NginxSyntaxError(`unterminated ${c} string at offset ${start}`);
      i++;
    } else {
      while (i < text.length && !/[\s{};]/.test(text[i]!)) {
        // `${var}` inside a word: its braces belong to the word
        if (text[i] === '$' && text[i + 1] === '{') {
          const close = text.indexOf('}', i);
          if (close < 0) throw new NginxSyntaxError(`unterminated \${ at offset ${i}`);
          value += text.slice(i, close + 1);
          i = close + 1;
          continue;
        }
        value += text[i];
        i++;
      }
    }
    out.push({ kind: 'word', value, start, end: i });
  }
  return out;
}

/** Parses a whole file (the contents of an include: directives at the top level). */
export function parseNginx(text: string): Directive[] {
  const tokens = tokenize(text);
  let pos = 0;
  const parseList = (nested: boolean): Directive[] => {
    const list: Directive[] = [];
    let words: Token[] = [];
    while (pos < tokens.length) {
      const t = tokens[pos++]!;
      if (t.kind === 'word') {
        words.push(t);
        continue;
      }
      if (t.kind === ';') {
        if (words.length === 0) throw new NginxSyntaxError(`unexpected ";" at offset ${t.start}`);
        list.push({ words, terminator: t.start });
        words = [];
        continue;
      }
      if (t.kind === '{') {
        if (words.length === 0) throw new NginxSyntaxError(`unexpected "{" at offset ${t.start}`);
        const d: Directive = { words, terminator: t.start, block: [] };
        d.block = parseList(true);
        list.push(d);
        words = [];
        continue;
      }
      // '}'
      if (!nested || words.length > 0) throw new NginxSyntaxError(`unexpected "}" at offset ${t.start}`);
      return list;
    }
    if (nested) throw new NginxSyntaxError('unexpected end of file: a "}" is missing');
    if (words.length > 0) throw new NginxSyntaxError('unexpected end of file: a ";" is missing');
    return list;
  };
  return parseList(false);
}

/** Every block directive, at any depth, for which `match` holds. */
export function findBlocks(list: Directive[], match: (d: Directive) => boolean): Directive[] {
  const out: Directive[] = [];
  for (const d of list) {
    if (!d.block) continue;
    if (match(d)) out.push(d);
    out.push(...findBlocks(d.block, match));
  }
  return out;
}

export interface Splice {
  start: number;
  end: number;
  text: string;
}

/** Applies non-overlapping splices (any order). */
export function applySplices(text: string, splices: Splice[]): string {
  let out = text;
  for (const s of [...splices].sort((a, b) => b.start - a.start))
    out = out.slice(0, s.start) + s.text + out.slice(s.end);
  return out;
}
