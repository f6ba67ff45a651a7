import { describe, expect, it } from 'vitest';
import { gatewayApiTrafficFactory } from '../../../../connectors/traffic/gateway-api.js';
import { parseRuntimeAddress, parseWeight } from '../../../../connectors/traffic/haproxy-runtime.js';
import { haproxyTrafficFactory } from '../../../../connectors/traffic/haproxy.js';
import { nginxTrafficFactory } from '../../../../connectors/traffic/nginx.js';
import type { ConnectorFactory } from '../../../../src/contracts/connector.js';
import { VigilError } from '../../../../src/errors.js';

function problem(f: ConnectorFactory, options: unknown): string {
  try {
    f.parse(options);
  } catch (e) {
    expect(e).toBeInstanceOf(VigilError);
    expect((e as VigilError).code).toBe('VIGIL_ERR_CONFIG_CONNECTOR_OPTIONS');
    return (e as VigilError).message;
  }
  throw new Error('expected parse to throw');
}

describe('nginx options', () => {
  const up = {
    includePath: '/etc/nginx/conf.d/checkout.conf',
    upstream: 'checkout',
    baselineServer: '10.0.0.1:80',
    canaryServer: '10.0.0.2:80',
  };
  it('applies defaults for the upstream form', () => {
    expect(nginxTrafficFactory.parse(up)).toEqual({ ...up, nginxBinary: 'nginx', timeoutMs: 10_000 });
  });
  it('needs exactly one complete form', () => {
    expect(problem(nginxTrafficFactory, { includePath: up.includePath })).toMatch(
      /set either upstream, baselineServer and canaryServer .* or variable, baselineValue and canaryValue/,
    );
    expect(problem(nginxTrafficFactory, { ...up, variable: '$pool' })).toMatch(/set either/);
    expect(
      problem(nginxTrafficFactory, { includePath: up.includePath, variable: '$pool', baselineValue: 'a' }),
    ).toMatch(/set either/);
    expect(
      nginxTrafficFactory.parse({
        includePath: up.includePath,
        variable: '$pool',
        baselineValue: 'stable',
        canaryValue: 'canary',
      }).variable,
    ).toBe('$pool');
  });
  it('names bad values', () => {
    expect(problem(nginxTrafficFactory, { ...up, includePath: 'conf.d/x.conf' })).toMatch(
      /options\.includePath must be an absolute path/,
    );
    expect(problem(nginxTrafficFactory, { ...up, canaryServer: '10.0.0.2:80; include /etc/passwd' })).toMatch(
      /options\.canaryServer must be one nginx word/,
    );
    expect(problem(nginxTrafficFactory, { ...up, canaryServer: up.baselineServer })).toMatch(
      /options\.canaryServer must differ/,
    );
    expect(
      problem(nginxTrafficFactory, {
        includePath: up.includePath,
        variable: 'pool',
        baselineValue: 'a',
        canaryValue: 'b',
      }),
    ).toMatch(/options\.variable must be an nginx variable/);
    expect(problem(nginxTrafficFactory, { ...up, reloadCommand: [] })).toMatch(
      /options\.reloadCommand must name a program/,
    );
    expect(problem(nginxTrafficFactory, { ...up, reload: 'nginx -s reload' })).toMatch(
      /unknown option options\.reload\b/,
    );
  });
});

describe('haproxy options', () => {
  const base = { socket: '/run/haproxy/admin.sock', backend: 'checkout', baselineServer: 'v1', canaryServer: 'v2' };
  it('accepts a socket path or host:port', () => {
    expect(haproxyTrafficFactory.parse(base)).toEqual({ ...base, timeoutMs: 10_000 });
    expect(haproxyTrafficFactory.parse({ ...base, socket: '127.0.0.1:9999' }).socket).toBe('127.0.0.1:9999');
    expect(parseRuntimeAddress('[::1]:9999')).toEqual({ host: '::1', port: 9999 });
    expect(parseRuntimeAddress('lb.internal:9999')).toEqual({ host: 'lb.internal', port: 9999 });
    expect(parseRuntimeAddress('admin.sock')).toBeUndefined();
    expect(parseRuntimeAddress('host:70000')).toBeUndefined();
  });
  it('refuses names that could inject runtime commands', () => {
    expect(problem(haproxyTrafficFactory, { ...base, backend: 'checkout; shutdown sessions' })).toMatch(
      /options\.backend must be a HAProxy name/,
    );
    expect(problem(haproxyTrafficFactory, { ...base, canaryServer: 'a\nset' })).toMatch(
      /options\.canaryServer must be a HAProxy name/,
    );
    expect(problem(haproxyTrafficFactory, { ...base, canaryServer: 'v1' })).toMatch(/must differ/);
    expect(problem(haproxyTrafficFactory, { ...base, socket: 'admin.sock' })).toMatch(
      /options\.socket must be an absolute socket path/,
    );
  });
  it('parses get weight answers', () => {
    expect(parseWeight('0 (initial 100)\n\n')).toEqual({ current: 0, initial: 100 });
    expect(parseWeight('No such server.\n\n')).toBeUndefined();
  });
});

describe('gateway-api options', () => {
  const base = { route: 'checkout', baselineBackend: 'checkout-stable', canaryBackend: 'checkout-canary' };
  it('defaults to the in-cluster account, namespace default and v1', () => {
    expect(gatewayApiTrafficFactory.parse(base)).toEqual({
      ...base,
      namespace: 'default',
      apiVersion: 'v1',
      timeoutMs: 10_000,
    });
  });
  it('refuses names that are not Kubernetes names (they go into the request path)', () => {
    expect(problem(gatewayApiTrafficFactory, { ...base, route: '../secrets/x' })).toMatch(
      /options\.route must be a Kubernetes object name/,
    );
    expect(problem(gatewayApiTrafficFactory, { ...base, namespace: 'Prod' })).toMatch(
      /options\.namespace must be a Kubernetes namespace/,
    );
    expect(problem(gatewayApiTrafficFactory, { ...base, canaryBackend: 'checkout-stable' })).toMatch(
      /options\.canaryBackend must differ/,
    );
    expect(problem(gatewayApiTrafficFactory, { ...base, context: 'prod' })).toMatch(
      /options\.context needs options\.kubeconfig/,
    );
    expect(problem(gatewayApiTrafficFactory, { ...base, apiVersion: 'v1alpha2' })).toMatch(
      /options\.apiVersion must be v1 or v1beta1/,
    );
  });
});
