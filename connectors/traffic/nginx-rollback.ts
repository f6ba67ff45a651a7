import { type Directive, type Splice, findBlocks, parseNginx } from './nginx-config.js';

/** What to rewrite: the servers of an upstream, or the values a split_clients/map block yields. */
export type NginxTarget =
  | { kind: 'upstream'; upstream: string; baselineServer: string; canaryServer: string }
  | { kind: 'mapping'; variable: string; baselineValue: string; canaryValue: string };

export interface RollbackEdit {
  splices: Splice[];
  /** One line per edit ("server 10.0.0.2:80 in upstream checkout: add down"). */
  changes: string[];
  /** The relevant state as found, for "already rolled back" details. */
  found: string;
}

/** The include file does not hold what the options name: permanent, an operator must fix the options. */
export class NginxTargetError extends Error {}

function upstreamEdit(parsed: Directive[], t: Extract<NginxTarget, { kind: 'upstream' }>): RollbackEdit {
  const blocks = findBlocks(parsed, (d) => d.words[0]!.value === 'upstream' && d.words[1]?.value === t.upstream);
  if (blocks.length !== 1) {
    throw new NginxTargetError(
      blocks.length === 0 ? `no "upstream ${t.upstream}" block` : `${blocks.length} "upstream ${t.upstream}" blocks`,
    );
  }
  const servers = blocks[0]!.block!.filter((d) => !d.block && d.words[0]!.value === 'server');
  const find = (address: string, role: string) => {
    const s = servers.find((d) => d.words[1]?.value === address);
    if (!s) throw new NginxTargetError(`upstream ${t.upstream} has no "server ${address}" (the ${role})`);
    return s;
  };
  const baseline = find(t.baselineServer, 'baseline');
  const canary = find(t.canaryServer, 'canary');
  const params = (d: Directive) => d.words.slice(2);
  const out: RollbackEdit = { splices: [], changes: [], found: '' };
  if (!params(canary).some((w) => w.value === 'down')) {
    out.splices.push({ start: canary.terminator, end: canary.terminator, text: ' down' });
    out.changes.push(`server ${t.canaryServer} in upstream ${t.upstream}: add down`);
  }
  const words = baseline.words;
  words.forEach((w, i) => {
    if (i < 2 || w.value !== 'down') return;
    out.splices.push({ start: words[i - 1]!.end, end: w.end, text: '' });
    out.changes.push(`server ${t.baselineServer} in upstream ${t.upstream}: remove down`);
  });
  out.found = upstreamFound(t, baseline, canary);
  return out;
}

/** What an edit found in an upstream, for its detail: "upstream checkout: server 10.0.0.1:8080; server … down". */
export function upstreamFound(
  t: Extract<NginxTarget, { kind: 'upstream' }>,
  baseline: Directive,
  canary: Directive,
): string {
  const show = (d: Directive) =>
    d.words
      .slice(1)
      .map((w) => w.value)
      .join(' ');
  return `upstream ${t.upstream}: server ${show(baseline)}; server ${show(canary)}`;
}

function mappingEdit(parsed: Directive[], t: Extract<NginxTarget, { kind: 'mapping' }>): RollbackEdit {
  const blocks = findBlocks(
    parsed,
    (d) => ['split_clients', 'map'].includes(d.words[0]!.value) && d.words[2]?.value === t.variable,
  );
  if (blocks.length === 0) throw new NginxTargetError(`no split_clients or map block sets ${t.variable}`);
  const out: RollbackEdit = { splices: [], changes: [], found: '' };
  const found: string[] = [];
  for (const b of blocks) {
    for (const entry of b.block!) {
      if (entry.block || entry.words.length !== 2 || entry.words[0]!.value === 'include') continue;
      const [key, value] = entry.words as [Directive['words'][0], Directive['words'][0]];
      if (value.value === t.baselineValue || value.value === t.canaryValue) found.push(`${key.value} ${value.value}`);
      if (value.value !== t.canaryValue) continue;
      out.splices.push({ start: value.start, end: value.end, text: t.baselineValue });
      out.changes.push(`${b.words[0]!.value} ${t.variable}: ${key.value} ${t.canaryValue} → ${t.baselineValue}`);
    }
  }
  out.found = `${t.variable}: ${found.join('; ') || 'no baseline or canary entries'}`;
  return out;
}

/**
 * The edits that send all traffic to the baseline:
 * - upstream form: the canary `server` gets the `down` parameter (nginx has no weight 0), and a `down` on the
 *   baseline server is removed;
 * - mapping form: in every `split_clients` or `map` block whose result variable is `variable`, each entry
 *   that yields `canaryValue` yields `baselineValue` instead (nginx rejects a 0% bucket, and keeping the
 *   buckets keeps the file's shape for the next rollout).
 * No edits means the file already sends everything to the baseline. Throws NginxSyntaxError for a file
 * nginx could not read either, NginxTargetError when the named block or servers are missing.
 */
export function rollbackEdit(text: string, target: NginxTarget): RollbackEdit {
  const parsed = parseNginx(text);
  return target.kind === 'upstream' ? upstreamEdit(parsed, target) : mappingEdit(parsed, target);
}
