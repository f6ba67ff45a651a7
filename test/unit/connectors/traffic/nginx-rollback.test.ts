import { describe, expect, it } from 'vitest';
import { NginxSyntaxError, applySplices, parseNginx } from '../../../../connectors/traffic/nginx-config.js';
import { NginxTargetError, rollbackEdit } from '../../../../connectors/traffic/nginx-rollback.js';

const upstream = {
  kind: 'upstream' as const,
  upstream: 'checkout',
  baselineServer: '10.0.0.1:8080',
  canaryServer: '10.0.0.2:8080',
};
const mapping = { kind: 'mapping' as const, variable: '$pool', baselineValue: 'stable', canaryValue: 'canary' };

function rewrite(text: string, target: Parameters<typeof rollbackEdit>[1]): string {
  return applySplices(text, rollbackEdit(text, target).splices);
}

describe('parseNginx', () => {
  it('reads directives, blocks, quoted strings, ${var} words and comments, keeping offsets', () => {
    const text =
      'split_clients "${remote_addr}AAA" $v { 5% a; * "b c"; } # trailing { ; }\nupstream u { server x:1 weight=2; }';
    const [split, up] = parseNginx(text);
    expect(split!.words.map((w) => w.value)).toEqual(['split_clients', '${remote_addr}AAA', '$v']);
    expect(split!.block!.map((d) => d.words.map((w) => w.value))).toEqual([
      ['5%', 'a'],
      ['*', 'b c'],
    ]);
    const quoted = split!.block![1]!.words[1]!;
    expect(text.slice(quoted.start, quoted.end)).toBe('"b c"');
    expect(up!.block![0]!.words.map((w) => w.value)).toEqual(['server', 'x:1', 'weight=2']);
    expect(text[up!.block![0]!.terminator]).toBe(';');
    expect(parseNginx('map $http_x $y { default ${a}b; }')[0]!.block![0]!.words[1]!.value).toBe('${a}b');
  });

  it('rejects what nginx would reject', () => {
    expect(() => parseNginx('upstream u { server a;')).toThrow(NginxSyntaxError);
    expect(() => parseNginx('server a')).toThrow(/";" is missing/);
    expect(() => parseNginx('}')).toThrow(/unexpected "}"/);
    expect(() => parseNginx('a "b;')).toThrow(/unterminated/);
  });
});

describe('rollbackEdit, upstream form', () => {
  const file = [
    '# checkout',
    'upstream checkout {',
    '    zone checkout 64k;',
    '    server 10.0.0.1:8080 weight=9 down;   # baseline, drained earlier',
    '    server 10.0.0.2:8080 weight=1 max_fails=3;   # canary',
    '    keepalive 16;',
    '}',
    '',
  ].join('\n');

  it('puts down on the canary and takes it off the baseline, touching nothing else', () => {
    const e = rollbackEdit(file, upstream);
    expect(e.changes).toEqual([
      'server 10.0.0.2:8080 in upstream checkout: add down',
      'server 10.0.0.1:8080 in upstream checkout: remove down',
    ]);
    expect(rewrite(file, upstream)).toBe(
      file.replace('weight=9 down;', 'weight=9;').replace('max_fails=3;', 'max_fails=3 down;'),
    );
  });

  it('is a projection: rewriting the result changes nothing', () => {
    const once = rewrite(file, upstream);
    const again = rollbackEdit(once, upstream);
    expect(again.splices).toEqual([]);
    expect(again.found).toBe(
      'upstream checkout: server 10.0.0.1:8080 weight=9; server 10.0.0.2:8080 weight=1 max_fails=3 down',
    );
  });

  it('names what is missing', () => {
    expect(() => rollbackEdit(file, { ...upstream, upstream: 'cart' })).toThrow(
      new NginxTargetError('no "upstream cart" block'),
    );
    expect(() => rollbackEdit(file, { ...upstream, canaryServer: '10.0.0.3:8080' })).toThrow(
      'upstream checkout has no "server 10.0.0.3:8080" (the canary)',
    );
    expect(() => rollbackEdit(`${file}${file}`, upstream)).toThrow('2 "upstream checkout" blocks');
  });
});

describe('rollbackEdit, mapping form', () => {
  it('makes every canary entry of split_clients and map blocks yield the baseline', () => {
    const file = [
      'split_clients "${request_id}" $pool {',
      '    10%   canary;',
      '    0.5%  "canary";',
      '    *     stable;',
      '}',
      'map $cookie_force_canary $pool_override {',
      '    default stable;',
      '}',
      'map $cookie_force_canary $pool {',
      '    hostnames;',
      '    default   stable;',
      '    "1"       canary;',
      '}',
    ].join('\n');
    const e = rollbackEdit(file, mapping);
    expect(e.changes).toEqual([
      'split_clients $pool: 10% canary → stable',
      'split_clients $pool: 0.5% canary → stable',
      'map $pool: 1 canary → stable',
    ]);
    expect(rewrite(file, mapping)).toBe(
      file
        .replace('10%   canary;', '10%   stable;')
        .replace('0.5%  "canary";', '0.5%  stable;')
        .replace('"1"       canary;', '"1"       stable;'),
    );
    expect(rollbackEdit(rewrite(file, mapping), mapping).splices).toEqual([]);
  });

  it('fails when no block sets the variable', () => {
    expect(() => rollbackEdit('map $a $b { default x; }', mapping)).toThrow('no split_clients or map block sets $pool');
  });
});
