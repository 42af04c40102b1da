import { afterEach, describe, expect, it } from 'vitest';
import {
  BackendMisconfiguredError,
  BackendThrottledError,
  KeyUnusableError,
  KeyVersionUnknownError,
} from '#src/domain/model/errors.js';
import { aDataKey, aSignal } from '../../support/builders.js';
import { type AzureStack, openAdmin, openWrapper, startAzureStack } from '../../support/azure.harness.js';

/** Key states, throttling and misconfiguration through the real SDK against the fake Key Vault. */
describe('azure backend: key states, throttling, refusals', () => {
  let stack: AzureStack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  async function initialised() {
    stack = await startAzureStack();
    const admin = await openAdmin(stack);
    await admin.init(aSignal());
    const wrapper = await openWrapper(stack);
    return { stack, admin, wrapper };
  }

  it('a disabled current version degrades health with a clear reason; enabling it recovers', async () => {
    const { stack, wrapper } = await initialised();
    const v = await wrapper.currentVersion(aSignal());
    const [only] = stack.vault.versions('kleidi');
    stack.vault.setAttributes('kleidi', only!.version, { enabled: false });
    const err = await wrapper.currentVersion(aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyUnusableError);
    expect(String(err)).toMatch(/current version .* of key kleidi is disabled: enable it .* or run kleidi rotate/);
    stack.vault.setAttributes('kleidi', only!.version, { enabled: true });
    expect((await wrapper.currentVersion(aSignal())).keyId).toBe(v.keyId);
  });

  it('an expired current version degrades health, naming the expiry', async () => {
    const { stack, wrapper } = await initialised();
    const [only] = stack.vault.versions('kleidi');
    stack.vault.setAttributes('kleidi', only!.version, { exp: Math.floor(Date.now() / 1000) - 60 });
    await expect(wrapper.currentVersion(aSignal())).rejects.toThrow(/expired at .*run kleidi rotate/);
    await expect(wrapper.currentVersion(aSignal())).rejects.toBeInstanceOf(KeyUnusableError);
  });

  it('a disabled old version fails only the Decrypts that need it, with KeyUnusableError', async () => {
    const { stack, admin, wrapper } = await initialised();
    const seed = aDataKey();
    const old = await wrapper.wrap(seed, await wrapper.currentVersion(aSignal()), aSignal());
    await admin.rotate(aSignal());
    const next = await wrapper.currentVersion(aSignal());
    const fresh = await wrapper.wrap(seed, next, aSignal());
    const [first] = stack.vault.versions('kleidi');
    stack.vault.setAttributes('kleidi', first!.version, { enabled: false });
    const err = await wrapper.unwrap(old, aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyUnusableError);
    expect(String(err)).toMatch(/is disabled: enable it to decrypt the data it wrapped/);
    expect(await wrapper.unwrap(fresh, aSignal())).toEqual(seed);
    stack.vault.setAttributes('kleidi', first!.version, { enabled: true });
    expect(await wrapper.unwrap(old, aSignal())).toEqual(seed);
    const listed = await admin.list(aSignal());
    expect(listed.map((k) => k.note)).toEqual(['decrypt-only', undefined]);
  });

  it('honours Retry-After within the budget, and answers at once when it does not fit', async () => {
    const { stack, wrapper } = await initialised();
    const v = await wrapper.currentVersion(aSignal());
    stack.vault.faults.throttle = { count: 1, retryAfterSeconds: 1 };
    const t0 = performance.now();
    const w = await wrapper.wrap(aDataKey(), v, aSignal());
    expect(performance.now() - t0).toBeGreaterThanOrEqual(990);
    expect(w.keyId).toBe(v.keyId);
    stack.vault.faults.throttle = { count: 1, retryAfterSeconds: 30 };
    const t1 = performance.now();
    await expect(wrapper.wrap(aDataKey(), v, aSignal())).rejects.toBeInstanceOf(BackendThrottledError);
    expect(performance.now() - t1).toBeLessThan(1_000);
  });

  it('keeps serving while the token endpoint is down and the token is valid', async () => {
    const { stack, wrapper } = await initialised();
    const v = await wrapper.currentVersion(aSignal());
    await wrapper.wrap(aDataKey(), v, aSignal());
    const issued = stack.entra.issued.get(stack.clientId);
    stack.entra.down = true;
    for (let i = 0; i < 5; i++) {
      const seed = aDataKey();
      expect(await wrapper.unwrap(await wrapper.wrap(seed, v, aSignal()), aSignal())).toEqual(seed);
    }
    expect(stack.entra.issued.get(stack.clientId)).toBe(issued);
    expect(wrapper.credentialExpiresAt()).toBeGreaterThan(Date.now() + 30 * 60_000);
  });

  it('refuses to start on a key that does not exist, a key that cannot wrap, or a missing role', async () => {
    stack = await startAzureStack();
    await expect(openWrapper(stack, { keyName: 'absent' })).rejects.toThrow(/does not exist .*kleidi init/);
    await stack.vault.createKey('signing', 'EC');
    const ec = await openWrapper(stack, { keyName: 'signing' }).catch((e: unknown) => e);
    expect(ec).toBeInstanceOf(BackendMisconfiguredError);
    expect(String(ec)).toMatch(/type EC: kleidi needs an RSA or RSA-HSM key/);
    stack.vault.revoke(stack.clientId);
    await expect(openWrapper(stack, { keyName: 'signing' })).rejects.toThrow(/Key Vault Crypto User/);
  });

  it('a Crypto User serves but cannot init or rotate', async () => {
    stack = await startAzureStack();
    await (await openAdmin(stack)).init(aSignal());
    stack.vault.grant(stack.clientId, 'crypto-user');
    const wrapper = await openWrapper(stack);
    const seed = aDataKey();
    const v = await wrapper.currentVersion(aSignal());
    expect(await wrapper.unwrap(await wrapper.wrap(seed, v, aSignal()), aSignal())).toEqual(seed);
    await expect((await openAdmin(stack)).rotate(aSignal())).rejects.toThrow(/Crypto Officer/);
  });

  it('Status stays cheap: a refresh is one key read; a wrap is one wrapKey request, no key read', async () => {
    const { stack, wrapper } = await initialised();
    const sent = (from: number) =>
      stack.vault.requests.slice(from).map((r) => `${r.method} ${r.path.replace(/[0-9a-f]{32}/, 'V')} ${r.status}`);
    let mark = stack.vault.requests.length;
    const v = await wrapper.currentVersion(aSignal());
    expect(sent(mark)).toEqual(['GET /keys/kleidi/ 200']);
    mark = stack.vault.requests.length;
    await wrapper.wrap(aDataKey(), v, aSignal());
    // The version's CryptographyClient is built from the key just read (no second read); its own
    // pipeline meets the authentication challenge once.
    expect(sent(mark)).toEqual(['POST /keys/kleidi/V/wrapkey 401', 'POST /keys/kleidi/V/wrapkey 200']);
    mark = stack.vault.requests.length;
    await wrapper.wrap(aDataKey(), v, aSignal());
    expect(sent(mark)).toEqual(['POST /keys/kleidi/V/wrapkey 200']);
  });

  it('refuses a key_id of another vault without sending it there', async () => {
    const { wrapper } = await initialised();
    const w = await wrapper.wrap(aDataKey(), await wrapper.currentVersion(aSignal()), aSignal());
    const moved = w.keyId.replace(/^azure:[^:]+:/, 'azure:other.vault.azure.net:');
    await expect(wrapper.unwrap({ ...w, keyId: moved as never }, aSignal())).rejects.toBeInstanceOf(
      KeyVersionUnknownError,
    );
  });
});
