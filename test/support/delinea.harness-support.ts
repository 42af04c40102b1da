import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '#src/adapters/outbound/clock/system.clock.js';
import {
  type DelineaSettings,
  openDelineaAdmin,
  openDelineaWrapper,
} from '#src/adapters/outbound/delinea/delinea.open.js';
import type { Clock } from '#src/ports/outbound/clock.port.js';
import type { Logger } from '#src/ports/outbound/logger.port.js';
import { recordingLogger } from './builders.js';
import type { FakeSecretServer } from './fake-delinea.js';
import type { FakeDsv } from './fake-delinea-dsv.js';

/** Writes the fake's password to a 0600 file in `dir`; returns its path. */
export function credentialFile(dir: string, secret: string, name = 'delinea-credential'): string {
  const path = join(dir, name);
  writeFileSync(path, `${secret}\n`, { mode: 0o600 });
  return path;
}

export interface KekSourceTestSettings {
  readonly server: Pick<FakeSecretServer, 'url' | 'caFile' | 'username'>;
  readonly credentialFile: string;
  readonly secretId: number;
  readonly callBudgetMs?: number;
  readonly attemptTimeoutMs?: number;
  readonly maxAttempts?: number;
}

/** Adapter settings as the composition would build them from the defaults. */
function kekSourceSettings(s: KekSourceTestSettings): DelineaSettings {
  return {
    mode: 'kek-source',
    url: s.server.url,
    caFile: s.server.caFile,
    auth: {
      grant: 'password',
      username: s.server.username,
      credentialFile: s.credentialFile,
      tokenPath: '/oauth2/token',
    },
    secretId: s.secretId,
    field: 'notes',
    calls: {
      callBudgetMs: s.callBudgetMs ?? 2_500,
      attemptTimeoutMs: s.attemptTimeoutMs ?? 1_000,
      maxAttempts: s.maxAttempts ?? 3,
    },
  };
}

export function openKekSourceWrapper(
  s: KekSourceTestSettings,
  log: Logger = recordingLogger(),
  clock: Clock = systemClock,
) {
  return openDelineaWrapper(kekSourceSettings(s), { clock, log });
}

export function openKekSourceAdmin(
  s: KekSourceTestSettings,
  log: Logger = recordingLogger(),
  clock: Clock = systemClock,
) {
  return openDelineaAdmin(kekSourceSettings(s), { clock, log });
}

/** The raw KEKs of a ring field, for the KeyAdmin contract's "no key material" check. */
export function ringMaterial(text: string): Uint8Array[] {
  const doc = JSON.parse(text) as { keys: { material: string }[] };
  return doc.keys.map((k) => new Uint8Array(Buffer.from(k.material, 'base64')));
}

export interface RemoteTestSettings {
  readonly server: Pick<FakeDsv, 'url' | 'caFile' | 'clientId'>;
  readonly credentialFile: string;
  readonly keyPath: string;
  readonly callBudgetMs?: number;
  readonly maxAttempts?: number;
}

function remoteSettings(s: RemoteTestSettings): DelineaSettings {
  return {
    mode: 'remote',
    url: s.server.url,
    caFile: s.server.caFile,
    auth: {
      grant: 'client_credentials',
      username: s.server.clientId,
      credentialFile: s.credentialFile,
      tokenPath: '/oauth2/token',
    },
    keyPath: s.keyPath,
    calls: { callBudgetMs: s.callBudgetMs ?? 2_500, attemptTimeoutMs: 1_000, maxAttempts: s.maxAttempts ?? 3 },
  };
}

export function openRemoteWrapper(s: RemoteTestSettings, log: Logger = recordingLogger(), clock: Clock = systemClock) {
  return openDelineaWrapper(remoteSettings(s), { clock, log });
}

export function openRemoteAdmin(s: RemoteTestSettings, log: Logger = recordingLogger(), clock: Clock = systemClock) {
  return openDelineaAdmin(remoteSettings(s), { clock, log });
}
