import { noopNotifierFactory } from '../../../../connectors/notifiers/noop.js';
import { notifierConformance } from '../../../helpers/connectors/conformance.js';
import { asNotifier, deps } from '../../../helpers/connectors/fixtures.js';

notifierConformance(
  'noop',
  () => asNotifier(noopNotifierFactory.create('quiet', noopNotifierFactory.parse({}), deps)),
  {},
);
