import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyVersionUnknownError } from '#src/domain/model/errors.js';
import { parseKeyId } from '#src/domain/model/key-id.js';
import type { WrappedKey } from '#src/domain/model/key-version.js';
import { aDataKey, aSignal, recordingLogger } from '../../support/builders.js';
import { startCountingProxy, type CountingProxy } from '../../support/counting-proxy.js';
import { openWrapper } from '../../support/vault-transit.harness.js';
import { setUpTransit, startDevVault, type VaultServer } from '../../support/vault-server.fixture.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An envelope for a version of key `kleidi` that does not exist: a well-formed but made-up key_id. */
function madeUp(version: number): WrappedKey {
  return {
    keyId: parseKeyId(`vault:transit:kleidi:v${version}:1700000000`),
    payload: { scheme: 'opaque', blob: new TextEncoder().encode(`vault:v${version}:${'A'.repeat(48)}`) },
  };
}

describe('transit key metadata (real Vault)', () => {
  let server: VaultServer;
  let proxy: CountingProxy;
  beforeAll(async () => {
    server = await startDevVault();
    await setUpTransit(server);
    proxy = await startCountingProxy(server.address);
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
  });

  it('made-up key_ids cost at most one fresh metadata read per second, not one per Decrypt', async () => {
    const w = await openWrapper({ address: proxy.address, auth: { method: 'token', token: server.rootToken } });
    await w.currentVersion(aSignal());
    const before = proxy.count('GET /v1/transit/keys/kleidi');
    // 40 Decrypts of unknown versions, sequential and concurrent, well inside one second.
    for (let i = 0; i < 20; i++) {
      await expect(w.unwrap(madeUp(100 + i), aSignal())).rejects.toBeInstanceOf(KeyVersionUnknownError);
    }
    const burst = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => w.unwrap(madeUp(200 + i), aSignal())));
    expect(burst.every((r) => r.status === 'rejected' && r.reason instanceof KeyVersionUnknownError)).toBe(true);
    const reads = proxy.count('GET /v1/transit/keys/kleidi') - before;
    expect(reads).toBeLessThanOrEqual(2);
    expect(proxy.count('/v1/transit/decrypt/')).toBe(0);
    await w.close();
  });

  it('a version another node added is still found once the last fresh read is a second old', async () => {
    const w = await openWrapper({ address: proxy.address, auth: { method: 'token', token: server.rootToken } });
    const peer = await openWrapper({ address: server.address, auth: { method: 'token', token: server.rootToken } });
    await w.currentVersion(aSignal());
    await expect(w.unwrap(madeUp(999), aSignal())).rejects.toBeInstanceOf(KeyVersionUnknownError);
    await server.api('POST', 'transit/keys/kleidi/rotate');
    const seed = aDataKey();
    const wrapped = await peer.wrap(seed, await peer.currentVersion(aSignal()), aSignal());
    await sleep(1_100);
    expect(await w.unwrap(wrapped, aSignal())).toEqual(seed);
    await Promise.all([w.close(), peer.close()]);
  });

  it('warns once about a key that is exportable, allows plaintext backup, or may be deleted', async () => {
    await setUpTransit(server, 'risky', 'kleidi');
    await server.api('POST', 'risky/keys/kleidi/config', {
      exportable: true,
      allow_plaintext_backup: true,
      deletion_allowed: true,
    });
    const lines = recordingLogger();
    const w = await openWrapper(
      { address: server.address, mount: 'risky', auth: { method: 'token', token: server.rootToken } },
      lines,
    );
    await w.currentVersion(aSignal());
    await w.currentVersion(aSignal());
    const warnings = lines.lines.filter((l) => l.level === 'warn').map((l) => l.message);
    expect(warnings).toHaveLength(3);
    expect(warnings.find((m) => m.includes('is exportable'))).toMatch(/Vault cannot turn this off/);
    expect(warnings.find((m) => m.includes('allows plaintext backup'))).toContain('risky/backup/kleidi');
    expect(warnings.find((m) => m.includes('may be deleted'))).toContain(
      'vault write risky/keys/kleidi/config deletion_allowed=false',
    );
    await w.close();

    const quiet = recordingLogger();
    const plain = await openWrapper(
      { address: server.address, auth: { method: 'token', token: server.rootToken } },
      quiet,
    );
    await plain.currentVersion(aSignal());
    expect(quiet.lines.filter((l) => l.level === 'warn')).toEqual([]);
    await plain.close();
  });
});
