import { describe, expect, it } from 'vitest';
import { withBindings } from '../../../../connectors/shared/log.js';
import { captureLogs, duplicateKeys } from '../../../helpers/log-lines.js';

describe('withBindings', () => {
  it('adds the identity a caller did not bind (vigil connectors test passes an unbound logger)', () => {
    const logs = captureLogs();
    withBindings(logs.logger, { connector: 'hook', decisionId: 'd-1' }).info({ status: 200 }, 'delivered');
    expect(logs.parsed()[0]).toMatchObject({ connector: 'hook', decisionId: 'd-1', status: 200 });
    expect(duplicateKeys(logs.raw()[0]!)).toEqual([]);
  });

  it('never binds a key twice: the job logger already carries connector and decisionId', () => {
    const logs = captureLogs();
    const job = logs.logger.child({ queue: 'actions', jobId: 'j', decisionId: 'd-1', connector: 'hook' });
    const log = withBindings(job, { connector: 'hook', decisionId: 'd-1', kind: 'decision' });
    log.info('posted');
    expect(logs.parsed()[0]).toMatchObject({
      queue: 'actions',
      connector: 'hook',
      decisionId: 'd-1',
      kind: 'decision',
    });
    expect(duplicateKeys(logs.raw()[0]!)).toEqual([]);
    expect(withBindings(job, { connector: 'hook' })).toBe(job);
  });

  it('duplicateKeys finds repeated keys at any depth, inside strings never', () => {
    expect(duplicateKeys('{"a":1,"b":{"c":1,"c":2},"a":"x,\\"a\\":1","d":[{"e":1,"e":1}]}')).toEqual([
      'b.c',
      'a',
      'd[].e',
    ]);
    expect(duplicateKeys('{"a":{"a":1},"b":[1,{"a":2}]}')).toEqual([]);
  });
});
