/**
 * Where the agent keeps its checkpoint (an opaque buffer, up to tens of MB, saved every few seconds and loaded
 * at start), and the store on local disk. The Redis store is `./redis-state-store.ts`.
 *
 * The file store writes `<dir>/<name>.v8` atomically: a temp file in the same directory, fsynced, renamed over
 * the checkpoint, then the directory fsynced. A crash at any point leaves the old or the new checkpoint whole;
 * the temp files such a crash leaves are removed by the store's first save. Every checkpoint is framed
 * (`./frame.ts`: magic, version, length, SHA-256) and `load` verifies the frame, so it never returns a torn or
 * altered buffer. Saves are serialised and coalesced (`./latest-wins.ts`).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { VigilError } from '../errors.js';
import { frameHeader, unframe } from './frame.js';
import { latestWins } from './latest-wins.js';

export interface StateStore {
  /** Human-readable location for logs: a file path, or `redis <url without password> key <key>`. */
  readonly where: string;
  /** The last checkpoint saved, or undefined when nothing was saved yet. */
  load(): Promise<Buffer | undefined>;
  /**
   * Durable when it resolves; a crash at any point leaves either the old or the new checkpoint, never a torn one.
   * Saves run one at a time; of those that wait, only the latest data is written and they all settle with it.
   * The store holds `data` until it is written: pass a buffer that is not changed afterwards.
   */
  save(data: Buffer): Promise<void>;
  /** Waits for the saves already asked for; later calls reject with VIGIL_ERR_STATE_CLOSED. */
  close(): Promise<void>;
  /** Gives up at once (a shutdown past its deadline): a save still waiting for the store rejects, later calls reject
   *  with VIGIL_ERR_STATE_CLOSED, a `close()` under way resolves. Stores whose saves are always bounded (a local file)
   *  may leave it out. */
  abort?(): void;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function writeAll(fh: FileHandle, chunks: readonly Buffer[]): Promise<void> {
  let position = 0;
  for (const chunk of chunks) {
    let done = 0;
    while (done < chunk.length) {
      const { bytesWritten } = await fh.write(chunk, done, chunk.length - done, position);
      done += bytesWritten;
      position += bytesWritten;
    }
  }
}

async function fsyncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Removes the temp files of `fileName` that an earlier process left behind (a crash between write and rename). */
async function removeLeftovers(dir: string, fileName: string): Promise<void> {
  const leftovers = (await readdir(dir)).filter((f) => f.startsWith(`${fileName}.`) && f.endsWith('.tmp'));
  await Promise.all(leftovers.map((f) => unlink(join(dir, f)).catch(() => undefined)));
}

/** Writes header + payload to a fresh temp file, fsyncs it and renames it over `file`; the temp never outlives a failure. */
async function replaceAtomically(dir: string, file: string, chunks: readonly Buffer[]): Promise<void> {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(temp, 'wx', 0o600);
  try {
    try {
      await writeAll(fh, chunks);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, file);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw e;
  }
  await fsyncDirectory(dir);
}

/** The checkpoint in `<dir>/<name>.v8` (dir is created on the first save). */
export function createFileStateStore(dir: string, name = 'checkpoint'): StateStore {
  const directory = resolve(dir);
  const fileName = `${name}.v8`;
  const file = join(directory, fileName);
  if (!name || basename(fileName) !== fileName || name.startsWith('.')) {
    throw new VigilError('VIGIL_ERR_STATE_WRITE', [file, `name ${JSON.stringify(name)} is not a plain file name`], {
      retryable: false,
      details: { file },
    });
  }
  let cleaned = false;
  let closed = false;

  const writer = latestWins(async (data: Buffer) => {
    try {
      await mkdir(directory, { recursive: true });
      if (!cleaned) await removeLeftovers(directory, fileName);
      cleaned = true;
      await replaceAtomically(directory, file, [frameHeader(data), data]);
    } catch (e) {
      throw new VigilError('VIGIL_ERR_STATE_WRITE', [file, messageOf(e)], { cause: e, details: { file } });
    }
  });
  const closedError = () => new VigilError('VIGIL_ERR_STATE_CLOSED', [file], { details: { file } });

  return {
    where: file,
    async load() {
      if (closed) throw closedError();
      let framed: Buffer;
      try {
        framed = await readFile(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new VigilError('VIGIL_ERR_STATE_READ', [file, messageOf(e)], { cause: e, details: { file } });
      }
      return unframe(framed, file);
    },
    save(data) {
      if (closed) return Promise.reject(closedError());
      return writer.submit(data);
    },
    async close() {
      closed = true;
      await writer.idle();
    },
  };
}
