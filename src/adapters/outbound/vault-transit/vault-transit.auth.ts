import { BackendMisconfiguredError, type KmsError } from '../../../domain/model/errors.js';
import type { VaultTransitClient } from './vault-transit.client.js';
import { classifyFailure, toKmsError, VaultCallFailure } from './vault-transit.errors.js';
import { readPlainFile, readSecretFile } from './vault-transit.files.js';
import { parseAuth, parseLookupSelf, type VaultToken } from './vault-transit.responses.js';

/** How kleidi authenticates to Vault; every file is read again at each login. */
export type VaultAuthSettings =
  /** A token from a file (preferred) or from the environment; it cannot be renewed past its max TTL. */
  | { readonly method: 'token'; readonly tokenFile?: string; readonly token?: string }
  | { readonly method: 'approle'; readonly mount: string; readonly roleIdFile: string; readonly secretIdFile: string }
  | { readonly method: 'kubernetes'; readonly mount: string; readonly role: string; readonly jwtFile: string }
  /** TLS certificate auth: the client certificate of the connection is the credential. */
  | { readonly method: 'cert'; readonly mount: string; readonly role?: string };

type VaultAuthMethod = VaultAuthSettings['method'];

/** Obtains a token. Both methods reject with a KmsError only. */
export interface VaultAuth {
  readonly method: VaultAuthMethod;
  /** The files a login reads: when one changes, an operator has replaced the credential. */
  readonly credentialFiles: readonly string[];
  /** Reads the credential files without contacting Vault, so a broken setup fails at startup. */
  preflight(): Promise<void>;
  login(signal: AbortSignal): Promise<VaultToken>;
}

/** Creates the login strategy for the configured method. */
export function createAuth(settings: VaultAuthSettings, client: VaultTransitClient): VaultAuth {
  const login = async (path: string, body: Record<string, unknown>, signal: AbortSignal, what: string) => {
    try {
      return parseAuth(await client.send({ method: 'POST', path, body }, signal), what);
    } catch (err) {
      throw loginError(err, what);
    }
  };
  switch (settings.method) {
    case 'token':
      return {
        method: 'token',
        credentialFiles: settings.tokenFile ? [settings.tokenFile] : [],
        preflight: async () => void (await tokenFrom(settings)),
        login: (signal) => tokenLogin(settings, client, signal),
      };
    case 'approle': {
      const read = async () => ({
        role_id: await readPlainFile(settings.roleIdFile, 'AppRole role_id'),
        secret_id: await readSecretFile(settings.secretIdFile, 'AppRole secret_id'),
      });
      return {
        method: 'approle',
        credentialFiles: [settings.roleIdFile, settings.secretIdFile],
        preflight: async () => void (await read()),
        login: async (signal) => login(`auth/${settings.mount}/login`, await read(), signal, 'AppRole login'),
      };
    }
    case 'kubernetes': {
      const read = () => readPlainFile(settings.jwtFile, 'service-account token');
      return {
        method: 'kubernetes',
        credentialFiles: [settings.jwtFile],
        preflight: async () => void (await read()),
        // The mount is always explicit: node-vault's kubernetesLogin() posts to /v1/auth//login
        // when it is omitted (nodevault/node-vault#300), and kleidi uses a generic write anyway.
        login: async (signal) =>
          login(`auth/${settings.mount}/login`, { role: settings.role, jwt: await read() }, signal, 'Kubernetes login'),
      };
    }
    case 'cert':
      return {
        method: 'cert',
        credentialFiles: [],
        preflight: () => Promise.resolve(), // the client already read the certificate and key
        login: async (signal) => {
          await client.reloadTls(); // a renewed client certificate is presented from now on
          const body = settings.role ? { name: settings.role } : {};
          return login(`auth/${settings.mount}/login`, body, signal, 'TLS certificate login');
        },
      };
  }
}

async function tokenLogin(
  settings: { tokenFile?: string; token?: string },
  client: VaultTransitClient,
  signal: AbortSignal,
): Promise<VaultToken> {
  const source = settings.tokenFile ?? 'KLEIDI_VAULT_TOKEN';
  const token = await tokenFrom(settings);
  try {
    // lookup-self (allowed by Vault's default policy) tells the TTL, so renewal can be scheduled.
    const body = await client.send({ method: 'GET', path: 'auth/token/lookup-self', token }, signal);
    return parseLookupSelf(token, body);
  } catch (err) {
    const f = classifyFailure(err);
    if (f instanceof VaultCallFailure && f.status === 403) {
      throw new BackendMisconfiguredError(
        `Vault refused the token from ${source} (revoked, expired, or without the default policy); put a valid token there`,
        { cause: f },
      );
    }
    throw toKmsError(f, 'token lookup');
  }
}

async function tokenFrom(settings: { tokenFile?: string; token?: string }): Promise<string> {
  const token = settings.tokenFile ? await readSecretFile(settings.tokenFile, 'token') : settings.token;
  if (!token) throw new BackendMisconfiguredError('no Vault token: set tokenFile (or KLEIDI_VAULT_TOKEN)');
  return token;
}

/** 400 and 403 from a login endpoint mean wrong credentials or role binding: only an operator can fix that. */
function loginError(err: unknown, what: string): KmsError {
  const f = classifyFailure(err);
  if (f instanceof VaultCallFailure && (f.status === 400 || f.status === 403)) {
    return new BackendMisconfiguredError(`${what} refused by Vault (${f.status}: ${f.detail})`, { cause: f });
  }
  return toKmsError(f, what);
}
