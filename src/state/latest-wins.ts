/**
 * Serialised, coalescing writes: one `write` runs at a time; data submitted while one runs waits, and of the
 * data that waited only the latest is written. Every submit settles with the write that carried its data or a
 * later one (a checkpoint superseded before it was written is as good as written once the newer one is).
 */
export interface LatestWins<T> {
  submit(data: T): Promise<void>;
  /** Resolves once nothing is running nor waiting (never rejects). */
  idle(): Promise<void>;
}

interface Batch<T> {
  data: T;
  promise: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

function batchOf<T>(data: T): Batch<T> {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { data, promise, resolve, reject };
}

export function latestWins<T>(write: (data: T) => Promise<void>): LatestWins<T> {
  let waiting: Batch<T> | undefined;
  let running: Promise<void> | undefined;

  const pump = async (): Promise<void> => {
    while (waiting) {
      const batch = waiting;
      waiting = undefined;
      try {
        await write(batch.data);
        batch.resolve();
      } catch (e) {
        batch.reject(e);
      }
    }
    running = undefined;
  };

  return {
    submit(data) {
      if (waiting) waiting.data = data;
      else waiting = batchOf(data);
      const { promise } = waiting;
      running ??= pump();
      return promise;
    },
    idle: () => running ?? Promise.resolve(),
  };
}
