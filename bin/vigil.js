#!/usr/bin/env node
// Entry point installed as `vigil`. The TypeScript is compiled to dist/ by `npm run build` (run by `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('vigil: dist/ is missing. Run `npm run build` (npm install runs it through `prepare`).\n');
  process.exit(2);
}
// `vigil --help | head`: a reader that stops early is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(process.exitCode ?? 0);
  });
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv);
