#!/usr/bin/env node
// Entry point installed as `vigil`. The TypeScript is compiled to dist/ by `npm run build` (run by `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('vigil: dist/ is missing. Run `npm run build` (npm install runs it through `prepare`).\n');
  process.exit(2);
}
// `vigil validate x.yaml | head -1`: a reader that goes away is not a crash; stop quietly like other CLIs.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});
const { main } = await import(cli.href);
process.exitCode = await main(process.argv);
