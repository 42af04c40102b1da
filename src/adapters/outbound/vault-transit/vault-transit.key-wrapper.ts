import { envelopeHeader } from '../../../domain/model/envelope.js';
import {
  BackendMisconfiguredError,
  BackendUnavailableError,
  KeyUnusableError,
  KeyVersionUnknownError,
  MalformedCiphertextError,
} from '../../../domain/model/errors.js';
import type { KeyId } from '../../../domain/model/key-id.js';
import type { KeyVersion, WrappedKey } from '../../../domain/model/key-version.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import type { KeyWrapper } from '../../../ports/outbound/key-wrapper.port.js';
import type { CredentialExpiry } from '../../../ports/outbound/metrics.port.js';
import { VaultCallFailure } from './vault-transit.errors.js';
import { isSameVersion, transitKeyVersion, versionFromCiphertext, versionFromKeyId } from './vault-transit.key-id.js';
import type { TransitKeyInfo } from './vault-transit.responses.js';
import type { VaultTokenState } from './vault-transit.token.js';
import { assertUsableKey, bindsAssociatedData, type TransitApi } from './vault-transit.transit.js';

type ParsedVersion = { version: number; createdSeconds: number };
const ascii = new TextDecoder('latin1');
const encoder = new TextEncoder();

/**
 * Data keys wrapped by Vault (or OpenBao) transit: encrypt with the exact key
 * version the caller chose, and check Vault's `vault:vN:` answer names it.
 * The ciphertext is kept verbatim as an opaque envelope payload.
 */
export class VaultTransitKeyWrapper implements KeyWrapper, CredentialExpiry {
  readonly backend = 'vault';

  constructor(
    private readonly api: TransitApi,
    private readonly tokenState: () => VaultTokenState,
    private readonly onClose: () => void,
  ) {}

  async currentVersion(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    const info = await this.api.readKey(signal);
    if (!info) {
      const { key, mount } = this.api.ref;
      throw new BackendMisconfiguredError(`transit key ${key} does not exist at mount ${mount}; run \`kleidi init\``);
    }
    assertUsableKey(this.api.ref, info);
    const created = info.versions.get(info.latestVersion);
    if (created === undefined)
      throw new BackendUnavailableError('Vault reported no creation time for the latest key version');
    return transitKeyVersion(this.api.ref, info.latestVersion, created);
  }

  async wrap(seed: Uint8Array, version: KeyVersion, signal: AbortSignal): Promise<WrappedKey> {
    throwIfAborted(signal);
    const v = this.parseKeyId(version.keyId);
    const info = await this.check(v, signal);
    if (info.minEncryptionVersion > v.version) {
      throw new KeyUnusableError(
        `transit key version ${v.version} is below min_encryption_version ${info.minEncryptionVersion}`,
      );
    }
    const ad = bindsAssociatedData(info) ? envelopeHeader(version.keyId, 'opaque') : undefined;
    const ciphertext = await this.api.encrypt(seed, v.version, ad, signal).catch((err: unknown) => {
      throw err instanceof VaultCallFailure
        ? new KeyUnusableError(`transit refused to encrypt with version ${v.version}: ${err.detail}`, { cause: err })
        : err;
    });
    const got = versionFromCiphertext(ciphertext);
    if (got !== v.version) {
      // Never label a ciphertext with a version other than the one that made it (the peer race).
      throw new KeyUnusableError(`transit answered with key version ${got ?? '?'} instead of ${v.version}`);
    }
    return { keyId: version.keyId, payload: { scheme: 'opaque', blob: encoder.encode(ciphertext) } };
  }

  async unwrap(wrapped: WrappedKey, signal: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal);
    const v = this.parseKeyId(wrapped.keyId);
    if (wrapped.payload.scheme !== 'opaque') throw new MalformedCiphertextError('not a Vault transit ciphertext');
    const ciphertext = ascii.decode(wrapped.payload.blob);
    if (versionFromCiphertext(ciphertext) !== v.version) {
      throw new MalformedCiphertextError('the transit ciphertext does not match its key_id');
    }
    const info = await this.check(v, signal);
    const ad = bindsAssociatedData(info) ? envelopeHeader(wrapped.keyId, 'opaque') : undefined;
    try {
      return await this.api.decrypt(ciphertext, ad, signal);
    } catch (err) {
      if (!(err instanceof VaultCallFailure)) throw err;
      // A 400 is either a policy change since our last read (re-check with fresh metadata) or a bad ciphertext.
      // Not rate-limited: Vault was just asked to decrypt, so this read at most doubles that call, and
      // the reason it gives (min_decryption_version raised a moment ago) must not come from a stale copy.
      const fresh = await this.api.readKey(signal);
      if (fresh) this.usable(fresh, v, wrapped.keyId);
      throw new MalformedCiphertextError('transit could not decrypt: tampered, or bound to another key_id', {
        cause: err,
      });
    }
  }

  /** Token method, expiry, login and renewal counts and last error, for health details. */
  details(): VaultTokenState {
    return this.tokenState();
  }

  credentialExpiresAt(): number | undefined {
    const at = this.tokenState().tokenExpiresAt;
    return at === undefined ? undefined : Date.parse(at);
  }

  close(): Promise<void> {
    this.onClose();
    return Promise.resolve();
  }

  private parseKeyId(keyId: KeyId): ParsedVersion {
    const v = versionFromKeyId(this.api.ref, keyId);
    if (!v) throw new KeyVersionUnknownError(`key_id ${keyId} was not issued for this Vault transit key`);
    return v;
  }

  /**
   * Checks the version against cached metadata, re-reading when it is not
   * there (rotated or recreated since); the re-reads are rate-limited, so
   * made-up key_ids cannot turn every Decrypt into a metadata read.
   */
  private async check(v: ParsedVersion, signal: AbortSignal): Promise<TransitKeyInfo> {
    const cached = await this.api.keyInfo(signal);
    if (cached && isSameVersion(cached, v)) return cached;
    const fresh = await this.api.freshKey(signal);
    if (!fresh) throw new KeyVersionUnknownError(`transit key ${this.api.ref.key} no longer exists`);
    this.usable(fresh, v, undefined);
    return fresh;
  }

  /** Throws why version `v` cannot be used now; returns when it can. */
  private usable(info: TransitKeyInfo, v: ParsedVersion, keyId: KeyId | undefined): void {
    if (v.version < info.minDecryptionVersion && v.version <= info.latestVersion) {
      throw new KeyUnusableError(
        `this ciphertext needs transit key version ${v.version}, but min_decryption_version of ${this.api.ref.key} ` +
          `is ${info.minDecryptionVersion}; lower it to ${v.version} to decrypt`,
      );
    }
    if (!isSameVersion(info, v)) {
      throw new KeyVersionUnknownError(
        `transit key ${this.api.ref.key} has no version ${keyId ?? `v${v.version}`} (deleted or recreated)`,
      );
    }
  }
}
