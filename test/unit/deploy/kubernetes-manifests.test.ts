/**
 * deploy/kubernetes (Vigil's manifests) and deploy/otel-collector (the Collector that shards telemetry by
 * service onto Vigil): every object is validated against the Kubernetes object schemas of kubernetes-models
 * (required fields, types, enums, formats) AND against its TypeScript model type (unknown or misspelled
 * fields, which the schemas accept but `kubectl apply` rejects with strict field validation); the config
 * in the ConfigMap is loaded by Vigil's own loader; and the objects are checked against each other, the
 * Dockerfile and Vigil's defaults (ports, probes, labels, volumes, secrets, the Collector's routing).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import {
  ServiceMonitor,
  type IServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role, type IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding, type IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim, type IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret, type ISecret } from 'kubernetes-models/v1/Secret';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { defaultConfig, parseConfig, type LoadedConfig } from '../../../src/config/load.js';
import { silentLogger } from '../../../src/logger.js';
import { createAgent } from '../../../src/main.js';
import { BUILTIN_REGISTRIES } from '../../../src/registries.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const K8S_DIR = join(ROOT, 'deploy/kubernetes');
const COLLECTOR_DIR = join(ROOT, 'deploy/otel-collector');

// ---------------------------------------------------------------------------------------------------
// Loading

interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}
interface Manifest {
  /** File (relative to the repository) and document index, for messages. */
  where: string;
  file: string;
  obj: K8sObject;
}

const clone = <T>(v: T): T => structuredClone(v);

function yamlDocuments(path: string): unknown[] {
  const out: unknown[] = [];
  for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function manifestsOf(path: string): Manifest[] {
  const file = path.slice(ROOT.length + 1);
  return yamlDocuments(path).map((obj, i) => ({ where: `${file}#${i}`, file, obj: obj as K8sObject }));
}

const k8sFiles = readdirSync(K8S_DIR)
  .filter((f) => f !== 'kustomization.yaml')
  .sort();
const vigilManifests = k8sFiles.flatMap((f) => manifestsOf(join(K8S_DIR, f)));
const collectorRbac = manifestsOf(join(COLLECTOR_DIR, 'rbac.yaml'));
const allManifests = [...vigilManifests, ...collectorRbac];

function one<T extends K8sObject = K8sObject>(kind: string, name?: string): T {
  const found = vigilManifests.filter(
    (m) => m.obj.kind === kind && (name === undefined || m.obj.metadata.name === name),
  );
  if (found.length !== 1)
    throw new Error(
      `expected exactly one ${kind}${name ? ` ${name}` : ''} in deploy/kubernetes, found ${found.length}`,
    );
  return found[0]!.obj as T;
}
const all = (kind: string) => vigilManifests.filter((m) => m.obj.kind === kind).map((m) => m.obj);

// ---------------------------------------------------------------------------------------------------
// Schemas: kubernetes-models (JSON schema validation) and its TypeScript types (strict fields)

interface ModelEntry {
  /** Constructs the kubernetes-models object; `.validate()` throws on a schema violation. */
  create(data: unknown): { validate(): void };
  /** The model's TypeScript type, for the strict-field check. */
  typeRef: string;
  namespaced: boolean;
}

function entry<T>(
  Model: new (data: T) => { validate(): void },
  module: string,
  type: string,
  namespaced = true,
): ModelEntry {
  return { create: (data) => new Model(data as T), typeRef: `import(${JSON.stringify(module)}).${type}`, namespaced };
}

const MODELS: Record<string, ModelEntry> = {
  'v1/ServiceAccount': entry(ServiceAccount, 'kubernetes-models/v1/ServiceAccount', 'IServiceAccount'),
  'v1/ConfigMap': entry(ConfigMap, 'kubernetes-models/v1/ConfigMap', 'IConfigMap'),
  'v1/Secret': entry(Secret, 'kubernetes-models/v1/Secret', 'ISecret'),
  'v1/PersistentVolumeClaim': entry(
    PersistentVolumeClaim,
    'kubernetes-models/v1/PersistentVolumeClaim',
    'IPersistentVolumeClaim',
  ),
  'v1/Service': entry(Service, 'kubernetes-models/v1/Service', 'IService'),
  'apps/v1/Deployment': entry(Deployment, 'kubernetes-models/apps/v1/Deployment', 'IDeployment'),
  'policy/v1/PodDisruptionBudget': entry(
    PodDisruptionBudget,
    'kubernetes-models/policy/v1/PodDisruptionBudget',
    'IPodDisruptionBudget',
  ),
  'monitoring.coreos.com/v1/ServiceMonitor': entry(
    ServiceMonitor,
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
    'IServiceMonitor',
  ),
  'rbac.authorization.k8s.io/v1/Role': entry(Role, 'kubernetes-models/rbac.authorization.k8s.io/v1/Role', 'IRole'),
  'rbac.authorization.k8s.io/v1/RoleBinding': entry(
    RoleBinding,
    'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding',
    'IRoleBinding',
  ),
  'rbac.authorization.k8s.io/v1/ClusterRole': entry(
    ClusterRole,
    'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole',
    'IClusterRole',
    false,
  ),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': entry(
    ClusterRoleBinding,
    'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding',
    'IClusterRoleBinding',
    false,
  ),
};

function modelOf(obj: K8sObject): ModelEntry {
  const m = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!m) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}: add it to MODELS`);
  return m;
}

/** kubernetes-models' schema validation (ajv-compiled OpenAPI schemas); throws on the first bad object. */
function validateSchema(obj: K8sObject): void {
  modelOf(obj).create(obj).validate();
}

const TS_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2023,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  skipLibCheck: true,
  types: [],
  lib: ['lib.es2023.d.ts'],
};
/** A file that never exists on disk; inside the repository so that node_modules resolves. */
const VIRTUAL_FILE = join(ROOT, 'test/unit/deploy/__manifests-typecheck__.ts');
const sourceFiles = new Map<string, ts.SourceFile>();

/**
 * Type-checks each object as an object literal of its kubernetes-models TypeScript type: excess-property
 * checks report unknown and misspelled fields at any depth (which the JSON schemas let through, as the API
 * server's strict field validation would not), and wrong types too. Returns one message per problem.
 */
function strictFieldProblems(manifests: readonly Manifest[]): string[] {
  let text = '';
  const spans: { start: number; end: number; where: string }[] = [];
  for (const m of manifests) {
    const start = text.length;
    text += `export const _${spans.length}: ${modelOf(m.obj).typeRef} = ${JSON.stringify(m.obj, null, 2)};\n`;
    spans.push({ start, end: text.length, where: `${m.where} ${m.obj.kind}/${m.obj.metadata.name}` });
  }
  const host = ts.createCompilerHost(TS_OPTIONS, true);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    if (fileName === VIRTUAL_FILE) return ts.createSourceFile(fileName, text, languageVersion, true);
    let sf = sourceFiles.get(fileName);
    if (!sf) {
      sf = getSourceFile(fileName, languageVersion, onError, shouldCreate);
      if (sf) sourceFiles.set(fileName, sf);
    }
    return sf;
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => f === VIRTUAL_FILE || fileExists(f);
  const readFile = host.readFile.bind(host);
  host.readFile = (f) => (f === VIRTUAL_FILE ? text : readFile(f));
  const program = ts.createProgram({ rootNames: [VIRTUAL_FILE], options: TS_OPTIONS, host });
  const sf = program.getSourceFile(VIRTUAL_FILE)!;
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...program.getSyntacticDiagnostics(sf),
    ...program.getSemanticDiagnostics(sf),
  ];
  return diagnostics.map((d) => {
    const span = d.start === undefined ? undefined : spans.find((s) => d.start! >= s.start && d.start! < s.end);
    return `${span?.where ?? '(program)'}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}

// ---------------------------------------------------------------------------------------------------
// The objects the checks below look at

const deployment = one<IDeployment & K8sObject>('Deployment', 'vigil');
const podSpec = deployment.spec!.template.spec!;
const podLabels = deployment.spec!.template.metadata!.labels!;
const container = podSpec.containers.find((c) => c.name === 'vigil')!;
const containerPort = (name: string) => container.ports?.find((p) => p.name === name)?.containerPort;
const mountOf = (path: string) => container.volumeMounts?.find((v) => v.mountPath === path);
const volumeOf = (name: string | undefined) => podSpec.volumes?.find((v) => v.name === name);

const configMap = one<IConfigMap & K8sObject>('ConfigMap');
const secret = one<ISecret & K8sObject>('Secret');
const services = all('Service') as (IService & K8sObject)[];
const headless = services.find((s) => s.spec?.clusterIP === 'None')!;
const mainService = one<IService & K8sObject>('Service', 'vigil');

/** vigil.yaml as the container reads it: the ConfigMap key the --config path names. */
const configArg = container.args?.[(container.args?.indexOf('--config') ?? -2) + 1];
const configMount = container.volumeMounts?.find((v) => configArg?.startsWith(`${v.mountPath}/`));
const configKey = configArg?.slice((configMount?.mountPath.length ?? 0) + 1) ?? '';
const vigilYaml = configMap.data?.[configKey] ?? '';
/** What the Deployment's envFrom Secret puts in the environment. */
const secretEnv: Record<string, string> = { ...(secret.stringData ?? {}) };
for (const [k, v] of Object.entries(secret.data ?? {})) secretEnv[k] = Buffer.from(v, 'base64').toString('utf8');

let loaded: LoadedConfig | undefined;
/** vigil.yaml loaded by Vigil's own loader with the Secret's variables (throws ConfigError with every problem). */
const loadedConfig = () =>
  (loaded ??= parseConfig(vigilYaml, `${configMap.metadata.name}/${configKey}`, BUILTIN_REGISTRIES, secretEnv));
const vigilConfig = () => loadedConfig().config;

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  selector !== undefined &&
  Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

const kustomization = parseYaml(readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8')) as {
  namespace?: string;
  resources: string[];
  images?: { name: string; newName?: string; newTag?: string; digest?: string }[];
};

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
const dockerInstruction = (name: string) =>
  [...runtimeStage.matchAll(new RegExp(`^${name}\\s+(.+)$`, 'gm'))].map((m) => m[1]!.trim()).pop();

// ---------------------------------------------------------------------------------------------------

describe('deploy/kubernetes: schemas', () => {
  it('holds one object per file, every one of a kind with a schema', () => {
    expect(k8sFiles.length).toBeGreaterThanOrEqual(8);
    for (const f of k8sFiles) {
      expect(f, 'YAML files only').toMatch(/\.yaml$/);
      expect(
        vigilManifests.filter((m) => m.file === `deploy/kubernetes/${f}`),
        `${f}: one object`,
      ).toHaveLength(1);
    }
    for (const m of allManifests) expect(() => modelOf(m.obj), m.where).not.toThrow();
  });

  it('every object passes its kubernetes-models schema', () => {
    for (const m of allManifests) {
      try {
        validateSchema(m.obj);
      } catch (e) {
        throw new Error(
          `${m.where} ${m.obj.kind}/${m.obj.metadata?.name}: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    }
  });

  it('no object has an unknown, misspelled or mistyped field (TypeScript model types, like kubectl --validate=strict)', () => {
    expect(strictFieldProblems(allManifests)).toEqual([]);
  });

  it('the schema checks bite: broken copies are refused', () => {
    const expectInvalid = (obj: K8sObject, what: RegExp) => expect(() => validateSchema(obj)).toThrow(what);

    const badPort = clone(deployment);
    badPort.spec!.template.spec!.containers[0]!.ports![0]!.containerPort = 'abc' as unknown as number;
    expectInvalid(badPort, /containerPort must be integer/);

    const noSelector = clone(deployment);
    delete (noSelector.spec as Partial<NonNullable<IDeployment['spec']>>).selector;
    expectInvalid(noSelector, /spec must have required property selector/);

    const noImage = clone(deployment);
    (noImage.spec!.template.spec! as { containers: unknown[] }).containers = [{ image: 'x' }];
    expectInvalid(noImage, /containers\/0 must have required property name/);

    const badProtocol = clone(mainService);
    badProtocol.spec!.ports![0]!.protocol = 'HTTP' as never;
    expectInvalid(badProtocol, /protocol must be equal to one of the allowed values/);

    const badPdb = clone(one<IPodDisruptionBudget & K8sObject>('PodDisruptionBudget'));
    badPdb.spec!.unhealthyPodEvictionPolicy = 'Sometimes' as never;
    expectInvalid(badPdb, /unhealthyPodEvictionPolicy must be equal to one of the allowed values/);

    const badMonitor = clone(one<IServiceMonitor & K8sObject>('ServiceMonitor'));
    badMonitor.spec.endpoints[0]!.scheme = 'ftp' as never;
    expectInvalid(badMonitor, /scheme must be equal to one of the allowed values/);

    const badPvc = clone(one<IPersistentVolumeClaim & K8sObject>('PersistentVolumeClaim'));
    badPvc.spec!.accessModes = 'ReadWriteOnce' as never;
    expectInvalid(badPvc, /accessModes must be array/);

    // A misspelled field passes the JSON schema (unknown fields are allowed there)...
    const typo = clone(deployment) as K8sObject;
    const typoContainer = (typo as unknown as IDeployment).spec!.template.spec!.containers[0]!;
    const sc = typoContainer.securityContext as Record<string, unknown>;
    sc.readOnlyRootFileSystem = sc.readOnlyRootFilesystem;
    delete sc.readOnlyRootFilesystem;
    expect(() => validateSchema(typo)).not.toThrow();
    // ...and the strict-field check names it, as it does a wrong type deep inside a CRD.
    const brokenMonitor = clone(one<IServiceMonitor & K8sObject>('ServiceMonitor'));
    (brokenMonitor.spec.endpoints[0] as Record<string, unknown>).intervall = '30s';
    const brokenService = clone(mainService);
    (brokenService.spec!.ports![0] as unknown as Record<string, unknown>).port = '4317';
    const problems = strictFieldProblems([
      { where: 'typo', file: 'typo', obj: typo },
      { where: 'monitor', file: 'monitor', obj: brokenMonitor },
      { where: 'service', file: 'service', obj: brokenService },
    ]);
    expect(problems.join('\n')).toMatch(/^typo .*'"?readOnlyRootFileSystem"?' does not exist/m);
    expect(problems.join('\n')).toMatch(/^monitor .*'"?intervall"?' does not exist/m);
    expect(problems.join('\n')).toMatch(/^service .*Type 'string' is not assignable to type 'number'/m);
  });
});

describe('deploy/kubernetes: kustomization', () => {
  const ajv = new Ajv({ allErrors: true, strict: true });
  const validateKustomization = ajv.compile({
    type: 'object',
    additionalProperties: false,
    required: ['apiVersion', 'kind', 'resources'],
    properties: {
      apiVersion: { const: 'kustomize.config.k8s.io/v1beta1' },
      kind: { const: 'Kustomization' },
      namespace: { type: 'string', minLength: 1 },
      resources: { type: 'array', items: { type: 'string' }, uniqueItems: true },
      images: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            name: { type: 'string' },
            newName: { type: 'string' },
            newTag: { type: 'string' },
            digest: { type: 'string' },
          },
        },
      },
    },
  });

  it('is a Kustomization with known fields only (a tag such as 1.0 would be a YAML number: quote it)', () => {
    expect(validateKustomization(kustomization), ajv.errorsText(validateKustomization.errors)).toBe(true);
  });

  it('lists every file of the folder, and only files that exist', () => {
    expect([...kustomization.resources].sort()).toEqual(k8sFiles);
  });

  it('sets the namespace every namespaced object declares', () => {
    expect(kustomization.namespace).toBe('observability');
    for (const m of vigilManifests) {
      if (modelOf(m.obj).namespaced) expect(m.obj.metadata.namespace, m.where).toBe(kustomization.namespace);
      else expect(m.obj.metadata.namespace, m.where).toBeUndefined();
    }
  });

  it('its image entry names the Deployment image, with the same tag', () => {
    const images = kustomization.images ?? [];
    expect(images).toHaveLength(1);
    const [image] = images;
    expect(container.image).toBe(`${image!.name}:${image!.newTag}`);
    expect(image!.newTag).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('deploy/kubernetes: the Deployment', () => {
  it('runs the image the Dockerfile builds, with its default command', () => {
    expect(dockerInstruction('ENTRYPOINT')).toBe('["node", "/app/bin/vigil.js"]');
    expect(container.command).toBeUndefined(); // the image's entrypoint
    expect(JSON.stringify(container.args)).toBe(dockerInstruction('CMD')!.replace(/, /g, ','));
  });

  it('has one replica, replaced (not surged) on update', () => {
    expect(deployment.spec!.replicas).toBe(1);
    expect(deployment.spec!.strategy?.type).toBe('Recreate');
  });

  it('runs as the non-root user of the image, read-only, without privileges', () => {
    expect(dockerInstruction('USER')).toBe('node'); // uid 1000 in the node images
    const pod = podSpec.securityContext!;
    expect(pod).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      fsGroup: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext?.capabilities?.add ?? []).toEqual([]);
    expect(podSpec.hostNetwork ?? false).toBe(false);
  });

  it('exposes Vigil’s ports by name: 4317 OTLP/gRPC, 4318 OTLP/HTTP, 8080 API (the config’s and the defaults)', () => {
    const defaults = defaultConfig(BUILTIN_REGISTRIES).config.server;
    const server = vigilConfig().server;
    expect(containerPort('otlp-grpc')).toBe(4317);
    expect(containerPort('otlp-http')).toBe(4318);
    expect(containerPort('http')).toBe(8080);
    expect([server.otlpGrpc.port, server.otlpHttp.port, server.api.port]).toEqual([4317, 4318, 8080]);
    expect([defaults.otlpGrpc.port, defaults.otlpHttp.port, defaults.api.port]).toEqual([4317, 4318, 8080]);
    expect([server.otlpGrpc.host, server.otlpHttp.host, server.api.host]).toEqual(['0.0.0.0', '0.0.0.0', '0.0.0.0']);
    expect(dockerInstruction('EXPOSE')).toBe('4317 4318 8080');
  });

  it('probes liveness on /healthz and readiness on /readyz through the named API port', () => {
    expect(container.livenessProbe?.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'http' });
    for (const probe of [container.livenessProbe!, container.readinessProbe!]) {
      expect(containerPort(String(probe.httpGet!.port))).toBe(vigilConfig().server.api.port);
      expect(probe.timeoutSeconds ?? 1).toBeLessThan(probe.periodSeconds ?? 10);
    }
  });

  it('sets resource requests and limits', () => {
    const { requests, limits } = container.resources ?? {};
    for (const r of ['cpu', 'memory']) {
      expect(requests?.[r], `requests.${r}`).toBeDefined();
      expect(limits?.[r], `limits.${r}`).toBeDefined();
    }
    // the V8 heap cap stays below the memory limit
    const heapMiB = Number(
      /--max-old-space-size=(\d+)/.exec(container.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '')?.[1],
    );
    const limitMiB =
      Number(/^(\d+)Gi$/.exec(String(limits?.memory))?.[1]) * 1024 ||
      Number(/^(\d+)Mi$/.exec(String(limits?.memory))?.[1]);
    expect(heapMiB).toBeGreaterThan(0);
    expect(heapMiB).toBeLessThan(limitMiB);
  });

  it('gives a graceful shutdown time for the plan steps in flight', () => {
    const grace = podSpec.terminationGracePeriodSeconds!;
    const preStopSeconds = Number(container.lifecycle?.preStop?.exec?.command?.at(-1) ?? 0);
    expect(grace - preStopSeconds).toBeGreaterThan(vigilConfig().actions.stepTimeout / 1000);
  });

  it('mounts the config read-only at /etc/vigil from the ConfigMap, which holds the --config file', () => {
    expect(configArg).toBe('/etc/vigil/vigil.yaml');
    expect(configMount).toMatchObject({ mountPath: '/etc/vigil', readOnly: true });
    expect(volumeOf(configMount?.name)?.configMap?.name).toBe(configMap.metadata.name);
    expect(vigilYaml.length).toBeGreaterThan(0);
  });

  it('writes the audit log on a persistent volume at /var/lib/vigil, the image’s working directory', () => {
    const state = mountOf('/var/lib/vigil');
    expect(state?.readOnly ?? false).toBe(false);
    expect(dockerInstruction('WORKDIR')).toBe('/var/lib/vigil');
    const claim = volumeOf(state?.name)?.persistentVolumeClaim?.claimName;
    const pvc = one<IPersistentVolumeClaim & K8sObject>('PersistentVolumeClaim');
    expect(claim).toBe(pvc.metadata.name);
    expect(pvc.spec?.accessModes).toEqual(['ReadWriteOnce']);
    expect(pvc.spec?.resources?.requests?.storage).toBeDefined();
    const auditPath = vigilConfig().audit.path;
    expect(auditPath.startsWith('/') ? auditPath : join('/var/lib/vigil', auditPath)).toMatch(
      /^\/var\/lib\/vigil\/[^/]+$/,
    );
  });

  it('mounts an emptyDir at /tmp (the root filesystem is read-only)', () => {
    const tmp = mountOf('/tmp');
    expect(tmp).toBeDefined();
    expect(volumeOf(tmp?.name)?.emptyDir).toBeDefined();
  });

  it('takes its environment from the Secret, and runs as the ServiceAccount', () => {
    expect(container.envFrom?.map((e) => e.secretRef?.name)).toContain(secret.metadata.name);
    expect(podSpec.serviceAccountName).toBe(one('ServiceAccount').metadata.name);
    expect(podSpec.enableServiceLinks).toBe(false);
  });

  it('labels every object consistently; the selector matches the pod labels', () => {
    const selector = deployment.spec!.selector.matchLabels!;
    expect(selector).toEqual({ 'app.kubernetes.io/name': 'vigil', 'app.kubernetes.io/instance': 'vigil' });
    expect(matches(selector, podLabels)).toBe(true);
    for (const m of vigilManifests) expect(matches(selector, m.obj.metadata.labels), `${m.where} labels`).toBe(true);
  });
});

describe('deploy/kubernetes: Services, PodDisruptionBudget, ServiceMonitor', () => {
  it('the Service exposes 4317, 4318 and 8080 by name, each to the container port of that name', () => {
    expect(mainService.spec?.selector).toEqual(deployment.spec!.selector.matchLabels);
    expect(matches(mainService.spec?.selector, podLabels)).toBe(true);
    type ServicePort = NonNullable<NonNullable<IService['spec']>['ports']>[number];
    const ports: Record<string, ServicePort> = Object.fromEntries(
      (mainService.spec?.ports ?? []).map((p) => [p.name, p]),
    );
    expect(Object.keys(ports).sort()).toEqual(['http', 'otlp-grpc', 'otlp-http']);
    for (const [name, port] of Object.entries(ports)) {
      expect(port.port, name).toBe(containerPort(name));
      expect(containerPort(String(port.targetPort)), `${name} targetPort`).toBe(port.port);
      expect(port.protocol).toBe('TCP');
    }
    expect(ports['otlp-grpc']!.appProtocol).toBe('grpc');
    expect(ports['otlp-http']!.appProtocol).toBe('http');
    expect(ports.http!.appProtocol).toBe('http');
  });

  it('a headless Service lists the pods on 4317 for the Collector’s loadbalancing exporter', () => {
    expect(services).toHaveLength(2);
    expect(headless.metadata.name).toBe('vigil-headless');
    expect(headless.spec?.clusterIP).toBe('None');
    expect(headless.spec?.publishNotReadyAddresses ?? false).toBe(false);
    expect(matches(headless.spec?.selector, podLabels)).toBe(true);
    const grpc = headless.spec?.ports?.find((p) => p.port === 4317);
    expect(grpc?.name).toBe('otlp-grpc');
    expect(containerPort(String(grpc?.targetPort))).toBe(4317);
  });

  it('the PodDisruptionBudget (policy/v1) covers the pods and never blocks a drain of the single replica', () => {
    const pdb = one<IPodDisruptionBudget & K8sObject>('PodDisruptionBudget');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(matches(pdb.spec?.selector?.matchLabels, podLabels)).toBe(true);
    expect(pdb.spec?.minAvailable).toBeUndefined();
    expect(pdb.spec?.maxUnavailable).toBe(1);
  });

  it('the ServiceMonitor scrapes /metrics on the port http of exactly one Service, which reaches the API port', () => {
    const sm = one<IServiceMonitor & K8sObject>('ServiceMonitor');
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.spec.namespaceSelector?.matchNames).toEqual([kustomization.namespace]);
    expect(sm.spec.endpoints).toHaveLength(1);
    const [endpoint] = sm.spec.endpoints;
    expect(endpoint).toMatchObject({ port: 'http', path: '/metrics' });
    // /metrics is open even with server.auth.tokens set (the agent test below proves it): no credentials here
    for (const key of ['authorization', 'bearerTokenSecret', 'bearerTokenFile', 'basicAuth', 'oauth2'])
      expect(endpoint).not.toHaveProperty(key);
    const selected = services.filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
    const withPort = selected.filter((s) => s.spec?.ports?.some((p) => p.name === endpoint!.port));
    expect(withPort.map((s) => s.metadata.name)).toEqual([mainService.metadata.name]);
    const target = mainService.spec!.ports!.find((p) => p.name === endpoint!.port)!.targetPort;
    expect(containerPort(String(target))).toBe(vigilConfig().server.api.port);
  });
});

describe('deploy/kubernetes: vigil.yaml in the ConfigMap', () => {
  const envRefs = [...vigilYaml.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g)].map((m) => ({
    name: m[1]!,
    hasDefault: m[2] !== undefined,
  }));
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('is valid for Vigil’s own loader, with the variables the Secret provides', () => {
    expect(() => vigilConfig()).not.toThrow();
    const config = vigilConfig();
    expect(config.server.auth.tokens).toEqual([secretEnv.VIGIL_TOKEN]);
    expect(config.queue.redis).toBeNull(); // REDIS_URL empty: the embedded queue
    expect(config.actions.mode).toBe('dry-run');
    expect(config.plan.length).toBeGreaterThan(0);
    // only the "no plan" warning would be worrying here; an open API must not be
    expect(loadedConfig().warnings.join('\n')).not.toMatch(/tokens is empty|no rollback plan/);
    expect(vigilYaml).toMatch(/^\s*#/m); // commented
  });

  it('every ${VAR} without a default is a key of the Secret, and the Secret holds nothing else', () => {
    const required = [...new Set(envRefs.filter((r) => !r.hasDefault).map((r) => r.name))].sort();
    expect(required).toEqual(['HOOK_SECRET', 'SLACK_WEBHOOK_URL', 'VIGIL_TOKEN']);
    for (const name of required) expect(Object.keys(secretEnv), name).toContain(name);
    expect(Object.keys(secretEnv).sort()).toEqual([...new Set(envRefs.map((r) => r.name))].sort());
    for (const [k, v] of Object.entries(secretEnv))
      if (k !== 'REDIS_URL') expect(v, `${k} placeholder`).toMatch(/REPLACE/);
  });

  it('the loader check bites: without a Secret key, Vigil refuses the config and names the variable', () => {
    const { HOOK_SECRET: _dropped, ...partial } = secretEnv;
    expect(() => parseConfig(vigilYaml, 'vigil.yaml', BUILTIN_REGISTRIES, partial)).toThrow(/HOOK_SECRET is not set/);
  });

  it('with this config, /healthz, /readyz and /metrics answer without a token, /api/* only with the Secret’s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-k8s-'));
    dirs.push(dir);
    const agent = createAgent({
      loaded: loadedConfig(),
      registries: BUILTIN_REGISTRIES,
      logger: silentLogger(),
      ports: { otlpHttp: 0, otlpGrpc: 0, api: 0 },
      auditPath: join(dir, 'audit.jsonl'),
    });
    try {
      const api = agent.apiApp;
      expect((await api.inject('/healthz')).statusCode).toBe(200);
      expect((await api.inject('/readyz')).statusCode).toBe(503); // not listening yet, but not 401
      const metrics = await api.inject('/metrics');
      expect(metrics.statusCode).toBe(200);
      expect(metrics.body).toContain('vigil_decisions_total');
      expect((await api.inject('/api/v1/analyses')).statusCode).toBe(401);
      const authorized = await api.inject({
        url: '/api/v1/analyses',
        headers: { authorization: `Bearer ${secretEnv.VIGIL_TOKEN}` },
      });
      expect(authorized.statusCode).toBe(200);
    } finally {
      await agent.stop();
    }
  });
});

describe('deploy/otel-collector: the Collector routes by service to the headless Service', () => {
  interface Pipeline {
    receivers?: string[];
    processors?: string[];
    exporters?: string[];
  }
  interface CollectorConfig {
    receivers?: Record<string, unknown>;
    processors?: Record<string, unknown>;
    exporters?: Record<string, unknown>;
    connectors?: Record<string, unknown>;
    extensions?: Record<string, unknown>;
    service: { extensions?: string[]; pipelines: Record<string, Pipeline> };
  }
  interface LoadBalancing {
    routing_key?: string;
    protocol: { otlp: Record<string, unknown> & { tls?: { insecure?: boolean } } };
    resolver: {
      k8s?: { service: string; ports?: number[]; return_hostnames?: boolean };
      dns?: { hostname: string; port?: number | string };
    };
  }
  const docs = yamlDocuments(join(COLLECTOR_DIR, 'collector.yaml'));
  const collector = docs[0] as CollectorConfig;
  const typeOf = (id: string) => id.split('/')[0]!;
  const signalOf = (pipelineId: string) => typeOf(pipelineId);
  const lbIds = Object.keys(collector.exporters ?? {}).filter((id) =>
    ['loadbalancing', 'load_balancing'].includes(typeOf(id)),
  );

  /** Options of the loadbalancing exporter (upstream exporter/loadbalancingexporter/config.go). */
  const ajv = new Ajv({ allErrors: true, strict: true });
  const duration = { type: 'string', pattern: '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$' };
  const validateLoadBalancing = ajv.compile({
    type: 'object',
    additionalProperties: false,
    required: ['protocol', 'resolver'],
    properties: {
      routing_key: { enum: ['service', 'traceID', 'metric', 'resource', 'streamID', 'attributes'] },
      routing_attributes: { type: 'array', items: { type: 'string' } },
      timeout: duration,
      retry_on_failure: { type: 'object' },
      sending_queue: { type: 'object' },
      protocol: {
        type: 'object',
        additionalProperties: false,
        required: ['otlp'],
        // `endpoint` comes from the resolver
        properties: { otlp: { type: 'object', propertyNames: { not: { const: 'endpoint' } } } },
      },
      resolver: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        maxProperties: 1,
        properties: {
          static: {
            type: 'object',
            additionalProperties: false,
            required: ['hostnames'],
            properties: { hostnames: { type: 'array', items: { type: 'string' } } },
          },
          dns: {
            type: 'object',
            additionalProperties: false,
            required: ['hostname'],
            properties: {
              hostname: { type: 'string' },
              port: {
                anyOf: [
                  { type: 'string', pattern: '^[0-9]+$' },
                  { type: 'integer', minimum: 1, maximum: 65535 },
                ],
              },
              interval: duration,
              timeout: duration,
            },
          },
          k8s: {
            type: 'object',
            additionalProperties: false,
            required: ['service'],
            properties: {
              service: { type: 'string', pattern: '^[a-z0-9-]+(\\.[a-z0-9-]+)?$' },
              ports: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 } },
              timeout: duration,
              return_hostnames: { type: 'boolean' },
            },
          },
          aws_cloud_map: { type: 'object' },
        },
      },
    },
  });

  it('is one Collector config document', () => {
    expect(docs).toHaveLength(1);
    expect(Object.keys(collector.service.pipelines).length).toBeGreaterThan(0);
  });

  it('every pipeline references defined receivers, processors and exporters, and every component is used', () => {
    const used = { receivers: new Set<string>(), processors: new Set<string>(), exporters: new Set<string>() };
    for (const [id, p] of Object.entries(collector.service.pipelines)) {
      expect(['traces', 'metrics', 'logs'], `${id}: signal`).toContain(signalOf(id));
      expect(p.receivers?.length, `${id}: receivers`).toBeGreaterThan(0);
      expect(p.exporters?.length, `${id}: exporters`).toBeGreaterThan(0);
      for (const section of ['receivers', 'processors', 'exporters'] as const) {
        for (const name of p[section] ?? []) {
          const defined = {
            ...(collector[section] ?? {}),
            ...(section === 'processors' ? {} : (collector.connectors ?? {})),
          };
          expect(Object.keys(defined), `${id}.${section}: ${name}`).toContain(name);
          used[section].add(name);
        }
      }
    }
    for (const section of ['receivers', 'processors', 'exporters'] as const) {
      expect(Object.keys(collector[section] ?? {}).sort(), `unused ${section}`).toEqual([...used[section]].sort());
    }
    for (const ext of collector.service.extensions ?? [])
      expect(Object.keys(collector.extensions ?? {})).toContain(ext);
  });

  it('traces and metrics go through k8sattributes (the pod labels Vigil reads) and batch to the loadbalancing exporter', () => {
    const pipelines = Object.entries(collector.service.pipelines);
    expect(pipelines.map(([id]) => signalOf(id)).sort()).toEqual(['metrics', 'traces']);
    for (const [id, p] of pipelines) {
      expect(p.exporters, id).toEqual(lbIds);
      const processors = (p.processors ?? []).map(typeOf);
      expect(processors, id).toContain('k8sattributes');
      expect(processors, id).toContain('batch');
      if (processors.includes('memory_limiter'))
        expect(processors[0], `${id}: memory_limiter first`).toBe('memory_limiter');
      expect(processors.indexOf('k8sattributes'), `${id}: k8sattributes before batch`).toBeLessThan(
        processors.indexOf('batch'),
      );
    }
    const k8sattributes = collector.processors!.k8sattributes as {
      extract: { labels: { tag_name: string; key: string; from: string }[] };
    };
    const extracted = k8sattributes.extract.labels;
    for (const label of vigilConfig().cohorts.podLabels) {
      expect(extracted, `pod label ${label}`).toContainEqual({
        tag_name: `k8s.pod.label.${label}`,
        key: label,
        from: 'pod',
      });
    }
    for (const label of ['app.kubernetes.io/version', 'version']) {
      expect(extracted).toContainEqual({ tag_name: `k8s.pod.label.${label}`, key: label, from: 'pod' });
    }
  });

  it('the loadbalancing exporter routes by service over OTLP/gRPC to port 4317 of vigil-headless', () => {
    expect(lbIds).toHaveLength(1);
    const lb = collector.exporters![lbIds[0]!] as LoadBalancing;
    expect(validateLoadBalancing(lb), ajv.errorsText(validateLoadBalancing.errors)).toBe(true);
    expect(lb.routing_key).toBe('service');
    // `service` is the one key valid for both signals: traceID is for traces (and logs), metric/resource/streamID for metrics
    const validFor: Record<string, string[]> = {
      traces: ['service', 'traceID', 'attributes'],
      metrics: ['service', 'resource', 'metric', 'streamID', 'attributes'],
    };
    for (const [id, p] of Object.entries(collector.service.pipelines)) {
      if (p.exporters?.includes(lbIds[0]!)) expect(validFor[signalOf(id)], id).toContain(lb.routing_key);
    }
    expect(lb.protocol.otlp.tls?.insecure).toBe(true); // Vigil's receivers speak plain gRPC
    const k8s = lb.resolver.k8s!;
    expect(k8s).toBeDefined();
    const [svcName, svcNamespace] = k8s.service.split('.');
    expect(svcName).toBe(headless.metadata.name);
    expect(svcNamespace).toBe(headless.metadata.namespace);
    expect(k8s.ports).toEqual([vigilConfig().server.otlpGrpc.port]);
    expect(headless.spec?.ports?.map((p) => p.port)).toContain(k8s.ports![0]);
    expect(k8s.return_hostnames ?? false).toBe(false); // pod hostnames exist only for StatefulSet pods
  });

  it('the loadbalancing options check bites: a misspelled or wrongly placed key is refused', () => {
    const lb = collector.exporters![lbIds[0]!] as LoadBalancing;
    const bad = [
      { ...clone(lb), routingkey: 'service' },
      { ...clone(lb), routing_key: 'serviceName' },
      { ...clone(lb), resolver: { k8s: { service: 'vigil-headless.observability', port: 4317 } } },
      { ...clone(lb), resolver: { ...clone(lb.resolver), dns: { hostname: 'vigil-headless' } } },
      { ...clone(lb), protocol: { otlp: { ...clone(lb.protocol.otlp), endpoint: 'vigil:4317' } } },
    ];
    for (const b of bad) expect(validateLoadBalancing(b), JSON.stringify(b)).toBe(false);
  });

  it('rbac.yaml lets the resolver watch the headless Service’s endpoints in its namespace', () => {
    const roles = collectorRbac.map((m) => m.obj).filter((o) => o.kind === 'Role') as unknown as (IRole & K8sObject)[];
    const role = roles.find((r) => r.metadata.namespace === headless.metadata.namespace)!;
    expect(role).toBeDefined();
    const grants = (group: string, resource: string) =>
      (role.rules ?? []).some(
        (r) =>
          r.apiGroups?.includes(group) &&
          r.resources?.includes(resource) &&
          ['get', 'list', 'watch'].every((v) => r.verbs.includes(v)),
      );
    expect(grants('discovery.k8s.io', 'endpointslices')).toBe(true);
    expect(grants('', 'endpoints')).toBe(true);
    const binding = collectorRbac.map((m) => m.obj).find((o) => o.kind === 'RoleBinding') as unknown as IRoleBinding &
      K8sObject;
    expect(binding.metadata.namespace).toBe(role.metadata.namespace);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
  });
});
