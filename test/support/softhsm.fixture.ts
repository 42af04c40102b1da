import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KeyType, Module, ObjectClass, SessionFlag, UserType, type Session } from 'graphene-pk11';
import pkcs11js from 'pkcs11js';
import type { Pkcs11Options } from '#src/adapters/outbound/pkcs11/pkcs11.options.js';

const run = promisify(execFile);

export const SOFTHSM_MODULE = process.env.KLEIDI_PKCS11_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';

/** A SoftHSM2 token in its own temporary SOFTHSM2_CONF and token directory. */
export interface SoftHsmFixture {
  readonly dir: string;
  readonly conf: string;
  readonly tokenDir: string;
  readonly label: string;
  readonly pin: string;
  /** A mode-0600 file holding the PIN. */
  readonly pinFile: string;
  /** Makes this fixture's SOFTHSM2_CONF the process's; SoftHSM reads it on C_Initialize. */
  activate(): void;
  /** Adapter options for this token; tests override what they exercise. */
  options(overrides?: Partial<Pkcs11Options>): Pkcs11Options;
  /** Moves the token directory away, as if the token were unplugged or its volume lost. */
  removeToken(): Promise<void>;
  restoreToken(): Promise<void>;
  /**
   * Runs `fn` on a logged-in R/W session of this token, outside the adapter,
   * to inspect or plant objects. Only while no adapter has the module open:
   * C_Initialize/C_Finalize are per process.
   */
  withSession<T>(fn: (session: Session) => T): T;
  /** A second fixture holding a byte-for-byte copy of this token directory (another node). */
  cloneTo(): Promise<SoftHsmFixture>;
  cleanup(): Promise<void>;
}

/**
 * Creates a temp dir with softhsm2.conf and an initialised token. Fails with
 * an install hint when SoftHSM2 is missing: the suites never skip silently.
 */
export async function softHsmFixture(
  opts: { label?: string; pin?: string; soPin?: string } = {},
): Promise<SoftHsmFixture> {
  if (!existsSync(SOFTHSM_MODULE)) {
    throw new Error(
      `SoftHSM2 module ${SOFTHSM_MODULE} not found: run scripts/setup-softhsm.sh (apt-get install softhsm2)`,
    );
  }
  const label = opts.label ?? 'kleidi-test';
  const pin = opts.pin ?? '1234';
  const dir = await mkdtemp(join(tmpdir(), 'kleidi-softhsm-'));
  const fx = await layout(dir, label, pin);
  try {
    // Test-only PINs on argv; production PINs never go there.
    await run(
      'softhsm2-util',
      ['--init-token', '--free', '--label', label, '--so-pin', opts.soPin ?? '0000', '--pin', pin],
      {
        env: { ...process.env, SOFTHSM2_CONF: fx.conf },
      },
    );
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    const hint =
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? ' (softhsm2-util missing: run scripts/setup-softhsm.sh)' : '';
    throw new Error(`softhsm2-util --init-token failed${hint}: ${(err as Error).message}`);
  }
  return fx;
}

async function layout(dir: string, label: string, pin: string): Promise<SoftHsmFixture> {
  const tokenDir = join(dir, 'tokens');
  const conf = join(dir, 'softhsm2.conf');
  const pinFile = join(dir, 'pin');
  await mkdir(tokenDir, { recursive: true, mode: 0o700 });
  await writeFile(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  await writeFile(pinFile, `${pin}\n`, { mode: 0o600 });
  await chmod(pinFile, 0o600); // umask cannot widen it, but be explicit
  const previous = process.env.SOFTHSM2_CONF;
  const parked = join(dir, 'tokens.removed');
  const fx: SoftHsmFixture = {
    dir,
    conf,
    tokenDir,
    label,
    pin,
    pinFile,
    activate: () => void (process.env.SOFTHSM2_CONF = conf),
    options: (overrides = {}) => {
      fx.activate();
      return {
        module: SOFTHSM_MODULE,
        token: { by: 'label', label },
        pin: { file: pinFile },
        keyLabel: 'kleidi-kek',
        sessionPoolSize: 4,
        tokenCalls: 'thread-pool',
        callTimeoutMs: 10_000,
        reconnectMinMs: 50,
        reconnectMaxMs: 200,
        ...overrides,
      };
    },
    removeToken: async () => {
      await mkdir(parked, { recursive: true });
      for (const entry of await readdir(tokenDir)) await rename(join(tokenDir, entry), join(parked, entry));
    },
    restoreToken: async () => {
      for (const entry of await readdir(parked)) await rename(join(parked, entry), join(tokenDir, entry));
    },
    withSession: (fn) => {
      fx.activate();
      const module = Module.load(SOFTHSM_MODULE);
      module.initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
      try {
        const slots = module.getSlots(true);
        for (let i = 0; i < slots.length; i++) {
          const slot = slots.items(i);
          if (slot.getToken().label !== label) continue;
          const session = slot.open(SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION);
          session.login(pin, UserType.USER);
          return fn(session);
        }
        throw new Error(`token ${label} not found`);
      } finally {
        module.finalize();
        module.close();
      }
    },
    cloneTo: async () => {
      const copy = await layout(await mkdtemp(join(tmpdir(), 'kleidi-softhsm-')), label, pin);
      await cp(tokenDir, copy.tokenDir, { recursive: true, preserveTimestamps: true });
      return copy;
    },
    cleanup: async () => {
      if (previous === undefined) delete process.env.SOFTHSM2_CONF;
      else process.env.SOFTHSM2_CONF = previous;
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fx;
}

/**
 * Imports an AES-256 key as kleidi's version `version` with C_CreateObject, as
 * an operator following docs/backends/pkcs11.md would: its value existed
 * outside the token (so the token reports it never always-sensitive).
 */
export function importAesKey(s: Session, version: number, value: Buffer): void {
  s.create({
    class: ObjectClass.SECRET_KEY,
    keyType: KeyType.AES,
    token: true,
    private: true,
    sensitive: true,
    extractable: false,
    encrypt: true,
    decrypt: true,
    label: 'kleidi-kek',
    id: Buffer.from(`v${version}`),
    value,
  });
}
