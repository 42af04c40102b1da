import { describe, expect, it } from 'vitest';
import { Pkcs11ConfigSchema, pkcs11Backend, pkcs11Options } from '#src/composition/backends/pkcs11.js';
import { describeObject } from '../../../../tools/describe-schema.js';

describe('pkcs11 backend config', () => {
  it('defaults to the Debian SoftHSM2 module and a 4-session pool', () => {
    const c = Pkcs11ConfigSchema.parse({ tokenLabel: 'kms', pinFile: '/etc/kleidi/pin' });
    expect(c).toMatchObject({
      module: '/usr/lib/softhsm/libsofthsm2.so',
      keyLabel: 'kleidi-kek',
      sessionPoolSize: 4,
      tokenCalls: 'thread-pool',
      callTimeoutMs: 2_000,
    });
    expect(pkcs11Backend).toMatchObject({ name: 'pkcs11', section: 'pkcs11' });
  });

  it('has the fields behind the documented env names (docs/backends/pkcs11.md)', () => {
    // The loader derives KLEIDI_PKCS11_<UPPER_SNAKE_FIELD>.
    for (const f of ['module', 'tokenLabel', 'pinFile', 'keyLabel'])
      expect(Object.keys(Pkcs11ConfigSchema.shape)).toContain(f);
    expect(Object.keys(Pkcs11ConfigSchema.shape)).not.toContain('pin'); // SECURITY: never a config value
    expect(pkcs11Backend.secretEnv).toEqual(['KLEIDI_PKCS11_PIN']); // the loader leaves it to the backend
  });

  it('documents every setting for the generated reference and rejects unknown ones', () => {
    for (const doc of describeObject(Pkcs11ConfigSchema.shape)) expect(doc.description, doc.key).not.toBe('');
    expect(Pkcs11ConfigSchema.safeParse({ tokenLabel: 'kms', tokenlabel: 'typo' }).success).toBe(false);
  });

  it('runs token calls on the thread pool unless told the token is local', () => {
    const base = { tokenLabel: 'kms', pinFile: '/etc/kleidi/pin' };
    expect(pkcs11Options(Pkcs11ConfigSchema.parse(base), {}).tokenCalls).toBe('thread-pool');
    const local = Pkcs11ConfigSchema.parse({ ...base, tokenCalls: 'event-loop' });
    expect(pkcs11Options(local, {}).tokenCalls).toBe('event-loop');
    expect(Pkcs11ConfigSchema.safeParse({ ...base, tokenCalls: 'inline' }).success).toBe(false);
  });

  it('coerces numbers from env strings', () => {
    const c = Pkcs11ConfigSchema.parse({
      slot: '732778889',
      sessionPoolSize: '8',
      callTimeoutMs: '1500',
      keyVersion: '3',
    });
    expect(c).toMatchObject({ slot: 732778889, sessionPoolSize: 8, callTimeoutMs: 1500, keyVersion: 3 });
  });

  it('wants exactly one token selector and a key label that fits a key_id', () => {
    expect(Pkcs11ConfigSchema.safeParse({}).success).toBe(false);
    expect(Pkcs11ConfigSchema.safeParse({ tokenLabel: 'a', tokenSerial: 'b' }).success).toBe(false);
    expect(Pkcs11ConfigSchema.safeParse({ tokenLabel: 'a', keyLabel: 'a:b' }).success).toBe(false);
    expect(Pkcs11ConfigSchema.safeParse({ tokenSerial: 'b' }).success).toBe(true);
  });

  it('refuses keys that can leave the token unless a setting naming the risk accepts them', () => {
    const strict = pkcs11Options(Pkcs11ConfigSchema.parse({ tokenLabel: 'kms' }), {});
    expect(strict).toMatchObject({ allowExtractableKeysInsecure: false, allowPreviouslyExposedKeys: false });
    const c = Pkcs11ConfigSchema.parse({
      tokenLabel: 'kms',
      allowExtractableKeysInsecure: 'true', // as KLEIDI_PKCS11_ALLOW_EXTRACTABLE_KEYS_INSECURE
      allowPreviouslyExposedKeys: 'yes',
    });
    expect(pkcs11Options(c, {})).toMatchObject({
      allowExtractableKeysInsecure: true,
      allowPreviouslyExposedKeys: true,
    });
  });

  it('turns config and KLEIDI_PKCS11_PIN into adapter options', () => {
    const c = Pkcs11ConfigSchema.parse({ tokenSerial: '7f1c947d2bad5189' });
    expect(pkcs11Options(c, { KLEIDI_PKCS11_PIN: '1234' })).toMatchObject({
      token: { by: 'serial', serial: '7f1c947d2bad5189' },
      pin: { env: '1234' },
    });
    expect(pkcs11Options(Pkcs11ConfigSchema.parse({ slot: 0, pinFile: '/p' }), {})).toMatchObject({
      token: { by: 'slot', slot: 0 },
      pin: { file: '/p' },
    });
  });
});
