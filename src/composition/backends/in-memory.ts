import { z } from 'zod';
import { InMemoryKeyWrapper } from '../../adapters/outbound/in-memory/in-memory.key-wrapper.js';
import { BackendMisconfiguredError } from '../../domain/model/errors.js';
import { flag } from '../config/duration.js';
import { defineBackend } from './backend.js';

/**
 * The in-memory fake loses every key when the process exits, and with it
 * every object it encrypted. It only runs when explicitly acknowledged.
 */
const InMemorySchema = z.strictObject({
  acknowledgeDataLoss: flag
    .default(false)
    .refine(
      (ack) => ack,
      'the in-memory backend loses every key when kleidi exits; set inMemory.acknowledgeDataLoss: true ' +
        '(KLEIDI_IN_MEMORY_ACKNOWLEDGE_DATA_LOSS=true) only for tests and demos',
    )
    .meta({ description: 'Must be true to select the in-memory backend: its keys die with the process.' }),
});

export const inMemoryBackend = defineBackend({
  name: 'in-memory',
  summary: 'process memory, lost when kleidi exits: tests and demos only',
  section: 'inMemory',
  schema: InMemorySchema,
  adapter: 'in-memory',
  libraries: [],
  doctor() {
    return Promise.resolve([
      {
        id: 'backend.config',
        status: 'fail',
        detail:
          'the in-memory backend keeps keys only inside the serving process: every object it encrypted is lost when kleidi exits',
        fix: 'choose a durable backend (local, pkcs11, vault or aws) on a control-plane node',
      },
    ]);
  },
  openWrapper(_cfg, ctx) {
    ctx.logger.warn({}, 'in-memory backend: keys are lost when this process exits');
    return Promise.resolve(new InMemoryKeyWrapper());
  },
  openAdmin() {
    // Its keys exist only inside the serving process: a CLI run would administer a throwaway keyring.
    return Promise.reject(
      new BackendMisconfiguredError(
        'the in-memory backend keeps its keys inside the serving process; there is nothing to administer',
      ),
    );
  },
});
