/**
 * The dashboard's static files, served same-origin (the Content-Security-Policy allows scripts from 'self' only,
 * no inline script, no eval): the browser code in client/ (plain ES modules: what is written is what the browser
 * runs, no build step; tsc copies them to dist), the stylesheet and the icon (styles.ts). Their URLs carry a hash of
 * all of them, `/assets/<version>/<file>`, so they are cached for a year (immutable) and a new Vigil is never served
 * an old script. The modules import each other relatively, so they share the version directory.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { DASHBOARD_CSS, FAVICON_SVG } from './styles.js';

interface Asset {
  type: string;
  body: string;
}

const CLIENT_MODULES = ['dashboard.js', 'views.js', 'plot.js'] as const;

/** The source map comment tsc appends to the copies in dist: the map is not served. */
const SOURCE_MAP_COMMENT = /\n\/\/# sourceMappingURL=\S+\s*$/;

function load(): { version: string; files: Map<string, Asset> } {
  const files = new Map<string, Asset>();
  for (const name of CLIENT_MODULES) {
    const body = readFileSync(new URL(`./client/${name}`, import.meta.url), 'utf8').replace(SOURCE_MAP_COMMENT, '\n');
    files.set(name, { type: 'text/javascript; charset=utf-8', body });
  }
  files.set('dashboard.css', { type: 'text/css; charset=utf-8', body: DASHBOARD_CSS });
  files.set('icon.svg', { type: 'image/svg+xml', body: FAVICON_SVG });
  const hash = createHash('sha256');
  for (const [name, f] of files) hash.update(name).update('\0').update(f.body).update('\0');
  return { version: hash.digest('hex').slice(0, 12), files };
}

let loaded: ReturnType<typeof load> | undefined;
const assets = () => (loaded ??= load());

/** The URL of one of the dashboard's files. */
export const assetUrl = (name: 'dashboard.js' | 'dashboard.css' | 'icon.svg'): string =>
  `/assets/${assets().version}/${name}`;

/** The bytes of each file as served (for the docs and a size test). */
export function assetSizes(): Record<string, number> {
  return Object.fromEntries([...assets().files].map(([name, f]) => [name, Buffer.byteLength(f.body)]));
}

const YEAR_S = 365 * 24 * 3600;

/** `GET /assets/:version/:file`: open (nothing secret in them), immutable; another version is 404. */
export function registerAssetRoutes(app: FastifyInstance): void {
  app.get<{ Params: { version: string; file: string } }>('/assets/:version/:file', async (req, reply) => {
    const { version, files } = assets();
    const f = req.params.version === version ? files.get(req.params.file) : undefined;
    if (f === undefined)
      return reply.code(404).send({ error: 'not found', message: `no asset ${req.params.version}/${req.params.file}` });
    return reply.type(f.type).header('cache-control', `public, max-age=${YEAR_S}, immutable`).send(f.body);
  });
}
