import { z } from 'zod';
import type { VaultAuthSettings } from '../../adapters/outbound/vault-transit/vault-transit.auth.js';
import type { VaultTransitSettings } from '../../adapters/outbound/vault-transit/vault-transit.open.js';
import { type BackendCheck, defineBackend, type BackendContext } from './backend.js';
import { fileCheck } from './file-checks.js';

/** SECURITY: the token is never a config field (config may come from argv); only a file path or this env var. */
export const VAULT_TOKEN_ENV = 'KLEIDI_VAULT_TOKEN';

const path = () => z.string().min(1);
/** Mount and key names become key_id parts, which are joined with ':'. */
const idPart = () =>
  z
    .string()
    .min(1)
    .regex(/^[^:]+$/, 'must not contain ":" (it is part of the key_id)');
const ms = () => z.coerce.number().int().positive();

/**
 * The `vault` config section (Vault or OpenBao transit). Field names give the
 * env names through the loader: address ↔ KLEIDI_VAULT_ADDRESS, tokenFile ↔
 * KLEIDI_VAULT_TOKEN_FILE, mount ↔ KLEIDI_VAULT_MOUNT, key ↔ KLEIDI_VAULT_KEY, …
 */
export const VaultConfigSchema = z
  .strictObject({
    address: z
      .url({ protocol: /^https?$/ })
      .meta({ description: 'Vault or OpenBao address, e.g. https://vault.example:8200.' }),
    mount: idPart().default('transit').meta({ description: 'Path of the transit secrets engine mount.' }),
    key: idPart().default('kleidi').meta({ description: 'Name of the transit key that wraps data keys.' }),
    namespace: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Vault Enterprise / OpenBao namespace, sent as X-Vault-Namespace; part of the key_id.' }),
    authMethod: z
      .enum(['token', 'approle', 'kubernetes', 'cert'])
      .default('token')
      .meta({ description: 'How kleidi logs in: token, approle, kubernetes or cert (TLS client certificate).' }),
    authMount: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Mount path of the auth method; defaults to the method name (approle, kubernetes, cert).' }),
    tokenFile: path()
      .optional()
      .meta({
        description: `authMethod token: file holding the token, mode 0600 or stricter; or set env ${VAULT_TOKEN_ENV}.`,
      }),
    roleIdFile: path().optional().meta({ description: 'authMethod approle: file holding the role_id.' }),
    secretIdFile: path().optional().meta({
      description: 'authMethod approle: file holding the secret_id, mode 0600 or stricter; re-read at each login.',
    }),
    role: z.string().min(1).optional().meta({
      description: 'authMethod kubernetes: the Vault role (required); cert: the certificate role name (optional).',
    }),
    jwtFile: path()
      .default('/var/run/secrets/kubernetes.io/serviceaccount/token')
      .meta({ description: 'authMethod kubernetes: service-account token file; re-read at each login.' }),
    caFile: path()
      .optional()
      .meta({ description: "PEM CA bundle for Vault's certificate; the system roots when unset." }),
    clientCertFile: path()
      .optional()
      .meta({ description: 'PEM client certificate, for cert auth or a listener requiring client certificates.' }),
    clientKeyFile: path().optional().meta({ description: 'PEM key of clientCertFile, mode 0600 or stricter.' }),
    tlsServerName: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "Name to verify in Vault's certificate (and send as SNI) instead of the address's host." }),
    callTimeoutMs: ms().max(60_000).default(2_500).meta({
      description: "Budget in ms of one Vault call, retries included; keep it below the apiserver's 3 s KMS timeout.",
    }),
    attemptTimeoutMs: ms()
      .max(60_000)
      .default(1_000)
      .meta({ description: 'Timeout in ms of one HTTP attempt inside callTimeoutMs.' }),
    maxAttempts: z.coerce
      .number()
      .int()
      .min(1)
      .max(10)
      .default(3)
      .meta({ description: 'Attempts per call for connection failures, 5xx, 412 and 429.' }),
  })
  .superRefine((c, ctx) => {
    const need = (field: 'roleIdFile' | 'secretIdFile' | 'role' | 'clientCertFile' | 'clientKeyFile', why: string) => {
      if (c[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: `required ${why}` });
    };
    if (c.authMethod === 'approle') {
      need('roleIdFile', 'for authMethod approle');
      need('secretIdFile', 'for authMethod approle');
    }
    if (c.authMethod === 'kubernetes') need('role', 'for authMethod kubernetes');
    if (c.authMethod === 'cert' || c.clientKeyFile !== undefined)
      need('clientCertFile', 'with clientKeyFile or authMethod cert');
    if (c.authMethod === 'cert' || c.clientCertFile !== undefined)
      need('clientKeyFile', 'with clientCertFile or authMethod cert');
    if (c.address.startsWith('http:') && (c.caFile !== undefined || c.clientCertFile !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['address'], message: 'TLS files are set but the address is http://' });
    }
  });

export type VaultConfig = z.output<typeof VaultConfigSchema>;

/** Maps the validated section to the adapter's settings; the token env var is read here, after validation. */
export function vaultSettings(c: VaultConfig, env: BackendContext['env']): VaultTransitSettings {
  return {
    mount: c.mount,
    key: c.key,
    auth: authSettings(c, env),
    client: {
      address: c.address,
      ...(c.namespace ? { namespace: c.namespace } : {}),
      tls: {
        ...(c.caFile ? { caFile: c.caFile } : {}),
        ...(c.clientCertFile ? { clientCertFile: c.clientCertFile } : {}),
        ...(c.clientKeyFile ? { clientKeyFile: c.clientKeyFile } : {}),
        ...(c.tlsServerName ? { serverName: c.tlsServerName } : {}),
      },
      callBudgetMs: c.callTimeoutMs,
      attemptTimeoutMs: Math.min(c.attemptTimeoutMs, c.callTimeoutMs),
      maxAttempts: c.maxAttempts,
    },
    renewal: { renewFraction: 2 / 3, minBackoffMs: 1_000, maxBackoffMs: 60_000 },
  };
}

function authSettings(c: VaultConfig, env: BackendContext['env']): VaultAuthSettings {
  const mount = c.authMount ?? c.authMethod;
  switch (c.authMethod) {
    case 'token': {
      const token = env[VAULT_TOKEN_ENV];
      return { method: 'token', ...(c.tokenFile ? { tokenFile: c.tokenFile } : token ? { token } : {}) };
    }
    case 'approle':
      return { method: 'approle', mount, roleIdFile: c.roleIdFile ?? '', secretIdFile: c.secretIdFile ?? '' };
    case 'kubernetes':
      return { method: 'kubernetes', mount, role: c.role ?? '', jwtFile: c.jwtFile };
    case 'cert':
      return { method: 'cert', mount, ...(c.role ? { role: c.role } : {}) };
  }
}

/** The Vault / OpenBao transit backend (`backend: vault`). */
export const vaultBackend = defineBackend({
  name: 'vault',
  summary: 'a transit key in Vault or OpenBao',
  section: 'vault',
  schema: VaultConfigSchema,
  secretEnv: [VAULT_TOKEN_ENV],
  adapter: 'vault-transit',
  libraries: ['node-vault'],
  docs: 'docs/backends/vault.md',
  testing: {
    harness: 'test/backends/vault.harness.ts',
    contract: 'test/contract/vault.contract.test.ts',
    campaign: 'test/reliability/30-vault.campaign.ts',
  },
  doctor: (c, ctx) => vaultDoctor(c, ctx.env),
  // The adapter (node-vault, axios) is imported only when this backend is used, so the other
  // backends do not load it on every start (docs/benchmarks.md, start to ready).
  openWrapper: async (c, ctx) => {
    const { openVaultTransitWrapper } = await import('../../adapters/outbound/vault-transit/vault-transit.open.js');
    return openVaultTransitWrapper(vaultSettings(c, ctx.env), { clock: ctx.clock, log: ctx.logger });
  },
  openAdmin: async (c, ctx) => {
    const { openVaultTransitAdmin } = await import('../../adapters/outbound/vault-transit/vault-transit.open.js');
    return openVaultTransitAdmin(vaultSettings(c, ctx.env), { clock: ctx.clock, log: ctx.logger });
  },
});

/**
 * `kleidi doctor`: the credentials authMethod needs are given and their files readable. Reaching
 * Vault and reading the transit key is proven afterwards by listing the keys.
 */
async function vaultDoctor(c: VaultConfig, env: BackendContext['env']): Promise<BackendCheck[]> {
  const files: Promise<BackendCheck>[] = [];
  const need = (what: string, path: string | undefined, setting: string) => {
    if (path !== undefined)
      files.push(fileCheck('backend.credentials', what, path, `put the ${what} at ${path} (mode 0600)`));
    else
      files.push(
        Promise.resolve({
          id: 'backend.credentials',
          status: 'fail',
          detail: `no ${what} configured`,
          fix: `set vault.${setting}`,
        }),
      );
  };
  switch (c.authMethod) {
    case 'token':
      if (c.tokenFile !== undefined) need('Vault token file', c.tokenFile, 'tokenFile');
      else if (env[VAULT_TOKEN_ENV])
        files.push(
          Promise.resolve({
            id: 'backend.credentials',
            status: 'pass',
            detail: `Vault token given in ${VAULT_TOKEN_ENV}`,
          }),
        );
      else
        files.push(
          Promise.resolve({
            id: 'backend.credentials',
            status: 'fail',
            detail: 'no Vault token: neither vault.tokenFile nor KLEIDI_VAULT_TOKEN is set',
            fix: 'set vault.tokenFile (KLEIDI_VAULT_TOKEN_FILE) to a 0600 file holding the token',
          }),
        );
      break;
    case 'approle':
      need('AppRole role_id file', c.roleIdFile, 'roleIdFile');
      need('AppRole secret_id file', c.secretIdFile, 'secretIdFile');
      break;
    case 'kubernetes':
      need('service-account token file', c.jwtFile, 'jwtFile');
      break;
    case 'cert':
      break;
  }
  if (c.clientCertFile !== undefined) need('client certificate', c.clientCertFile, 'clientCertFile');
  if (c.clientKeyFile !== undefined) need('client key', c.clientKeyFile, 'clientKeyFile');
  if (c.caFile !== undefined) need('CA bundle', c.caFile, 'caFile');
  return Promise.all(files);
}
