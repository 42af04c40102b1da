import { z } from 'zod';
import {
  PKCS11_DEFAULTS,
  type Pkcs11Options,
  type TokenSelector,
} from '../../adapters/outbound/pkcs11/pkcs11.options.js';
import { defineBackend, type BackendContext } from './backend.js';

/** SECURITY: the PIN is never a config field (config may come from argv); only a file path or this env var. */
export const PKCS11_PIN_ENV = 'KLEIDI_PKCS11_PIN';

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
    sessionPoolSize: positiveInt()
      .max(64)
      .default(PKCS11_DEFAULTS.sessionPoolSize)
      .meta({ description: 'Crypto sessions, one operation each; keep it at most UV_THREADPOOL_SIZE (4).' }),
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
    sessionPoolSize: c.sessionPoolSize,
    callTimeoutMs: c.callTimeoutMs,
    reconnectMinMs: c.reconnectMinMs,
    reconnectMaxMs: c.reconnectMaxMs,
  };
}

/** The `pkcs11` backend: KEKs in a PKCS#11 token (SoftHSM2 or an HSM). */
export const pkcs11Backend = defineBackend({
  name: 'pkcs11',
  section: 'pkcs11',
  schema: Pkcs11ConfigSchema,
  secretEnv: [PKCS11_PIN_ENV],
  // The adapter (graphene-pk11, pkcs11js) is imported only when this backend is used, so the
  // other backends do not load it on every start (docs/benchmarks.md, start to ready).
  openWrapper: async (c, ctx) => {
    const { Pkcs11KeyWrapper } = await import('../../adapters/outbound/pkcs11/pkcs11.key-wrapper.js');
    return Pkcs11KeyWrapper.open(pkcs11Options(c, ctx.env), ctx.logger.child({ backend: 'pkcs11' }), ctx.clock);
  },
  openAdmin: async (c, ctx) => {
    const { Pkcs11KeyAdmin } = await import('../../adapters/outbound/pkcs11/pkcs11.key-admin.js');
    return Pkcs11KeyAdmin.open(pkcs11Options(c, ctx.env), ctx.logger.child({ backend: 'pkcs11' }), ctx.clock);
  },
});
