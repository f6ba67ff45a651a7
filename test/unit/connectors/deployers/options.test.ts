import { describe, expect, it } from 'vitest';
import { argoRolloutsDeployerFactory } from '../../../../connectors/deployers/argo-rollouts.js';
import { commandDeployerFactory, showArgv } from '../../../../connectors/deployers/command.js';
import { kubernetesDeployerFactory } from '../../../../connectors/deployers/kubernetes.js';
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

describe('kubernetes deployer options', () => {
  it('defaults to undo with the app.kubernetes.io/version label', () => {
    expect(kubernetesDeployerFactory.parse({ deployment: 'checkout' })).toEqual({
      deployment: 'checkout',
      namespace: 'default',
      mode: 'undo',
      versionLabel: 'app.kubernetes.io/version',
      timeoutMs: 10_000,
    });
  });
  it('names bad options', () => {
    expect(problem(kubernetesDeployerFactory, {})).toMatch(/options\.deployment is required/);
    expect(problem(kubernetesDeployerFactory, { deployment: 'checkout', mode: 'delete' })).toMatch(
      /options\.mode must be undo .* or scale-to-zero/,
    );
    expect(problem(kubernetesDeployerFactory, { deployment: 'Checkout' })).toMatch(
      /options\.deployment must be a Kubernetes object name/,
    );
    expect(problem(kubernetesDeployerFactory, { deployment: 'checkout', kubeconfig: '' })).toMatch(
      /options\.kubeconfig is empty/,
    );
  });
});

describe('argo-rollouts options', () => {
  it('needs a rollout name', () => {
    expect(argoRolloutsDeployerFactory.parse({ rollout: 'checkout', namespace: 'shop' })).toEqual({
      rollout: 'checkout',
      namespace: 'shop',
      versionLabel: 'app.kubernetes.io/version',
      timeoutMs: 10_000,
    });
    expect(problem(argoRolloutsDeployerFactory, { namespace: 'shop' })).toMatch(/options\.rollout is required/);
  });
});

describe('command options', () => {
  it('defaults: no shell, inherit env, 30 s, output 2 KiB, failures permanent', () => {
    expect(commandDeployerFactory.parse({ command: ['helm', 'rollback', '{service}'] })).toEqual({
      command: ['helm', 'rollback', '{service}'],
      shell: false,
      env: {},
      inheritEnv: true,
      timeoutMs: 30_000,
      retryOnFailure: false,
      maxOutputBytes: 2_048,
    });
  });
  it('names bad options', () => {
    expect(problem(commandDeployerFactory, { command: 'helm rollback checkout' })).toMatch(
      /options\.command must be a list/,
    );
    expect(problem(commandDeployerFactory, { command: [] })).toMatch(/options\.command must name a program/);
    expect(problem(commandDeployerFactory, { command: ['helm', '{version}'] })).toMatch(
      /unknown placeholder \{version\}/,
    );
    expect(problem(commandDeployerFactory, { command: ['a', 'b'], shell: true })).toMatch(
      /options\.command with shell: true must be ONE string/,
    );
    expect(problem(commandDeployerFactory, { command: ['helm'], env: { 'BAD-NAME': 'x' } })).toMatch(/options\.env/);
    expect(problem(commandDeployerFactory, { command: ['helm'], timeoutMs: 3_600_000 })).toMatch(
      /options\.timeoutMs must be at most 600000/,
    );
    expect(problem(commandDeployerFactory, { command: ['helm'], cwd: 'relative' })).toMatch(
      /options\.cwd must be an absolute directory path/,
    );
  });
  it('shows an argv the way a reader would type it', () => {
    expect(showArgv(['helm', 'rollback', 'checkout', '--set', 'a b', "it's"])).toBe(
      `helm rollback checkout --set 'a b' 'it'\\''s'`,
    );
  });
});
