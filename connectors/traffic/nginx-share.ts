import { type Directive, type Token, findBlocks, parseNginx } from './nginx-config.js';
import {
  type NginxTarget,
  type RollbackEdit,
  NginxTargetError,
  rollbackEdit,
  upstreamFound,
} from './nginx-rollback.js';
import { shareOf, shareWeights } from '../shared/share.js';

/** The edits that set a share, and the share the file gave before (undefined: it sent nothing anywhere). */
export interface ShareEdit extends RollbackEdit {
  was: number | undefined;
  /** The share the rewritten file gives (the asked one, rounded to what the form can express). */
  share: number;
}

/** nginx has no upper bound on `weight=`; this keeps the numbers readable (0.001% → 1/99999). */
const MAX_NGINX_WEIGHT_TOTAL = 100_000;

function upstreamServers(parsed: Directive[], t: Extract<NginxTarget, { kind: 'upstream' }>) {
  const blocks = findBlocks(parsed, (d) => d.words[0]!.value === 'upstream' && d.words[1]?.value === t.upstream);
  if (blocks.length !== 1) throw new NginxTargetError(`${blocks.length} "upstream ${t.upstream}" blocks`);
  const servers = blocks[0]!.block!.filter((d) => !d.block && d.words[0]!.value === 'server');
  const find = (address: string, role: string) => {
    const s = servers.find((d) => d.words[1]?.value === address);
    if (!s) throw new NginxTargetError(`upstream ${t.upstream} has no "server ${address}" (the ${role})`);
    return s;
  };
  return { baseline: find(t.baselineServer, 'baseline'), canary: find(t.canaryServer, 'canary') };
}

/** A server's effective weight: 0 when `down`, else its `weight=` (nginx's default is 1). */
function serverWeight(d: Directive): number {
  const params = d.words.slice(2);
  if (params.some((w) => w.value === 'down')) return 0;
  const w = params.find((p) => p.value.startsWith('weight='));
  return w ? Number(w.value.slice('weight='.length)) : 1;
}

/** Splices that give server `d` the weight `weight` (`down` when 0, keeping its `weight=` as apply does). */
function setServer(d: Directive, weight: number, label: string, out: ShareEdit): void {
  const words = d.words;
  const down = words.findIndex((w, i) => i >= 2 && w.value === 'down');
  if (weight === 0) {
    if (down < 0) {
      out.splices.push({ start: d.terminator, end: d.terminator, text: ' down' });
      out.changes.push(`${label}: add down`);
    }
    return;
  }
  if (down >= 0) {
    out.splices.push({ start: words[down - 1]!.end, end: words[down]!.end, text: '' });
    out.changes.push(`${label}: remove down`);
  }
  const w = words.findIndex((x, i) => i >= 2 && x.value.startsWith('weight='));
  const text = `weight=${weight}`;
  if (w >= 0 && words[w]!.value === text) return;
  if (w >= 0) out.splices.push({ start: words[w]!.start, end: words[w]!.end, text });
  else out.splices.push({ start: words[1]!.end, end: words[1]!.end, text: ` ${text}` });
  out.changes.push(`${label}: ${text}`);
}

function upstreamShare(parsed: Directive[], t: Extract<NginxTarget, { kind: 'upstream' }>, share: number): ShareEdit {
  const { baseline, canary } = upstreamServers(parsed, t);
  const want = shareWeights(share, MAX_NGINX_WEIGHT_TOTAL);
  const out: ShareEdit = {
    splices: [],
    changes: [],
    found: '',
    was: shareOf(serverWeight(canary), serverWeight(baseline)),
    share: want.share,
  };
  setServer(baseline, want.baseline, `server ${t.baselineServer} in upstream ${t.upstream}`, out);
  setServer(canary, want.canary, `server ${t.canaryServer} in upstream ${t.upstream}`, out);
  out.found = upstreamFound(t, baseline, canary);
  return out;
}

/** nginx reads split_clients percentages with up to two decimals. */
const percentText = (p: number) => `${Number(p.toFixed(2))}%`;

function mappingShare(parsed: Directive[], t: Extract<NginxTarget, { kind: 'mapping' }>, share: number): ShareEdit {
  const blocks = findBlocks(parsed, (d) => d.words[0]!.value === 'split_clients' && d.words[2]?.value === t.variable);
  if (blocks.length !== 1) {
    const maps = findBlocks(parsed, (d) => d.words[0]!.value === 'map' && d.words[2]?.value === t.variable);
    throw new NginxTargetError(
      maps.length > 0 && blocks.length === 0
        ? `${t.variable} comes from a map block, which cannot split by percentage: use split_clients to set a canary share`
        : `${blocks.length} split_clients blocks set ${t.variable}`,
    );
  }
  const entries = blocks[0]!.block!.filter((d) => !d.block && d.words.length === 2);
  const ours = entries.filter((d) => [t.baselineValue, t.canaryValue].includes(d.words[1]!.value));
  const star = ours.find((d) => d.words[0]!.value === '*');
  const buckets = ours.filter((d) => d.words[0]!.value !== '*');
  if (!star || buckets.length === 0) {
    throw new NginxTargetError(
      `split_clients ${t.variable} needs a percentage entry and a "*" entry yielding ${t.canaryValue} or ${t.baselineValue}`,
    );
  }
  const pct = (d: Directive) => Number(d.words[0]!.value.replace(/%$/, ''));
  const was = buckets.reduce((sum, d) => sum + (d.words[1]!.value === t.canaryValue ? pct(d) : 0), 0);
  // what `*` gets: whatever no percentage entry (ours or another value's) takes
  const rest = 100 - entries.filter((d) => d.words[0]!.value !== '*').reduce((sum, d) => sum + pct(d), 0);
  const effective = Number(share.toFixed(2));
  const out: ShareEdit = {
    splices: [],
    changes: [],
    found: '',
    was: was + (star.words[1]!.value === t.canaryValue ? rest : 0),
    share: effective,
  };
  const set = (tok: Token, text: string, what: string) => {
    if (tok.value === text) return;
    out.splices.push({ start: tok.start, end: tok.end, text });
    out.changes.push(`split_clients ${t.variable}: ${what} ${tok.value} → ${text}`);
  };
  const [first, ...others] = buckets;
  set(first!.words[0]!, percentText(effective), `${first!.words[1]!.value} bucket`);
  set(first!.words[1]!, t.canaryValue, 'bucket value');
  for (const d of others) set(d.words[1]!, t.baselineValue, `${d.words[0]!.value} bucket value`);
  set(star.words[1]!, t.baselineValue, '* value');
  out.found = `${t.variable}: ${ours.map((d) => `${d.words[0]!.value} ${d.words[1]!.value}`).join('; ')}`;
  return out;
}

/**
 * The edits that give the canary `share` percent of the traffic:
 * - 0: exactly `rollbackEdit` (what `apply` does), so setCanaryShare(0) and apply leave the same file;
 * - upstream form: `weight=` canary p·k and baseline (100 − p)·k (smallest integer k, see shareWeights), `down`
 *   removed from both; at 100 the baseline gets `down` (nginx has no weight 0);
 * - split_clients form: the first percentage entry yielding the canary or baseline value becomes `p% canary`
 *   (two decimals, nginx's precision), every other such entry and the `*` entry yield the baseline. A `map`
 *   cannot express a percentage: only share 0 works there.
 * No splices means the file already gives that share in that form.
 */
export function shareEdit(text: string, target: NginxTarget, share: number): ShareEdit {
  if (share === 0) {
    const parsed = parseNginx(text);
    const edit = rollbackEdit(text, target);
    let was: number | undefined;
    try {
      was = (target.kind === 'upstream' ? upstreamShare : mappingShare)(parsed, target as never, 1).was;
    } catch {
      was = undefined; // a map block: its share is not a percentage
    }
    return { ...edit, was, share: 0 };
  }
  const parsed = parseNginx(text);
  return target.kind === 'upstream' ? upstreamShare(parsed, target, share) : mappingShare(parsed, target, share);
}
