import { z } from 'zod';
import {
  PKCS11_DEFAULTS,
  type Pkcs11Options,
  type TokenSelector,
} from '../../adapters/outbound/pkcs11/pkcs11.options.js';
import { flag } from '../config/duration.js';
import { type BackendCheck, defineBackend, type BackendContext } from './backend.js';
import { fileCheck } from './file-checks.js';

/** SECURITY: the PIN is never a config field (config may come from argv); only a file path or this env var. */
const PKCS11_PIN_ENV = 'KLEIDI_PKCS11_PIN';

const positiveInt = () => z.coerce.number().int().positive();

/**
 * The `pkcs11` config section. Field names give the env names through the
 * loader: module ↔ KLEIDI_PKCS11_MODULE, tokenLabel ↔ KLEIDI_PKCS11_TOKEN_LABEL,
 * pinFile ↔ KLEIDI_PKCS11_PIN_FILE, keyLabel ↔ KLEIDI_PKCS11_KEY_LABEL, …
 */
export const Pkcs11ConfigSchema = z
  .strictObject({
    module: z
      .string()
      .min(1)
      .default(PKCS11_DEFAULTS.module)
      .meta({ description: "Path of the PKCS#11 module; the default is Debian's SoftHSM2." }),
    tokenLabel: z
      .string()
      .min(1)
      .max(32) // CK_TOKEN_INFO.label: 32 bytes (base v2.40 §3.2)
      .optional()
      .meta({ description: 'Token label. Set exactly one of tokenLabel, tokenSerial and slot.' }),
    tokenSerial: z
      .string()
      .min(1)
      .max(16) // CK_TOKEN_INFO.serialNumber: 16 bytes (§3.2)
      .optional()
      .meta({ description: 'Token serial number, instead of tokenLabel.' }),
    slot: z.coerce
      .number()
      .int()
      .nonnegative()
      .optional()
      .meta({ description: 'Slot ID as `softhsm2-util --show-slots` prints it, instead of tokenLabel.' }),
    pinFile: z
      .string()
      .min(1)
      .optional()
      .meta({ description: `File holding the user PIN, mode 0600 or stricter; or set env ${PKCS11_PIN_ENV}.` }),
    keyLabel: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'keyLabel: 1-64 letters, digits, ".", "_" or "-" (it is part of the key_id)')
      .default(PKCS11_DEFAULTS.keyLabel)
      .meta({ description: 'CKA_LABEL of the key-encryption keys; their version is in CKA_ID (`v1`, `v2`, …).' }),
    keyVersion: positiveInt()
      .optional()
      .meta({ description: 'Wrap with this key version instead of the highest; for staged multi-node rotation.' }),
    allowExtractableKeysInsecure: flag.default(false).meta({
      description:
        'SECURITY RISK: use keys whose value can leave the token (CKA_SENSITIVE false or CKA_EXTRACTABLE true); implies allowPreviouslyExposedKeys.',
    }),
    allowPreviouslyExposedKeys: flag.default(false).meta({
      description:
        'Use keys that once could leave the token (CKA_ALWAYS_SENSITIVE or CKA_NEVER_EXTRACTABLE false), e.g. imported ones.',
    }),
    sessionPoolSize: positiveInt()
      .max(64)
      .default(PKCS11_DEFAULTS.sessionPoolSize)
      .meta({ description: 'Crypto sessions, one operation each; keep it at most UV_THREADPOOL_SIZE (4).' }),
    tokenCalls: z.enum(['thread-pool', 'event-loop']).default(PKCS11_DEFAULTS.tokenCalls).meta({
      description:
        'Where C_Encrypt/C_Decrypt run: thread-pool (default, any token) or event-loop (local tokens such as SoftHSM2 only: a slow token then blocks every call).',
    }),
    callTimeoutMs: positiveInt()
      .max(60_000)
      .default(PKCS11_DEFAULTS.callTimeoutMs)
      .meta({ description: "Budget of one wrap or unwrap in ms, below the apiserver's 3 s KMS timeout." }),
    reconnectMinMs: positiveInt()
      .default(PKCS11_DEFAULTS.reconnectMinMs)
      .meta({ description: 'Wait in ms after a failed reconnect to the token; doubles per failure.' }),
    reconnectMaxMs: positiveInt()
      .default(PKCS11_DEFAULTS.reconnectMaxMs)
      .meta({ description: 'Longest wait in ms between reconnect attempts.' }),
  })
  .superRefine((c, ctx) => {
    const selectors = [c.tokenLabel, c.tokenSerial, c.slot].filter((v) => v !== undefined).length;
    if (selectors !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['tokenLabel'],
        message: 'set exactly one of tokenLabel, tokenSerial or slot (KLEIDI_PKCS11_TOKEN_LABEL, …)',
      });
    }
    if (c.reconnectMaxMs < c.reconnectMinMs) {
      ctx.addIssue({ code: 'custom', path: ['reconnectMaxMs'], message: 'must be at least reconnectMinMs' });
    }
  });

export type Pkcs11Config = z.output<typeof Pkcs11ConfigSchema>;

/** Validated config plus the PIN source from the environment → adapter options. */
export function pkcs11Options(c: Pkcs11Config, env: BackendContext['env']): Pkcs11Options {
  const token: TokenSelector =
    c.tokenLabel !== undefined
      ? { by: 'label', label: c.tokenLabel }
      : c.tokenSerial !== undefined
        ? { by: 'serial', serial: c.tokenSerial }
        : { by: 'slot', slot: c.slot ?? 0 };
  const envPin = env[PKCS11_PIN_ENV];
  return {
    module: c.module,
    token,
    pin: { ...(c.pinFile !== undefined ? { file: c.pinFile } : {}), ...(envPin !== undefined ? { env: envPin } : {}) },
    keyLabel: c.keyLabel,
    ...(c.keyVersion !== undefined ? { keyVersion: c.keyVersion } : {}),
    allowExtractableKeysInsecure: c.allowExtractableKeysInsecure,
    allowPreviouslyExposedKeys: c.allowPreviouslyExposedKeys,
    sessionPoolSize: c.sessionPoolSize,
    tokenCalls: c.tokenCalls,
    callTimeoutMs: c.callTimeoutMs,
    reconnectMinMs: c.reconnectMinMs,
    reconnectMaxMs: c.reconnectMaxMs,
  };
}

/** The `pkcs11` backend: KEKs in a PKCS#11 token (SoftHSM2 or an HSM). */
export const pkcs11Backend = defineBackend({
  name: 'pkcs11',
  summary: 'a PKCS#11 token: a hardware security module or SoftHSM2',
  section: 'pkcs11',
  schema: Pkcs11ConfigSchema,
  secretEnv: [PKCS11_PIN_ENV],
  adapter: 'pkcs11',
  libraries: ['graphene-pk11', 'pkcs11js'],
  docs: 'docs/backends/pkcs11.md',
  testing: {
    harness: 'test/backends/pkcs11.harness.ts',
    contract: 'test/contract/pkcs11.contract.test.ts',
    campaign: 'test/reliability/20-pkcs11.campaign.ts',
  },
  doctor: (c, ctx) => pkcs11Doctor(c, ctx.env),
  // The adapter (graphene-pk11, pkcs11js) is imported only when this backend is used, so the
  // other backends do not load it on every start (docs/benchmarks.md, start to ready).
  // ctx.logger already carries `backend` (bound once, by the container).
  openWrapper: async (c, ctx) => {
    const { Pkcs11KeyWrapper } = await import('../../adapters/outbound/pkcs11/pkcs11.key-wrapper.js');
    return Pkcs11KeyWrapper.open(pkcs11Options(c, ctx.env), ctx.logger, ctx.clock);
  },
  openAdmin: async (c, ctx) => {
    const { Pkcs11KeyAdmin } = await import('../../adapters/outbound/pkcs11/pkcs11.key-admin.js');
    return Pkcs11KeyAdmin.open(pkcs11Options(c, ctx.env), ctx.logger, ctx.clock);
  },
});

/** `kleidi doctor`: the module is readable and a PIN source is given; listing the keys then proves token, PIN and key. */
async function pkcs11Doctor(c: Pkcs11Config, env: BackendContext['env']): Promise<BackendCheck[]> {
  const checks = [
    await fileCheck('backend.config', 'PKCS#11 module', c.module, 'install the module or fix pkcs11.module'),
  ];
  if (c.pinFile !== undefined) {
    checks.push(
      await fileCheck('backend.credentials', 'PIN file', c.pinFile, `put the user PIN in ${c.pinFile} (mode 0600)`),
    );
  } else if (env[PKCS11_PIN_ENV] === undefined) {
    checks.push({
      id: 'backend.credentials',
      status: 'fail',
      detail: `no PIN: neither pkcs11.pinFile nor ${PKCS11_PIN_ENV} is set`,
      fix: 'set pkcs11.pinFile (KLEIDI_PKCS11_PIN_FILE) to a 0600 file holding the user PIN',
    });
  } else {
    checks.push({ id: 'backend.credentials', status: 'pass', detail: `PIN given in ${PKCS11_PIN_ENV}` });
  }
  return checks;
}
