import { randomBytes } from 'node:crypto';
import { BackendMisconfiguredError, BackendUnavailableError } from '../../../domain/model/errors.js';
import { readTrustedFile } from '../shared/secret-file.js';
import { stampOfFile, writeJsonFile } from './tpm.files.js';
import { tpmKeyId } from './tpm.key-id.js';
import { readNodeKeys, type NodeVersion } from './tpm.node-file.js';
import { nodeFor, readAuthValue, type TpmSettings } from './tpm.open.js';
import { bundleJson, enrollment, importBundle, parseBundle, provisioningBundle } from './tpm.provisioning.js';
import { readRing, writeRing, type RingVersion } from './tpm.ring-file.js';

/** A KEK version as the provisioning commands report it: never key material. */
export interface TpmVersionFact {
  readonly version: number;
  readonly keyId: string;
}

/**
 * The steps of ADR 0014's offline provisioning for `kleidi tpm …`:
 * enroll (on a node: its SRK public area, not secret), addVersion and
 * provision (on the machine holding the ring, no TPM needed), importBundle
 * (on the node). Every answer names versions and key_ids only; the ring is
 * read from tpm.ringFile and the auth value from tpm.authFile, never argv.
 */
export class TpmOperator {
  constructor(private readonly s: TpmSettings) {}

  /** This node's enrollment document (the SRK public area and its Name). */
  async enroll(): Promise<{ document: unknown; srkName: string }> {
    const { node, release } = await nodeFor(this.s);
    try {
      const e = await enrollment(node);
      return { document: e, srkName: e.srkName };
    } finally {
      await release();
    }
  }

  /** Adds a fresh KEK to the ring file (creating it with version 1); touches no TPM. */
  async addVersion(): Promise<TpmVersionFact & { readonly created: boolean }> {
    const ring = await readRing(this.s.ringFile);
    const versions = ring?.versions ?? [];
    const added: RingVersion = { version: (versions.at(-1)?.version ?? 0) + 1, kek: randomBytes(32) };
    if ((await stampOfFile(this.s.ringFile)) !== ring?.stamp) throw changedMeanwhile(this.s.ringFile);
    await writeRing(this.s.ringFile, [...versions, added]);
    return { version: added.version, keyId: tpmKeyId(added.version, added.kek), created: !ring };
  }

  /**
   * Wraps every ring version for the node whose enrollment is `enrollmentFile`
   * and writes the bundle to `outFile` (mode 0600). `current` defaults to the
   * newest version; an older one is phase 1 of a two-phase rotation.
   */
  async provision(
    enrollmentFile: string,
    outFile: string,
    current?: number,
  ): Promise<{ srkName: string; current: number; versions: readonly TpmVersionFact[] }> {
    const enrolled = await readJson(enrollmentFile, 'TPM enrollment file');
    const ring = await readRing(this.s.ringFile);
    if (!ring?.versions.length) {
      throw new BackendMisconfiguredError(
        `there is no KEK ring at ${this.s.ringFile} (tpm.ringFile); \`kleidi tpm add-version\` creates one`,
      );
    }
    const auth = await readAuthValue(this.s);
    const bundle = provisioningBundle(
      enrolled,
      ring.versions,
      auth,
      current ?? (ring.versions.at(-1) as RingVersion).version,
    );
    await writeJsonFile(outFile, bundleJson(bundle), 'TPM provisioning bundle');
    return { srkName: bundle.srkName, current: bundle.current, versions: bundle.versions.map(fact) };
  }

  /** Imports a bundle into this node's TPM and key file; reports what the node holds afterwards. */
  async importBundle(
    bundleFile: string,
  ): Promise<{ srkName: string; current: number; versions: readonly (TpmVersionFact & { imported: boolean })[] }> {
    const bundle = parseBundle(await readJson(bundleFile, 'TPM provisioning bundle'));
    // A version counts as imported when its object is new: a new key_id, or one the bundle re-bound.
    const before = new Set((await readNodeKeys(this.s.nodeKeyFile))?.keys.versions.map(objectOf));
    const { node, release } = await nodeFor(this.s);
    try {
      await importBundle(node, bundle, this.s.nodeKeyFile);
    } finally {
      await release();
    }
    const after = await readNodeKeys(this.s.nodeKeyFile);
    if (!after) throw new BackendUnavailableError(`${this.s.nodeKeyFile} vanished after the import`);
    return {
      srkName: after.keys.srkName,
      current: after.keys.current,
      versions: after.keys.versions.map((v) => ({ ...fact(v), imported: !before.has(objectOf(v)) })),
    };
  }
}

function objectOf(v: NodeVersion): string {
  return `${v.keyId}/${v.private.toString('base64')}`;
}

function fact(v: TpmVersionFact): TpmVersionFact {
  return { version: v.version, keyId: v.keyId };
}

/**
 * An enrollment or a bundle: not secret, but whoever can replace an
 * enrollment chooses which TPM receives the KEKs, so it is read with the
 * trusted-file policy (no group or other write, owned by kleidi's user or root).
 */
async function readJson(path: string, what: string): Promise<unknown> {
  const text = await readTrustedFile(path, what);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new BackendMisconfiguredError(`${what} ${path} is not valid JSON`);
  }
}

function changedMeanwhile(path: string): BackendUnavailableError {
  return new BackendUnavailableError(
    `${path} was changed by another kleidi command meanwhile; nothing was written, run the command again`,
  );
}
