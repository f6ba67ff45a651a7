/**
 * A real agent (createAgent) for integration tests: config text after an audit log in a fresh temporary
 * directory (or `dir`: an agent started again on another's audit log and checkpoint), every port ephemeral, started.
 * The caller stops it (`agent.stop()`).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/logger.js';
import { createAgent, type Agent } from '../../src/main.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';

export interface StartedAgent {
  agent: Agent;
  /** The temporary directory holding the audit log (`audit.jsonl`). */
  dir: string;
  otlpHttpUrl: string;
  /** `http://host:port` of the OTLP/gRPC receiver, as the gRPC exporters take it. */
  grpcUrl: string;
  apiUrl: string;
}

export async function startTestAgent(config: string, name = 'test', into?: string): Promise<StartedAgent> {
  const dir = into ?? mkdtempSync(join(tmpdir(), `vigil-${name}-`));
  const loaded = parseConfig(
    `audit: { path: "${join(dir, 'audit.jsonl')}" }\n${config}`,
    `${name}.yaml`,
    BUILTIN_REGISTRIES,
    {},
  );
  const agent = createAgent({
    loaded,
    registries: BUILTIN_REGISTRIES,
    logger: silentLogger(),
    ports: { otlpHttp: 0, otlpGrpc: 0, api: 0 },
  });
  const { otlpHttpUrl, otlpGrpcAddress, apiUrl } = await agent.start();
  return { agent, dir, otlpHttpUrl, grpcUrl: `http://${otlpGrpcAddress}`, apiUrl };
}
