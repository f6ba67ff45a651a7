import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Reads a payload from fixtures/otlp/ (copies of ../shared/otlp-examples; see fixtures/otlp/README.md). */
export function otlpFixture(name: string): Buffer {
  return readFileSync(fileURLToPath(new URL(`../../../fixtures/otlp/${name}`, import.meta.url)));
}
