import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PKCS11_DEFAULTS } from '#src/adapters/outbound/pkcs11/pkcs11.options.js';
import { SOFTHSM_MODULE, softHsmFixture } from '../support/softhsm.fixture.js';
import { type BenchComparison, kleidiInit, run, type StartOptions, type TestServer } from './harness.js';

export async function prepare(): Promise<void> {
  await run('bash', ['scripts/setup-softhsm.sh']);
}

/**
 * A fresh SoftHSM2 token with a SOFTHSM2_CONF and token directory of its own, the PIN in a
 * 0600 file, and the first KEK made by `kleidi init`. Every kleidi pointed at it (both nodes of
 * the two-node scenario) shares the token, as control-plane nodes share one network HSM.
 */
export async function start(dir: string, opts: StartOptions = {}): Promise<TestServer> {
  // Test-only PINs, on softhsm2-util's command line; kleidi reads its PIN from the file.
  const pin = `pin-${randomBytes(6).toString('hex')}`;
  const fx = await softHsmFixture({ label: 'kleidi-test-server', pin, soPin: `so-${pin}` });
  const env = {
    SOFTHSM2_CONF: fx.conf,
    KLEIDI_PKCS11_MODULE: SOFTHSM_MODULE,
    KLEIDI_PKCS11_TOKEN_LABEL: fx.label,
    KLEIDI_PKCS11_PIN_FILE: fx.pinFile,
    KLEIDI_PKCS11_KEY_LABEL: PKCS11_DEFAULTS.keyLabel,
    // SoftHSM2 is a local token: the setting made for it (docs/adr/0024). The integration tests
    // (test/integration/pkcs11*) keep the default, so both modes run against the real token.
    KLEIDI_PKCS11_TOKEN_CALLS: 'event-loop',
  };
  try {
    await kleidiInit('pkcs11', join(dir, 'init-state'), env, opts);
  } catch (err) {
    await fx.cleanup();
    throw err;
  }
  const version = (await run('softhsm2-util', ['--version']).catch(() => '?')).trim();
  return { env, version: `SoftHSM ${version}`, stop: () => fx.cleanup() };
}

/** The same token and KEK driven through pkcs11js directly, with kleidi's session pool size. */
export const bench: BenchComparison = {
  baseline: {
    label: 'raw-pkcs11',
    raw: 'bench/raw/pkcs11.mjs',
    args: (env) => [
      ...['--module', env.KLEIDI_PKCS11_MODULE ?? SOFTHSM_MODULE],
      ...['--token-label', env.KLEIDI_PKCS11_TOKEN_LABEL ?? ''],
      ...['--pin-file', env.KLEIDI_PKCS11_PIN_FILE ?? ''],
      ...['--key-label', env.KLEIDI_PKCS11_KEY_LABEL ?? PKCS11_DEFAULTS.keyLabel],
      ...['--pool', String(PKCS11_DEFAULTS.sessionPoolSize)],
    ],
  },
};
