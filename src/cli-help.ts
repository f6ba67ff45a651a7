/**
 * Help text layout for the CLI. Commander wraps descriptions itself (to the terminal width, 80 when not a
 * terminal), so descriptions hold no hard line breaks. The text added after a command's help (how it works,
 * examples) is not wrapped by commander: `wrapHelpText` does it here, to the same width.
 */

/** The width help is laid out for: the terminal's, else $COLUMNS, else 80. */
export function helpWidth(stream: NodeJS.WriteStream): number {
  if (stream.isTTY && stream.columns > 0) return stream.columns;
  const columns = Number(process.env.COLUMNS);
  return Number.isInteger(columns) && columns >= 40 ? columns : 80;
}

function words(text: string): string[] {
  return text.split(/ +/).filter((w) => w.length > 0);
}

/** Greedy fill of `text` into lines of at most `width`, the first after `first`, the others after `rest`. */
function fill(text: string, width: number, first: string, rest: string, lineEnd = ''): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const w of words(text)) {
    const candidate = empty ? `${line}${w}` : `${line} ${w}`;
    if (!empty && candidate.length + lineEnd.length > width) {
      lines.push(`${line}${lineEnd}`);
      line = `${rest}${w}`;
    } else {
      line = candidate;
    }
    empty = false;
  }
  lines.push(line);
  return lines;
}

/**
 * Wraps help text written one paragraph or item per line:
 * - `  $ command …`: a shell example; a long one continues with " \" on the next lines (still pastes);
 * - `  # comment`: a comment, continued as a comment;
 * - `  term  description`: an item; its description continues under itself;
 * - any other line: prose, continued at its own indentation.
 * Lines that fit are kept as written.
 */
export function wrapHelpText(text: string, width: number): string {
  return text
    .split('\n')
    .flatMap((line) => {
      if (line.length <= width) return [line];
      const indent = /^ */.exec(line)![0];
      const body = line.slice(indent.length);
      if (body.startsWith('$ ')) return fill(body, width, indent, `${indent}    `, ' \\');
      if (body.startsWith('# ')) return fill(body.slice(2), width, `${indent}# `, `${indent}# `);
      const item = /^(\S+(?: \S+)*? {2,})(\S.*)$/.exec(body);
      if (item) return fill(item[2]!, width, `${indent}${item[1]!}`, ' '.repeat(indent.length + item[1]!.length));
      return fill(body, width, indent, indent);
    })
    .join('\n');
}

/** The "Examples:" block after a command's help: `[comment, command]` pairs (comment may be empty). */
export function examples(list: readonly (readonly [comment: string, command: string])[]): string {
  const lines = ['', 'Examples:'];
  for (const [comment, command] of list) {
    if (comment) lines.push(`  # ${comment}`);
    lines.push(`  $ ${command}`);
  }
  return lines.join('\n');
}
