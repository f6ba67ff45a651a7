/** The VigilError a promise rejects with; the test fails when it resolves or rejects with anything else. */
import { expect } from 'vitest';
import { VigilError } from '../../src/errors.js';

export async function rejection(p: Promise<unknown>): Promise<VigilError> {
  const err: unknown = await p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VigilError);
  return err as VigilError;
}
