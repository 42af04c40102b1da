import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TpmCommands } from '#src/adapters/outbound/tpm/tpm.commands.js';
import { TpmKeyWrapper } from '#src/adapters/outbound/tpm/tpm.key-wrapper.js';
import { TpmNode } from '#src/adapters/outbound/tpm/tpm.node.js';
import {
  bundleJson,
  enrollment,
  importBundle,
  parseBundle,
  provisioningBundle,
} from '#src/adapters/outbound/tpm/tpm.provisioning.js';
import type { RingVersion } from '#src/adapters/outbound/tpm/tpm.ring-file.js';
import { SocketTransport } from '#src/adapters/outbound/tpm/tpm.socket-transport.js';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';
import { aDataKey, aSignal, recordingLogger } from '../../support/builders.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.fixture.js';

/**
 * ADR 0014's offline provisioning across two nodes (two swtpm): each node
 * enrolls (prints its SRK public), the ring's holder makes a bundle per node
 * without any TPM, each node imports its own; both then serve the same
 * key_ids. A rotation is provisioned in two phases (decrypt-capable first,
 * current second).
 */
describe('offline provisioning of two nodes', () => {
  const swtpms: Swtpm[] = [];
  let root: string;
  const auth = Buffer.from('provisioned auth value');
  const node = (i: number) => {
    const transport = new SocketTransport('127.0.0.1', (swtpms[i] as Swtpm).port);
    return { tpm: new TpmNode(new TpmCommands(transport), auth), transport };
  };
  const nodeFile = (i: number) => join(root, `node-${i}`, 'node-keys.json');
  // A JSON round trip, as the files between the machines would carry them.
  const carried = <T>(v: T): unknown => JSON.parse(JSON.stringify(v)) as unknown;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'kleidi-tpm-provision-'));
    for (let i = 0; i < 2; i++) {
      swtpms.push(await startSwtpm());
      await mkdir(join(root, `node-${i}`), { mode: 0o700 });
    }
  });
  afterAll(async () => {
    for (const s of swtpms) await s.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('gives both nodes the same keys from enrollments and bundles, and rotates in two phases', async () => {
    const ring: RingVersion[] = [{ version: 1, kek: randomBytes(32) }];
    const enrolled = [await enrollment(node(0).tpm), await enrollment(node(1).tpm)];
    expect(enrolled[0]?.srkName).not.toBe(enrolled[1]?.srkName);
    for (const i of [0, 1]) {
      const bundle = parseBundle(carried(bundleJson(provisioningBundle(carried(enrolled[i]), ring, auth, 1))));
      await importBundle(node(i).tpm, bundle, nodeFile(i));
    }
    const serve = async (i: number) => {
      const n = node(i);
      return TpmKeyWrapper.open(nodeFile(i), n.tpm, recordingLogger(), () => n.transport.close());
    };
    const [a, b] = [await serve(0), await serve(1)];
    const v1 = await a.currentVersion(aSignal());
    expect(await b.currentVersion(aSignal())).toEqual(v1);
    const seed = aDataKey();
    expect(await b.unwrap(await a.wrap(seed, v1, aSignal()), aSignal())).toEqual(seed);

    // Phase 1: version 2 reaches both nodes, version 1 stays current.
    ring.push({ version: 2, kek: randomBytes(32) });
    for (const i of [0, 1])
      await importBundle(node(i).tpm, provisioningBundle(carried(enrolled[i]), ring, auth, 1), nodeFile(i));
    expect(await a.currentVersion(aSignal())).toEqual(v1);
    expect(await b.currentVersion(aSignal())).toEqual(v1);
    // Phase 2: version 2 becomes current; what version 1 wrapped still unwraps.
    const old = await b.wrap(seed, v1, aSignal());
    for (const i of [0, 1])
      await importBundle(node(i).tpm, provisioningBundle(carried(enrolled[i]), ring, auth, 2), nodeFile(i));
    const v2 = await a.currentVersion(aSignal());
    expect(v2.version).toBe(2);
    expect(await b.currentVersion(aSignal())).toEqual(v2);
    expect(await a.unwrap(old, aSignal())).toEqual(seed);
    expect(await a.unwrap(await b.wrap(seed, v2, aSignal()), aSignal())).toEqual(seed);
    await a.close();
    await b.close();
  });

  it('refuses a bundle made for another node, and a tampered enrollment', async () => {
    const ring: RingVersion[] = [{ version: 1, kek: randomBytes(32) }];
    const forNode0 = provisioningBundle(carried(await enrollment(node(0).tpm)), ring, auth, 1);
    const error = await importBundle(node(1).tpm, forNode0, join(root, 'elsewhere.json')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendMisconfiguredError);
    expect((error as Error).message).toMatch(
      /bundle was made for the TPM whose SRK name is 000b[0-9a-f]{64}, but this TPM's is/,
    );

    const tampered = { ...(await enrollment(node(1).tpm)), srkName: (await enrollment(node(0).tpm)).srkName };
    expect(() => provisioningBundle(carried(tampered), ring, auth, 1)).toThrow(
      /public area has Name 000b[0-9a-f]{64}, not 000b/,
    );
  });

  it('refuses a bundle from another ring (a version number the node holds under another key_id), writing nothing', async () => {
    const file = nodeFile(0);
    const before = await readFile(file, 'utf8');
    const otherRing: RingVersion[] = [{ version: 1, kek: randomBytes(32) }];
    const bundle = provisioningBundle(carried(await enrollment(node(0).tpm)), otherRing, auth, 1);
    const error = await importBundle(node(0).tpm, bundle, file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendMisconfiguredError);
    expect((error as Error).message).toMatch(
      /holds version 1 as tpm:v1:[0-9a-f]{16}, the bundle as tpm:v1:[0-9a-f]{16}: the bundle was made from another KEK ring/,
    );
    expect(await readFile(file, 'utf8')).toBe(before);
  });
});
