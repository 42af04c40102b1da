import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import type { KeyAdmin } from '../../../ports/outbound/key-admin.port.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { KeyWrapper } from '../../../ports/outbound/key-wrapper.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { readTrustedFile } from '../shared/secret-file.js';
import { type DelineaCallSettings, DelineaApi } from './delinea.api.js';
import { DsvCrypto } from './delinea.dsv-crypto.js';
import { DelineaHttp } from './delinea.http.js';
import { DelineaKeyWrapper } from './delinea.key-wrapper.js';
import { hostPart, type KeyScope } from './delinea.key-id.js';
import { KekSourceKeyAdmin } from './delinea.kek-source.key-admin.js';
import { KekSourceKeyWrapper } from './delinea.kek-source.key-wrapper.js';
import { RemoteKeyAdmin } from './delinea.remote.key-admin.js';
import { RemoteKeyWrapper } from './delinea.remote.key-wrapper.js';
import { SecretField } from './delinea.secret-field.js';
import { TokenSource, type TokenSettings } from './delinea.token.js';

/** Everything the delinea backend needs, already validated by the composition root. */
export type DelineaSettings = KekSourceSettings | RemoteSettings;

interface CommonSettings {
  /** Base URL of Secret Server (`https://host/SecretServer`) or of the DSV tenant. */
  readonly url: string;
  /** PEM bundle trusted for the server's certificate instead of Node's CA store. */
  readonly caFile?: string;
  readonly auth: Omit<TokenSettings, 'dialect'>;
  readonly calls: DelineaCallSettings;
}

/** kek-source: the Secret Server secret and the slug of the field holding the ring. */
interface KekSourceSettings extends CommonSettings {
  readonly mode: 'kek-source';
  readonly secretId: number;
  readonly field: string;
}

/** remote: the path of the DSV auto key (encryption as a service). */
interface RemoteSettings extends CommonSettings {
  readonly mode: 'remote';
  readonly keyPath: string;
}

export interface DelineaDeps {
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * The serving KeyWrapper. Refuses to start (BackendMisconfiguredError) on what only an operator
 * can fix (refused credentials, no permission, a missing secret or field, no ring yet); when the
 * server is merely unreachable it starts anyway, health reports it and the refresh retries.
 */
export async function openDelineaWrapper(s: DelineaSettings, deps: DelineaDeps): Promise<KeyWrapper> {
  const { api, scope, log } = await stack(s, deps);
  const wrapper =
    s.mode === 'remote'
      ? new DelineaKeyWrapper(new RemoteKeyWrapper(new DsvCrypto(api, s.keyPath), scope), api)
      : kekSource(s, api, scope, log, deps);
  try {
    await wrapper.currentVersion(AbortSignal.timeout(s.calls.callBudgetMs * 2));
  } catch (err) {
    if (err instanceof BackendMisconfiguredError) {
      await wrapper.close();
      throw err;
    }
    log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'Delinea not usable yet; retrying');
  }
  return wrapper;
}

function kekSource(s: KekSourceSettings, api: DelineaApi, scope: KeyScope, log: Logger, deps: DelineaDeps): KeyWrapper {
  const field = new SecretField(api, s.secretId, s.field);
  // SECURITY: say it where operators look first; docs/backends/delinea.md explains the model.
  log.warn(
    { mode: s.mode, secret: s.secretId, field: s.field },
    'delinea kek-source mode: the KEK ring is read from Secret Server and held in kleidi memory; ' +
      'anyone who can read this process memory or that secret field can decrypt the cluster secrets',
  );
  return new DelineaKeyWrapper(new KekSourceKeyWrapper(field, scope, deps.clock, log), api);
}

/** The KeyAdmin behind `kleidi init | rotate | keys`. */
export async function openDelineaAdmin(s: DelineaSettings, deps: DelineaDeps): Promise<KeyAdmin> {
  const { api, scope, log } = await stack(s, deps);
  if (s.mode === 'remote') return new RemoteKeyAdmin(api, new DsvCrypto(api, s.keyPath), scope, log);
  return new KekSourceKeyAdmin(api, new SecretField(api, s.secretId, s.field), scope, deps.clock, log);
}

async function stack(s: DelineaSettings, deps: DelineaDeps) {
  let url: URL;
  try {
    url = new URL(s.url);
  } catch {
    throw new BackendMisconfiguredError(`delinea.url ${JSON.stringify(s.url)} is not a URL`);
  }
  if (url.protocol !== 'https:') throw new BackendMisconfiguredError('delinea.url must be an https URL');
  const ca = s.caFile ? await readTrustedFile(s.caFile, 'Delinea CA file') : undefined;
  const http = new DelineaHttp(url, ca, s.calls.attemptTimeoutMs);
  const log = deps.log.child({ url: url.origin });
  const dialect = s.mode === 'remote' ? 'dsv' : 'secret-server';
  const tokens = new TokenSource(http, { ...s.auth, dialect }, deps.clock, log);
  const api = new DelineaApi(http, tokens, s.calls, deps.clock);
  const object = s.mode === 'remote' ? s.keyPath : `secret-${s.secretId}/${s.field}`;
  const scope: KeyScope = { mode: s.mode, host: hostPart(url), object };
  return { api, scope, log };
}
