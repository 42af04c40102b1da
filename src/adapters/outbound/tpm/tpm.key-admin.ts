import { randomBytes } from 'node:crypto';
import {
  BackendMisconfiguredError,
  BackendUnavailableError,
  InvalidRequestError,
  KeyVersionUnknownError,
} from '../../../domain/model/errors.js';
import type { KeyVersion, KeyVersionInfo, RetiredVersion } from '../../../domain/model/key-version.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import type { KeyAdmin } from '../../../ports/outbound/key-admin.port.js';
import { stampOfFile } from './tpm.files.js';
import { tpmKeyId } from './tpm.key-id.js';
import { toKmsError } from './tpm.kms-errors.js';
import { backupNodeKeys, readNodeKeys, writeNodeKeys, type NodeKeys, type NodeVersion } from './tpm.node-file.js';
import type { TpmNode } from './tpm.node.js';
import { readRing, writeRing, type RingVersion } from './tpm.ring-file.js';

/** Admin calls on the same node key file in this process run one at a time. */
const queues = new Map<string, Promise<unknown>>();

function serialised<T>(key: string, job: () => Promise<T>): Promise<T> {
  const next = (queues.get(key) ?? Promise.resolve()).then(job, job);
  const tail = next.catch(() => undefined);
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return next;
}

/**
 * `kleidi init | rotate | keys` for the TPM backend, run on a node that
 * has the KEK ring file (ADR 0014). init creates the ring with its first
 * KEK when there is none, or imports an existing ring into this node's TPM
 * (provisioning a further node); rotate adds a KEK to the ring and to this
 * node and makes it current; keys lists this node's versions. Nothing here
 * returns key material. Across processes, a ring or node key file changed
 * by someone else between read and write makes the call fail instead of
 * overwriting it. Two-phase rotation uses the node key file's `current`
 * (ADR 0021): a version above it is staged, which every kleidi, older ones
 * too, already reads as "decrypts, not current" (the provisioning flow's
 * `--current`); retire drops a version from this node's key file after a
 * backup of the file.
 */
export class TpmKeyAdmin implements KeyAdmin {
  readonly backend = 'tpm';
  readonly staging = true;
  readonly retiring = true;
  readonly retireInOrder = false;

  constructor(
    private readonly nodeFile: string,
    private readonly ringFile: string,
    private readonly node: TpmNode,
    private readonly release: () => Promise<void>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async init(signal: AbortSignal): Promise<{ created: boolean; current: KeyVersion }> {
    throwIfAborted(signal);
    return serialised(this.nodeFile, async () => {
      const existing = await readNodeKeys(this.nodeFile);
      if (existing) return { created: false, current: currentOf(existing.keys) };
      const ring = await readRing(this.ringFile);
      const versions: RingVersion[] = ring?.versions.length ? ring.versions : [{ version: 1, kek: randomBytes(32) }];
      const keys = await this.provision(versions);
      if (!ring?.versions.length) await writeRing(this.ringFile, versions);
      await this.writeUnchanged(this.nodeFile, undefined, keys);
      return { created: !ring?.versions.length, current: currentOf(keys) };
    });
  }

  rotate(signal: AbortSignal): Promise<KeyVersion> {
    return this.add(signal, false);
  }

  /** Adds a version to the ring and to this node, not current until promoted. */
  stage(signal: AbortSignal): Promise<KeyVersion> {
    return this.add(signal, true);
  }

  private async add(signal: AbortSignal, staged: boolean): Promise<KeyVersion> {
    throwIfAborted(signal);
    return serialised(this.nodeFile, async () => {
      const existing = await readNodeKeys(this.nodeFile);
      if (!existing) throw new BackendMisconfiguredError('no TPM key for this node yet; run `kleidi init` first');
      const pending = existing.keys.versions.find((v) => v.version > existing.keys.current);
      if (pending) {
        throw new InvalidRequestError(
          `version ${pending.version} is staged; promote it first (kleidi rotate --promote ${pending.version})`,
        );
      }
      const ring = await readRing(this.ringFile);
      if (!ring?.versions.length) {
        throw new BackendMisconfiguredError(
          `kleidi rotate needs the KEK ring file ${this.ringFile} (tpm.ringFile) on this machine`,
        );
      }
      const last = ring.versions.at(-1) as RingVersion;
      const added: RingVersion = {
        version: Math.max(last.version, ...existing.keys.versions.map((v) => v.version)) + 1,
        kek: randomBytes(32),
      };
      const [imported] = (await this.provision([added])).versions;
      if ((await stampOfFile(this.ringFile)) !== ring.stamp) throw concurrent(this.ringFile);
      await writeRing(this.ringFile, [...ring.versions, added]);
      const keys: NodeKeys = {
        ...existing.keys,
        current: staged ? existing.keys.current : added.version,
        versions: [...existing.keys.versions, imported as NodeVersion],
      };
      await this.writeUnchanged(this.nodeFile, existing.stamp, keys);
      return { keyId: (imported as NodeVersion).keyId, version: added.version };
    });
  }

  async list(signal: AbortSignal): Promise<readonly KeyVersionInfo[]> {
    throwIfAborted(signal);
    const read = await readNodeKeys(this.nodeFile);
    if (!read) throw new BackendMisconfiguredError('no TPM key for this node yet; run `kleidi init` first');
    const current = read.keys.current;
    return read.keys.versions.map((v) => {
      const note = v.version > current ? 'staged' : v.version < current ? 'decrypt-only' : undefined;
      return { keyId: v.keyId, version: v.version, current: v.version === current, ...(note ? { note } : {}) };
    });
  }

  /** Makes the staged `version` current in this node's key file; the serving kleidi switches at its next refresh. */
  async promote(version: number, signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    return serialised(this.nodeFile, async () => {
      const existing = await this.readExisting();
      const v = this.find(existing.keys, version);
      if (v.version <= existing.keys.current) {
        throw new InvalidRequestError(`version ${version} is not staged; nothing to promote`);
      }
      await this.writeUnchanged(this.nodeFile, existing.stamp, { ...existing.keys, current: version });
      return { keyId: v.keyId, version };
    });
  }

  /**
   * Drops an old version's blobs from this node's key file, after writing the file as it was to a
   * backup next to it. The ring file is not changed: it is the KEK's clear copy, kept offline.
   */
  async retire(version: number, signal: AbortSignal): Promise<RetiredVersion> {
    throwIfAborted(signal);
    return serialised(this.nodeFile, async () => {
      const existing = await this.readExisting();
      const v = this.find(existing.keys, version);
      if (version === existing.keys.current) {
        throw new InvalidRequestError(`version ${version} is current; rotate first, then retire the old version`);
      }
      if (version > existing.keys.current) {
        throw new InvalidRequestError(`version ${version} is staged, not old: promote it or keep it`);
      }
      if ((await stampOfFile(this.nodeFile)) !== existing.stamp) throw concurrent(this.nodeFile);
      const backup = await backupNodeKeys(this.nodeFile, existing.keys, version, this.now());
      const versions = existing.keys.versions.filter((x) => x.version !== version);
      await this.writeUnchanged(this.nodeFile, existing.stamp, { ...existing.keys, versions });
      return { keyId: v.keyId, version, action: "removed from this node's TPM key file", backup };
    });
  }

  close(): Promise<void> {
    return this.release();
  }

  /** Imports ring versions into this node's TPM (bound to its PCRs with tpm.pcrs); the newest becomes current. */
  private async provision(versions: readonly RingVersion[]): Promise<NodeKeys> {
    try {
      const srk = await this.node.srk();
      // With tpm.pcrs: every version bound to this node's current PCR values, read once.
      const bound = await this.node.pcrValues();
      const out: NodeVersion[] = [];
      for (const v of versions) {
        const blobs = await this.node.importKek(srk.public, v.kek, bound);
        out.push({ version: v.version, keyId: tpmKeyId(v.version, v.kek), ...blobs });
      }
      return { srkName: srk.name, current: (versions.at(-1) as RingVersion).version, versions: out };
    } catch (err) {
      throw toKmsError(err, 'importing the KEK ring into this TPM');
    }
  }

  private async readExisting(): Promise<{ keys: NodeKeys; stamp: string }> {
    const existing = await readNodeKeys(this.nodeFile);
    if (!existing) throw new BackendMisconfiguredError('no TPM key for this node yet; run `kleidi init` first');
    return existing;
  }

  private find(keys: NodeKeys, version: number): NodeVersion {
    const v = keys.versions.find((x) => x.version === version);
    if (!v) throw new KeyVersionUnknownError(`this node's TPM key file holds no version ${version}`);
    return v;
  }

  private async writeUnchanged(path: string, stamp: string | undefined, keys: NodeKeys): Promise<void> {
    if ((await stampOfFile(path)) !== stamp) throw concurrent(path);
    await writeNodeKeys(path, keys);
  }
}

function currentOf(keys: NodeKeys): KeyVersion {
  const v = keys.versions.find((x) => x.version === keys.current) as NodeVersion;
  return { keyId: v.keyId, version: v.version };
}

function concurrent(path: string): BackendUnavailableError {
  return new BackendUnavailableError(
    `${path} was changed by another kleidi command meanwhile; nothing was written, run the command again`,
  );
}
