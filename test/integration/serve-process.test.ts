/** `vigil serve` as a process: listens, answers, keeps serving after bad OTLP, and shuts down on SIGTERM. */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');

describe('vigil serve (process)', () => {
  it('serves, rejects bad OTLP with 4xx while accepting good OTLP, and exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-serve-'));
    const cfg = join(dir, 'vigil.yaml');
    writeFileSync(
      cfg,
      `server:\n  otlpHttp: { host: 127.0.0.1, port: 0 }\n  otlpGrpc: { host: 127.0.0.1, port: 0 }\n  api: { host: 127.0.0.1, port: 0 }\n  auth: { open: true }\naudit: { path: "${join(dir, 'audit.jsonl')}" }\nconnectors:\n  - { name: hook, type: webhook, options: { url: "http://127.0.0.1:9/x", secret: "\${HOOK_SECRET}" } }\nplan: [hook]\n`,
    );
    const child = spawn(process.execPath, [join(root, 'bin/vigil.js'), 'serve', '--config', cfg], {
      env: { ...process.env, HOOK_SECRET: 'super-secret-value', VIGIL_LOG_LEVEL: 'debug' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const deadline = Date.now() + 20_000;
    while (!out.includes('vigil is listening') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const line = out.split('\n').find((l) => l.includes('vigil is listening'));
    expect(line, out).toBeDefined();
    const { otlpHttp, api } = JSON.parse(line!);

    expect((await fetch(`${api}/healthz`)).status).toBe(200);
    const bad = await fetch(`${otlpHttp}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: Buffer.from([0x0a, 0xff, 0xff, 0x01]),
    });
    expect(bad.status).toBe(400);
    const bomb = await fetch(`${otlpHttp}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20)),
    });
    expect(bomb.status).toBe(413);
    const good = await fetch(`${otlpHttp}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'cart' } }] },
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: '5b8efff798038103d269b633813fc60c',
                    spanId: 'eee19b7ec3c1b174',
                    name: 'GET /',
                    kind: 2,
                    startTimeUnixNano: '1767225600000000000',
                    endTimeUnixNano: '1767225600020000000',
                  },
                ],
              },
            ],
          },
        ],
      }),
    });
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({});
    const metrics = await (await fetch(`${api}/metrics`)).text();
    expect(metrics).toMatch(/vigil_request_samples_total\{cohort="unknown"\} 1/);
    expect(metrics).toMatch(/vigil_otlp_requests_rejected_total\{transport="http",status="400"\} 1/);
    expect(metrics).toMatch(/vigil_otlp_spans_accepted_total\{transport="http",encoding="json"\} 1/);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('shutting down');
    expect(out).not.toContain('super-secret-value');
  });
});
