import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { createAuth, type VaultAuthSettings } from './vault-transit.auth.js';
import { VaultTransitClient, type VaultClientSettings } from './vault-transit.client.js';
import { VaultTransitKeyAdmin } from './vault-transit.key-admin.js';
import { VaultTransitKeyWrapper } from './vault-transit.key-wrapper.js';
import { VaultSession } from './vault-transit.session.js';
import { VaultTokenRenewer } from './vault-transit.token-renewer.js';
import type { RenewerOptions } from './vault-transit.token.js';
import { TransitApi } from './vault-transit.transit.js';

/** Everything the vault backend needs, already validated by the composition root. */
export interface VaultTransitSettings {
  readonly client: VaultClientSettings;
  readonly auth: VaultAuthSettings;
  /** Transit mount path, e.g. "transit" or "kms/transit". */
  readonly mount: string;
  readonly key: string;
  readonly renewal: RenewerOptions;
}

export interface VaultTransitDeps {
  readonly clock: Clock;
  readonly log: Logger;
}

/** Builds the serving KeyWrapper. Only local problems (files, address) fail here; Vault may still be down. */
export async function openVaultTransitWrapper(
  s: VaultTransitSettings,
  deps: VaultTransitDeps,
): Promise<VaultTransitKeyWrapper> {
  const { api, renewer, close } = await openStack(s, deps);
  return new VaultTransitKeyWrapper(api, () => renewer.state(), close);
}

/** Builds the KeyAdmin behind `kleidi init | rotate | keys`. */
export async function openVaultTransitAdmin(
  s: VaultTransitSettings,
  deps: VaultTransitDeps,
): Promise<VaultTransitKeyAdmin> {
  const { api, close } = await openStack(s, deps);
  return new VaultTransitKeyAdmin(api, deps.log, close);
}

async function openStack(s: VaultTransitSettings, deps: VaultTransitDeps) {
  if (s.auth.method === 'cert' && !s.client.tls.clientCertFile) {
    throw new BackendMisconfiguredError('TLS certificate auth needs clientCertFile and clientKeyFile');
  }
  // `backend` is bound by the composition root; binding it here again would repeat it in every line.
  const log = deps.log.child({ mount: s.mount, key: s.key });
  const client = await VaultTransitClient.open(s.client, log);
  const auth = createAuth(s.auth, client);
  try {
    await auth.preflight();
  } catch (err) {
    client.close();
    throw err;
  }
  const renewer = new VaultTokenRenewer(auth, client, deps.clock, log, s.renewal);
  const session = new VaultSession(client, renewer, deps.clock, s.renewal);
  const ref = { mount: s.mount, key: s.key, ...(s.client.namespace ? { namespace: s.client.namespace } : {}) };
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    renewer.close();
    client.close();
  };
  return { api: new TransitApi(session, ref, deps.clock, log), renewer, close };
}
