import { z } from 'zod';
import type { DelineaSettings } from '../../adapters/outbound/delinea/delinea.open.js';
import { defineBackend } from './backend.js';

const ms = () => z.coerce.number().int().positive();
/** Parts of the key_id, which composeKeyId joins with ':'. */
const slug = () => z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be a field slug: letters, digits, ".", "_" or "-"');

/**
 * The `delinea` config section. Field names give the env names through the loader: url ↔
 * KLEIDI_DELINEA_URL, secretId ↔ KLEIDI_DELINEA_SECRET_ID, credentialFile ↔
 * KLEIDI_DELINEA_CREDENTIAL_FILE, … The password or client secret is never a setting, only the path
 * of the file holding it (docs/backends/delinea.md).
 */
export const DelineaConfigSchema = z
  .strictObject({
    mode: z
      .enum(['kek-source', 'remote'])
      .default('kek-source')
      .meta({
        description:
          'kek-source: a Secret Server secret field holds the KEK ring, kleidi reads it and wraps in process (the KEK is in kleidi memory); ' +
          'remote: a DevOps Secrets Vault key wraps and unwraps through its encryption API (the KEK never leaves Delinea).',
      }),
    url: z.url({ protocol: /^https$/ }).meta({
      description:
        'Secret Server base URL (kek-source), e.g. https://pam.example/SecretServer, or DSV tenant URL (remote), e.g. https://tenant.secretsvaultcloud.com.',
    }),
    caFile: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "PEM CA bundle for the server's certificate; the system roots when unset." }),
    grant: z.enum(['password', 'client_credentials']).default('password').meta({
      description:
        'OAuth2 grant at the token endpoint: password (a Secret Server application account) or client_credentials (a DSV client; required in remote mode).',
    }),
    username: z.string().min(1).meta({ description: 'Username (password grant) or client id (client_credentials).' }),
    credentialFile: z.string().min(1).meta({
      description: 'File holding the password or client secret, mode 0600 or stricter; re-read at each token request.',
    }),
    tokenPath: z
      .string()
      .regex(/^\/[A-Za-z0-9/_.-]*$/, 'must be a path starting with /')
      .default('/oauth2/token')
      .meta({ description: 'Path of the OAuth2 token endpoint below url.' }),
    secretId: z.coerce
      .number()
      .int()
      .positive()
      .optional()
      .meta({ description: 'kek-source: id of the secret whose field holds the KEK ring (required in that mode).' }),
    field: slug()
      .default('notes')
      .meta({ description: 'kek-source: slug of the multi-line text field holding the KEK ring.' }),
    keyPath: z
      .string()
      .regex(
        /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/,
        'must be a DSV path: segments of letters, digits, ".", "_" or "-"',
      )
      .optional()
      .meta({ description: 'remote: path of the DSV encryption key, e.g. kleidi/cluster-a (required in that mode).' }),
    callTimeoutMs: ms().max(60_000).default(2_500).meta({
      description: "Budget in ms of one Delinea call, retries included; keep it below the apiserver's 3 s KMS timeout.",
    }),
    attemptTimeoutMs: ms().max(60_000).default(1_000).meta({ description: 'Timeout in ms of one HTTP attempt.' }),
    maxAttempts: z.coerce
      .number()
      .int()
      .min(1)
      .max(10)
      .default(3)
      .meta({ description: 'Attempts per call for 429, 5xx and connection failures.' }),
  })
  .superRefine((c, ctx) => {
    if (c.mode === 'kek-source' && c.secretId === undefined) {
      ctx.addIssue({ code: 'custom', path: ['secretId'], message: 'required in kek-source mode' });
    }
    if (c.mode === 'remote' && c.keyPath === undefined) {
      ctx.addIssue({ code: 'custom', path: ['keyPath'], message: 'required in remote mode' });
    }
    if (c.mode === 'remote' && c.grant !== 'client_credentials') {
      ctx.addIssue({ code: 'custom', path: ['grant'], message: 'remote mode (DSV) logs in with client_credentials' });
    }
  });

type DelineaConfig = z.output<typeof DelineaConfigSchema>;

/** Maps the validated section to the adapter's settings; refuses a mode without its object. */
export function delineaSettings(c: DelineaConfig): DelineaSettings {
  const common = {
    url: c.url,
    ...(c.caFile ? { caFile: c.caFile } : {}),
    auth: { grant: c.grant, username: c.username, credentialFile: c.credentialFile, tokenPath: c.tokenPath },
    calls: {
      callBudgetMs: c.callTimeoutMs,
      attemptTimeoutMs: Math.min(c.attemptTimeoutMs, c.callTimeoutMs),
      maxAttempts: c.maxAttempts,
    },
  };
  // The schema requires secretId (kek-source) or keyPath (remote); these checks only narrow the type.
  if (c.mode === 'remote') {
    if (c.keyPath === undefined) throw new TypeError('delinea.keyPath is required in remote mode');
    return { mode: 'remote', ...common, keyPath: c.keyPath };
  }
  if (c.secretId === undefined) throw new TypeError('delinea.secretId is required in kek-source mode');
  return { mode: 'kek-source', ...common, secretId: c.secretId, field: c.field };
}

/** The Delinea backend (`backend: delinea`). */
export const delineaBackend = defineBackend({
  name: 'delinea',
  summary: 'a Delinea DevOps Secrets Vault key, or a KEK ring in a Secret Server secret used in kleidi memory',
  section: 'delinea',
  schema: DelineaConfigSchema,
  adapter: 'delinea',
  libraries: [],
  docs: 'docs/backends/delinea.md',
  testing: {
    harness: 'test/backends/delinea.harness.ts',
    contract: 'test/contract/delinea.contract.test.ts',
    campaign: 'test/reliability/38-delinea.campaign.ts',
  },
  openWrapper: async (c, ctx) => {
    const { openDelineaWrapper } = await import('../../adapters/outbound/delinea/delinea.open.js');
    return openDelineaWrapper(delineaSettings(c), { clock: ctx.clock, log: ctx.logger });
  },
  openAdmin: async (c, ctx) => {
    const { openDelineaAdmin } = await import('../../adapters/outbound/delinea/delinea.open.js');
    return openDelineaAdmin(delineaSettings(c), { clock: ctx.clock, log: ctx.logger });
  },
});
