/**
 * `vigil serve --config <file>` for the ingest benchmark, run in its own process under tsx
 * (node --import tsx test/bench/ingest-agent.ts <config>): the same entry point as bin/vigil.js, without
 * needing a build.
 */
import { main } from '../../src/cli.js';

const config = process.argv[2];
if (config === undefined) {
  process.stderr.write('usage: ingest-agent.ts <config.yaml>\n');
  process.exit(2);
}
process.exitCode = await main(['node', 'vigil', 'serve', '--config', config]);
