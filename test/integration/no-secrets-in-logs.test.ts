import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aDataKey } from '../support/builders.js';
import { KmsTestClient } from '../support/grpc-client.js';
import { runKleidi, startKleidi, tempDir } from '../support/kleidi-process.js';

/** Every textual form a secret could take in a log line. */
function forms(secret: Buffer): string[] {
  return [
    secret.toString('hex'),
    secret.toString('base64'),
    secret.toString('base64url'),
    JSON.stringify([...secret]).slice(1, -1),
  ];
}

describe('SECURITY: logs never contain plaintext or key material', () => {
  it('at debug level, across encrypt, decrypt, bad input, rotation and shutdown', async () => {
    const tmp = await tempDir();
    const k = await startKleidi(tmp.dir, ['--log-level', 'trace']);
    const c = new KmsTestClient(k.socket);
    const seeds = Array.from({ length: 20 }, () => Buffer.from(aDataKey()));
    for (const seed of seeds) {
      const enc = await c.encrypt(seed);
      await c.decrypt(enc);
      await c.decrypt({ ...enc, keyId: `${enc.keyId}x` }).catch(() => undefined);
      await c.decrypt({ ...enc, ciphertext: enc.ciphertext.subarray(0, 20) }).catch(() => undefined);
    }
    const rotate = runKleidi(['rotate', '--state-dir', k.stateDir, '--log-level', 'trace']);
    expect(await rotate.exited).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    await c.encrypt(seeds[0]!);
    c.close();
    expect(await k.stop()).toBe(0);

    const keyring = JSON.parse(readFileSync(join(k.stateDir, 'keyring.json'), 'utf8')) as {
      keys: { material: string }[];
    };
    const materials = keyring.keys.map((x) => Buffer.from(x.material, 'base64'));
    expect(materials.length).toBe(2);
    const logs = k.output() + rotate.output();
    expect(logs).toContain('kms call ok'); // debug lines were really written
    for (const secret of [...seeds, ...materials]) {
      for (const form of forms(secret)) expect(logs).not.toContain(form);
    }
    await tmp.cleanup();
  });
});
