import { describe, expect, it } from 'vitest';
import { applySplices } from '../../../../connectors/traffic/nginx-config.js';
import { NginxTargetError, type NginxTarget, rollbackEdit } from '../../../../connectors/traffic/nginx-rollback.js';
import { shareEdit } from '../../../../connectors/traffic/nginx-share.js';

const upstream: NginxTarget = {
  kind: 'upstream',
  upstream: 'checkout',
  baselineServer: '10.0.0.1:8080',
  canaryServer: '10.0.0.2:8080',
};
const mapping: NginxTarget = { kind: 'mapping', variable: '$pool', baselineValue: 'stable', canaryValue: 'canary' };

const setShare = (text: string, target: NginxTarget, share: number) =>
  applySplices(text, shareEdit(text, target, share).splices);

describe('shareEdit', () => {
  it('upstream form: inserts or replaces weight=, removes down, and puts down on the baseline at 100%', () => {
    const text = 'upstream checkout {\n  server 10.0.0.1:8080 max_fails=0 down;\n  server 10.0.0.2:8080 weight=7;\n}\n';
    const at5 = setShare(text, upstream, 5);
    expect(at5).toBe(
      'upstream checkout {\n  server 10.0.0.1:8080 weight=95 max_fails=0;\n  server 10.0.0.2:8080 weight=5;\n}\n',
    );
    expect(shareEdit(text, upstream, 5).was).toBe(100);
    expect(shareEdit(at5, upstream, 5).splices).toEqual([]);
    expect(shareEdit(at5, upstream, 0.001)).toMatchObject({ was: 5, share: 0.001 });
    expect(setShare(at5, upstream, 0.001)).toContain('weight=99999 max_fails=0;\n  server 10.0.0.2:8080 weight=1;');
    expect(setShare(at5, upstream, 100)).toBe(
      'upstream checkout {\n  server 10.0.0.1:8080 weight=95 max_fails=0 down;\n  server 10.0.0.2:8080 weight=100;\n}\n',
    );
  });

  it('share 0 is exactly the rollback edit, in both forms', () => {
    const up = 'upstream checkout { server 10.0.0.1:8080 weight=75; server 10.0.0.2:8080 weight=25; }';
    const split = 'split_clients "${request_id}" $pool { 25% canary; * stable; }';
    for (const [text, target] of [
      [up, upstream],
      [split, mapping],
    ] as const) {
      const zero = shareEdit(text, target, 0);
      expect(zero.splices).toEqual(rollbackEdit(text, target).splices);
      expect(zero.was).toBe(25);
    }
  });

  it('split_clients form: one canary bucket with two decimals, other buckets and * yield the baseline', () => {
    const text = 'split_clients "${request_id}" $pool {\n  10% canary;\n  5% canary;\n  20% other;\n  * canary;\n}\n';
    expect(shareEdit(text, mapping, 12.345)).toMatchObject({ was: 80, share: 12.35 });
    expect(setShare(text, mapping, 12.345)).toBe(
      'split_clients "${request_id}" $pool {\n  12.35% canary;\n  5% stable;\n  20% other;\n  * stable;\n}\n',
    );
  });

  it('refuses a map block (no percentages) and a split without a * entry', () => {
    expect(() => shareEdit('map $host $pool { default canary; }', mapping, 5)).toThrow(NginxTargetError);
    expect(() => shareEdit('map $host $pool { default canary; }', mapping, 5)).toThrow(/cannot split by percentage/);
    expect(() => shareEdit('split_clients "$x" $pool { 50% canary; 50% stable; }', mapping, 5)).toThrow(
      /needs a percentage entry and a "\*" entry/,
    );
    // share 0 on a map is the rollback edit
    expect(setShare('map $host $pool { default canary; }', mapping, 0)).toBe('map $host $pool { default stable; }');
  });
});
