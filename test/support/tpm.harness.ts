import { join } from 'node:path';
import { openTpmAdmin, openTpmWrapper, type TpmSettings } from '#src/adapters/outbound/tpm/tpm.open.js';
import type { Logger } from '#src/ports/outbound/logger.port.js';
import { recordingLogger } from './builders.js';
import type { Swtpm } from './swtpm.fixture.js';

/** Adapter settings for one simulated node: its swtpm, and files in `dir`. */
export function tpmSettings(swtpm: Swtpm, dir: string, extra: Partial<TpmSettings> = {}): TpmSettings {
  return {
    tpm: `swtpm:127.0.0.1:${swtpm.port}`,
    nodeKeyFile: join(dir, 'node-keys.json'),
    ringFile: join(dir, 'ring.json'),
    ...extra,
  };
}

export function openWrapper(s: TpmSettings, log: Logger = recordingLogger()) {
  return openTpmWrapper(s, log);
}

export function openAdmin(s: TpmSettings) {
  return openTpmAdmin(s);
}
