/** `vigil … | head`: a reader that closes the pipe early must not crash the CLI with an EPIPE stack trace. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');

describe('vigil writing into a closed pipe', () => {
  it('exits quietly with its own exit code when the reader goes away', () => {
    // `true` exits without reading: the pipe is closed long before node has started and writes
    const r = spawnSync(
      'bash',
      ['-c', 'node bin/vigil.js validate fixtures/config/valid/full.yaml | true; echo "exit=${PIPESTATUS[0]}"'],
      {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, VIGIL_TOKEN: 'pipe-test-token' },
      },
    );
    expect(r.stdout.trim()).toBe('exit=0');
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled 'error' event/);
  });
});
