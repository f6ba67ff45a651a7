/**
 * Writes schema/vigil.schema.json, the config's JSON Schema, from the zod schema (src/config/json-schema.ts)
 * with the built-in detector, connector and notifier names. Run it after changing src/config/schema.ts or
 * adding a plug-in; test/unit/config/json-schema.test.ts fails until the file is up to date.
 *
 *   npm run schema
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { configJsonSchema, formatJsonSchema, pluginNames } from '../../src/config/json-schema.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';

export const SCHEMA_FILE = join(import.meta.dirname, '../../schema/vigil.schema.json');

/** The document as it must be checked in. */
export function generatedSchemaText(): string {
  return formatJsonSchema(configJsonSchema(pluginNames(BUILTIN_REGISTRIES)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(SCHEMA_FILE, generatedSchemaText());
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
}
