import { noopNotifierFactory } from '../../../../connectors/notifiers/noop.js';
import { notifierConformance } from '../conformance.js';
import { asNotifier, deps } from '../fixtures.js';

notifierConformance('noop', () => asNotifier(noopNotifierFactory.create('quiet', noopNotifierFactory.parse({}), deps)), {});
