import { createSecretKey, type KeyObject } from 'node:crypto';
import { envelopeHeader } from '../../../domain/model/envelope.js';
import {
  BackendMisconfiguredError,
  BackendUnavailableError,
  KeyVersionUnknownError,
  KmsError,
} from '../../../domain/model/errors.js';
import type { KeyVersion, WrappedKey } from '../../../domain/model/key-version.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import type { KeyWrapper } from '../../../ports/outbound/key-wrapper.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { gcmOpen, gcmSeal } from '../shared/aes-gcm.js';
import { TpmResponseError } from './tpm.errors.js';
import { stampOfFile } from './tpm.files.js';
import { tpmKeyId } from './tpm.key-id.js';
import { isPcrPolicyFailure, isWrongAuth, toKmsError } from './tpm.kms-errors.js';
import { readNodeKeys, type NodeVersion } from './tpm.node-file.js';
import type { TpmNode } from './tpm.node.js';
import { formatPcrSelection } from './tpm.pcr.js';

interface LoadedKey {
  readonly version: KeyVersion;
  readonly key: KeyObject;
}

/**
 * Serves with the KEK versions of this node's key file, unsealed from the
 * TPM when the file is first read or changes, and then held in memory
 * (ADR 0014: a TPM is too slow for a cold-start Decrypt storm). Wrap and
 * unwrap are AES-256-GCM in-process with the envelope header as associated
 * data; the TPM is used again only when the node key file changes.
 */
export class TpmKeyWrapper implements KeyWrapper {
  readonly backend = 'tpm';
  private keys = new Map<string, LoadedKey>();
  private current: KeyVersion | undefined;
  private stamp: string | undefined;
  private reloading: Promise<void> | undefined;
  /**
   * A node key file version whose unseal the TPM refused for a wrong auth value: not tried again
   * until the file changes (each try would count toward dictionary-attack lockout). Likewise a
   * PCR policy refusal: it costs no attempt, but PCR values do not go back without a reboot, so
   * asking again would only cost TPM time (a Decrypt storm of key_ids not held would ask at each
   * call). A lockout (TPM_RC_LOCKOUT) is tried again at each refresh: it costs no attempt and ends
   * when cleared.
   */
  private refused: { readonly stamp: string; readonly error: KmsError } | undefined;

  private constructor(
    private readonly path: string,
    private readonly node: TpmNode,
    private readonly log: Logger,
    private readonly release: () => Promise<void>,
  ) {}

  /**
   * Unseals every version; fails (startup) without a node key file or when the TPM refuses,
   * except for a PCR policy refusal: after a firmware update the node comes up holding nothing,
   * its health names the PCR change, and it recovers once re-provisioned (docs/backends/tpm.md#pcr-change),
   * rather than restarting in a loop that no restart can fix.
   */
  static async open(path: string, node: TpmNode, log: Logger, release: () => Promise<void>): Promise<TpmKeyWrapper> {
    const w = new TpmKeyWrapper(path, node, log, release);
    try {
      await w.reload();
    } catch (err) {
      if (isPcrPolicyFailure(err)) {
        log.warn(
          {},
          'the TPM refused the KEKs: PCR values changed since provisioning; serving none until re-provisioned',
        );
        return w;
      }
      await release();
      throw err;
    }
    return w;
  }

  async currentVersion(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    const stamp = await stampOfFile(this.path);
    if (stamp === undefined) {
      throw new BackendUnavailableError(`TPM node key file ${this.path} is missing; restore it before a restart`);
    }
    if (stamp !== this.stamp) {
      try {
        await this.reloadOnce();
      } catch (err) {
        // Keep serving the keys held: they are still valid; report why the change cannot be used.
        // Status shows the first 160 characters of this (key-state-tracker.ts), so a TPM's
        // answer comes first and the file's path, which the operator configured, is left out.
        const what = 'TPM node key file changed, not reloaded';
        // Holding nothing (a start after a PCR change): the refusal itself, a KeyUnusableError.
        if (!this.current && err instanceof KmsError && isPcrPolicyFailure(err)) throw err;
        if (err instanceof KmsError && err.cause instanceof TpmResponseError) {
          throw new BackendUnavailableError(toKmsError(err.cause, what).message, { cause: err });
        }
        const why = err instanceof KmsError ? err.message : 'unexpected error';
        throw new BackendUnavailableError(`${what}: ${why}`, { cause: err });
      }
    }
    if (!this.current) throw new BackendUnavailableError('TPM node key file holds no key');
    return this.current;
  }

  async wrap(seed: Uint8Array, version: KeyVersion, signal: AbortSignal): Promise<WrappedKey> {
    throwIfAborted(signal);
    const k = await this.lookup(version.keyId);
    return { keyId: k.version.keyId, payload: gcmSeal(k.key, seed, envelopeHeader(k.version.keyId, 'aes-256-gcm')) };
  }

  async unwrap(wrapped: WrappedKey, signal: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal);
    const k = await this.lookup(wrapped.keyId);
    return gcmOpen(k.key, wrapped.payload, envelopeHeader(wrapped.keyId, 'aes-256-gcm'), this.backend);
  }

  async close(): Promise<void> {
    this.keys = new Map();
    this.current = undefined;
    await this.release();
  }

  private async lookup(keyId: string): Promise<LoadedKey> {
    let k = this.keys.get(keyId);
    if (!k && (await stampOfFile(this.path)) !== this.stamp) {
      await this.reloadOnce().catch(() => undefined);
      k = this.keys.get(keyId);
    }
    // Refused for a PCR change: the file may well hold this key_id; say why it cannot be used.
    if (!k && this.refused && isPcrPolicyFailure(this.refused.error)) throw this.refused.error;
    if (!k) throw new KeyVersionUnknownError(`key_id ${keyId} is not in this node's TPM key file`);
    return k;
  }

  /** One reload at a time: concurrent callers share it. */
  private reloadOnce(): Promise<void> {
    this.reloading ??= this.reload().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  /**
   * tpm.pcrs set on a serving node but versions bound otherwise (or not at all): binding was
   * turned on, or changed, without re-provisioning. They still serve (the objects' policy, not
   * the setting, decides what the TPM asks for), so this is a warning, naming versions only.
   */
  private warnUnbound(versions: readonly NodeVersion[]): void {
    const want = this.node.binding();
    if (!want) return;
    const off = versions.filter((v) => !v.pcrs || formatPcrSelection(v.pcrs) !== formatPcrSelection(want));
    if (off.length === 0) return;
    this.log.warn(
      { pcrs: formatPcrSelection(want), versions: off.map((v) => v.version) },
      'tpm.pcrs is set but these KEK versions are not bound to it: re-enroll and re-provision this node to bind them',
    );
  }

  private async reload(): Promise<void> {
    const read = await readNodeKeys(this.path);
    if (!read)
      throw new BackendMisconfiguredError(`TPM node key file ${this.path} does not exist; run \`kleidi init\``);
    if (this.refused?.stamp === read.stamp) throw this.refused.error;
    const fresh = read.keys.versions.filter((v) => !this.keys.has(v.keyId));
    let keks: Buffer[];
    try {
      keks = fresh.length > 0 ? await this.node.unseal(read.keys.srkName, fresh) : [];
    } catch (err) {
      const error = toKmsError(err, `unsealing the KEKs of ${this.path}`);
      if (isWrongAuth(err) || isPcrPolicyFailure(error)) this.refused = { stamp: read.stamp, error };
      throw error;
    }
    // Versions gone from the file (retired) are forgotten: only what the file holds stays usable.
    const inFile = new Set<string>(read.keys.versions.map((v) => v.keyId));
    const keys = new Map([...this.keys].filter(([keyId]) => inFile.has(keyId)));
    fresh.forEach((v, i) => {
      const kek = keks[i] as Buffer;
      if (tpmKeyId(v.version, kek) !== v.keyId) {
        throw new BackendMisconfiguredError(
          `TPM node key file ${this.path}: version ${v.version} does not unseal to key_id ${v.keyId}`,
        );
      }
      keys.set(v.keyId, { version: { keyId: v.keyId, version: v.version }, key: createSecretKey(kek) });
      kek.fill(0);
    });
    const cur = read.keys.versions.find((v) => v.version === read.keys.current);
    const current = cur ? keys.get(cur.keyId)?.version : undefined;
    if (this.current && current && current.keyId !== this.current.keyId) {
      this.log.info(
        { keyId: current.keyId, version: current.version },
        'TPM node key file reloaded with a new current key',
      );
    }
    this.warnUnbound(read.keys.versions);
    this.keys = keys;
    this.current = current;
    this.stamp = read.stamp;
    this.refused = undefined;
  }
}
