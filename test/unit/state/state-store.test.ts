import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VigilError } from '../../../src/errors.js';
import { FRAME_HEADER_BYTES } from '../../../src/state/frame.js';
import { createFileStateStore, type StateStore } from '../../../src/state/state-store.js';
import { rejection } from '../../helpers/rejection.js';

let dir: string;
const stores: StateStore[] = [];

function store(name?: string, where = dir): StateStore {
  const s = createFileStateStore(where, name);
  stores.push(s);
  return s;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-state-'));
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('createFileStateStore', () => {
  it('round-trips a v8-serialized object graph through <dir>/<name>.v8, creating the directory', async () => {
    const shared = { service: 'checkout', looks: [1, 2, 3] };
    const graph = {
      byService: new Map<string, unknown>([
        ['checkout', shared],
        ['cart', shared],
      ]),
      lowest: -Infinity,
      nan: NaN,
      negZero: -0,
      big: 2n ** 70n,
      samples: new Float64Array([0.5, -Infinity, Number.MAX_VALUE, 5e-324]),
      seen: new Set(['a', 'b']),
      at: new Date(1_700_000_000_000),
    };
    const s = store('analysis', join(dir, 'a', 'b'));
    expect(s.where).toBe(join(dir, 'a', 'b', 'analysis.v8'));
    await s.save(serialize(graph));

    const loaded = await createFileStateStore(join(dir, 'a', 'b'), 'analysis').load();
    expect(loaded).toBeInstanceOf(Buffer);
    const back = deserialize(loaded!) as typeof graph;
    expect(back).toEqual(graph);
    expect(Object.is(back.negZero, -0)).toBe(true);
    expect(back.byService.get('checkout')).toBe(back.byService.get('cart')); // the shared reference survives
    expect(back.samples).toBeInstanceOf(Float64Array);
    expect(back.samples[1]).toBe(-Infinity);
    expect(await readdir(join(dir, 'a', 'b'))).toEqual(['analysis.v8']);
  });

  it('loads undefined when nothing was saved yet (and the directory does not exist)', async () => {
    expect(await store(undefined, join(dir, 'nowhere')).load()).toBeUndefined();
    expect(await store().load()).toBeUndefined();
  });

  it('a later save replaces the checkpoint; an empty buffer is a checkpoint too', async () => {
    const s = store();
    await s.save(Buffer.from('first'));
    await s.save(Buffer.from('second, longer'));
    expect((await s.load())?.toString()).toBe('second, longer');
    await s.save(Buffer.alloc(0));
    expect(await s.load()).toEqual(Buffer.alloc(0));
  });

  it('a changed byte is VIGIL_ERR_STATE_CORRUPT naming the file, never the altered data', async () => {
    const s = store();
    const data = serialize({ counts: new Map([['a', 1]]) });
    await s.save(data);
    const file = join(dir, 'checkpoint.v8');
    const bytes = await readFile(file);
    bytes[FRAME_HEADER_BYTES + 3]! ^= 0x01;
    await writeFile(file, bytes);
    const e = await rejection(s.load());
    expect(e.code).toBe('VIGIL_ERR_STATE_CORRUPT');
    expect(e.retryable).toBe(false);
    expect(e.message).toBe(`checkpoint ${file} is corrupt: checksum mismatch`);
  });

  it('a truncated file is corrupt, in the payload or in the header, and so is a file with bytes after it', async () => {
    const s = store();
    const file = join(dir, 'checkpoint.v8');
    await s.save(Buffer.alloc(1000, 7));
    await truncate(file, FRAME_HEADER_BYTES + 990);
    expect((await rejection(s.load())).message).toBe(
      `checkpoint ${file} is corrupt: truncated: 990 of 1000 payload bytes`,
    );
    await truncate(file, 20);
    expect((await rejection(s.load())).message).toMatch(
      /is corrupt: truncated: 20 bytes, shorter than the 52-byte header$/,
    );
    await truncate(file, 0);
    expect((await rejection(s.load())).code).toBe('VIGIL_ERR_STATE_CORRUPT');

    await s.save(Buffer.alloc(10, 1));
    await writeFile(file, Buffer.from('xx'), { flag: 'a' });
    expect((await rejection(s.load())).message).toMatch(/is corrupt: 2 unexpected bytes after the 10-byte payload$/);
  });

  it('a file that is not a checkpoint, or of a newer format version, is corrupt', async () => {
    const s = store();
    const file = join(dir, 'checkpoint.v8');
    await writeFile(file, serialize({ not: 'framed' }));
    expect((await rejection(s.load())).message).toBe(
      `checkpoint ${file} is corrupt: bad magic (not a Vigil checkpoint)`,
    );

    await s.save(Buffer.from('payload'));
    const bytes = await readFile(file);
    bytes.writeUInt32BE(2, 8);
    await writeFile(file, bytes);
    expect((await rejection(s.load())).message).toMatch(/unsupported format version 2 \(this Vigil reads 1\)$/);
  });

  it('an unreadable checkpoint path is VIGIL_ERR_STATE_READ', async () => {
    await mkdir(join(dir, 'checkpoint.v8'));
    const e = await rejection(store().load());
    expect(e.code).toBe('VIGIL_ERR_STATE_READ');
    expect(e.message).toContain(join(dir, 'checkpoint.v8'));
    expect(e.details).toEqual({ file: join(dir, 'checkpoint.v8') });
  });

  it('removes temp files a crash left behind at the next save, and only those of its own checkpoint', async () => {
    const leftovers = ['checkpoint.v8.4242.0a1b2c3d4e5f.tmp', 'checkpoint.v8.7.ffffffffffff.tmp'];
    for (const f of leftovers) await writeFile(join(dir, f), 'half a checkpoint');
    await writeFile(join(dir, 'other.v8.1.000000000000.tmp'), 'another store');
    await writeFile(join(dir, 'notes.txt'), 'keep me');
    const s = store();
    await s.save(Buffer.from('new'));
    expect((await readdir(dir)).sort()).toEqual(['checkpoint.v8', 'notes.txt', 'other.v8.1.000000000000.tmp']);
    expect((await s.load())?.toString()).toBe('new');
  });

  it('serialises concurrent saves and writes only the latest of those that waited', async () => {
    const s = store();
    const saves = ['a', 'b', 'c', 'd'].map((x) => s.save(Buffer.from(x.repeat(100_000))));
    await Promise.all(saves);
    expect((await s.load())?.toString()).toBe('d'.repeat(100_000));
    expect(await readdir(dir)).toEqual(['checkpoint.v8']);

    // rounds where each save starts while the previous one runs: the file always ends with the last data
    for (let round = 0; round < 5; round++) {
      const pending: Promise<void>[] = [];
      for (let i = 0; i < 8; i++) {
        pending.push(s.save(Buffer.from(`${round}:${i}`)));
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(pending);
      expect((await s.load())?.toString()).toBe(`${round}:7`);
    }
  });

  it('a save into a directory that cannot be created rejects with a retryable VIGIL_ERR_STATE_WRITE', async () => {
    await writeFile(join(dir, 'a-file'), 'not a directory');
    const s = store(undefined, join(dir, 'a-file', 'state'));
    const e = await rejection(s.save(Buffer.from('x')));
    expect(e.code).toBe('VIGIL_ERR_STATE_WRITE');
    expect(e.retryable).toBe(true);
    expect(e.message).toContain(join(dir, 'a-file', 'state', 'checkpoint.v8'));
    expect(e.message).toMatch(/ENOTDIR|EEXIST/);
  });

  it('a save whose rename fails keeps the old checkpoint and leaves no temp file', async () => {
    const s = store();
    await mkdir(join(dir, 'checkpoint.v8', 'in-the-way'), { recursive: true });
    const e = await rejection(s.save(Buffer.from('x')));
    expect(e.code).toBe('VIGIL_ERR_STATE_WRITE');
    expect(await readdir(dir)).toEqual(['checkpoint.v8']);
    expect(await readdir(join(dir, 'checkpoint.v8'))).toEqual(['in-the-way']);
  });

  it('close waits for the saves asked for; afterwards save and load reject with VIGIL_ERR_STATE_CLOSED', async () => {
    const s = store();
    const saving = s.save(Buffer.alloc(2_000_000, 3));
    await s.close();
    await expect(saving).resolves.toBeUndefined();
    expect((await createFileStateStore(dir).load())?.equals(Buffer.alloc(2_000_000, 3))).toBe(true);
    expect((await rejection(s.save(Buffer.from('late')))).code).toBe('VIGIL_ERR_STATE_CLOSED');
    expect((await rejection(s.load())).code).toBe('VIGIL_ERR_STATE_CLOSED');
  });

  it('refuses a name that is not a plain file name', () => {
    for (const name of ['../escape', 'a/b', '', '.hidden']) {
      expect(() => createFileStateStore(dir, name), name).toThrow(VigilError);
    }
  });
});
