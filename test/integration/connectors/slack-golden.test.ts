/**
 * Golden Slack payloads: a fixed rollback on error-rate (and one by hand, and an operator's pause), posted through
 * the real connector to a local
 * server, must equal fixtures/notifiers/*.json byte for byte (as parsed JSON). Review the fixtures by eye
 * when they change; regenerate with UPDATE_GOLDEN=1 npx vitest run test/integration/connectors/slack-golden.test.ts
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackNotifierFactory } from '../../../connectors/notifiers/slack.js';
import type { Notification } from '../../../src/contracts/connector.js';
import {
  actionFailed,
  asNotifier,
  deps,
  manualRollback,
  notifyContext,
  operatorNotification,
  rollbackDecision,
} from '../../helpers/connectors/fixtures.js';
import { HttpPeer } from '../../helpers/http-peer.js';

const FIXTURES = fileURLToPath(new URL('../../../fixtures/notifiers/', import.meta.url));

describe('slack golden payloads', () => {
  let receiver: HttpPeer;
  beforeAll(async () => {
    receiver = await HttpPeer.start();
  });
  afterAll(async () => {
    await receiver.close();
  });

  const cases: [string, Notification][] = [
    [
      'slack-rollback.json',
      {
        kind: 'decision',
        decision: rollbackDecision(),
        link: 'https://vigil.example.com/api/decisions/dec-01JH2Q7K8Z',
      },
    ],
    ['slack-action-failed.json', actionFailed()],
    ['slack-operator-pause.json', operatorNotification()],
    [
      'slack-manual-rollback.json',
      {
        kind: 'decision',
        decision: manualRollback(),
        link: 'https://vigil.example.com/api/decisions/d-manual0000000001',
      },
    ],
  ];

  for (const [file, notification] of cases) {
    it(`posts ${file}`, async () => {
      receiver.reset();
      const slack = asNotifier(
        slackNotifierFactory.create(
          'ops',
          slackNotifierFactory.parse({ webhookUrl: `${receiver.url}/services/T0/B0/golden`, channel: '#releases' }),
          deps,
        ),
      );
      await slack.post(notification, notifyContext());
      expect(receiver.requests).toHaveLength(1);
      const req = receiver.requests[0]!;
      expect(req.path).toBe('/services/T0/B0/golden');
      expect(req.headers['content-type']).toBe('application/json; charset=utf-8');
      const posted: unknown = JSON.parse(req.text);
      const path = `${FIXTURES}${file}`;
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, `${JSON.stringify(posted, null, 2)}\n`);
      expect(existsSync(path), `${file} is missing: run with UPDATE_GOLDEN=1 and review it`).toBe(true);
      expect(posted).toEqual(JSON.parse(readFileSync(path, 'utf8')));
    });
  }
});
