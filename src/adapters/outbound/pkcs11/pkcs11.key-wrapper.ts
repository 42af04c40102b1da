import pkcs11js from 'pkcs11js';
import { envelopeHeader } from '../../../domain/model/envelope.js';
import { KeyUnusableError, KeyVersionUnknownError, MalformedCiphertextError } from '../../../domain/model/errors.js';
import type { KeyId } from '../../../domain/model/key-id.js';
import type { KeyVersion, WrappedKey } from '../../../domain/model/key-version.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { KeyWrapper } from '../../../ports/outbound/key-wrapper.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { gcmNonce, gcmParts } from '../shared/aes-gcm.js';
import { selectCurrent } from './pkcs11.catalog.js';
import type { Pkcs11Connection } from './pkcs11.connection.js';
import type { LiveToken } from './pkcs11.token.js';
import { ckrOf } from './pkcs11.errors.js';
import { gcmDecrypt, gcmEncrypt, KCV_BYTES } from './pkcs11.gcm.js';
import { refusedMessage } from './pkcs11.keys.js';
import { tokenAnswers } from './pkcs11.module.js';
import type { Pkcs11Options } from './pkcs11.options.js';
import { openConnection, type ConnectionLease } from './pkcs11.shared.js';

/**
 * KeyWrapper on a PKCS#11 token: AES-256-GCM inside the token with a random
 * 96-bit IV from node:crypto (Cryptoki 2.40's CKM_AES_GCM takes the IV from the
 * caller; a token-generated IV needs PKCS#11 3.0's message-based encryption,
 * https://docs.oasis-open.org/pkcs11/pkcs11-curr/v3.0/os/pkcs11-curr-v3.0-os.html, which SoftHSM 2.6 does
 * not implement) and the envelope header as AAD, so the format and the key_id
 * are authenticated with the seed. The KEK never leaves the token.
 */
export class Pkcs11KeyWrapper implements KeyWrapper {
  readonly backend = 'pkcs11';
  private readonly ownId: RegExp;

  private constructor(
    private readonly conn: Pkcs11Connection,
    private readonly lease: ConnectionLease,
    private readonly options: Pkcs11Options,
  ) {
    this.ownId = new RegExp(`^pkcs11:${escapeRegExp(options.keyLabel)}:v[1-9][0-9]{0,8}:[0-9a-f]{${KCV_BYTES * 2}}$`);
  }

  /** Loads the module and connects; see openConnection for what is fatal at startup. */
  static async open(options: Pkcs11Options, log: Logger, clock: Clock): Promise<Pkcs11KeyWrapper> {
    const lease = await openConnection(options, log, clock);
    return new Pkcs11KeyWrapper(lease.connection, lease, options);
  }

  currentVersion(signal: AbortSignal): Promise<KeyVersion> {
    return this.conn.call('reading key versions', signal, async (t) => {
      const kek = selectCurrent(await t.catalog.scan(), this.options.keyLabel, this.options.keyVersion);
      return { keyId: kek.keyId, version: kek.version };
    });
  }

  wrap(seed: Uint8Array, version: KeyVersion, signal: AbortSignal): Promise<WrappedKey> {
    return this.conn.call('wrap', signal, async (t, s) => {
      const kek = await t.catalog.find(version.keyId);
      if (!kek) throw new KeyUnusableError(`key ${version.keyId} is no longer on the token`);
      if (kek.state === 'retired') throw retired(version.keyId);
      if (kek.refusal) throw new KeyUnusableError(refusedMessage(this.options.keyLabel, kek.version, kek.refusal));
      const nonce = gcmNonce();
      const aad = envelopeHeader(version.keyId, 'aes-256-gcm');
      const sealed = await t.pool.use(s, (session) =>
        gcmEncrypt(t.lib, session, kek.handle, nonce, aad, seed, t.calls),
      );
      return { keyId: version.keyId, payload: { scheme: 'aes-256-gcm', nonce: new Uint8Array(nonce), sealed } };
    });
  }

  unwrap(wrapped: WrappedKey, signal: AbortSignal): Promise<Uint8Array> {
    let p: ReturnType<typeof gcmParts>;
    try {
      p = gcmParts(wrapped.payload, this.backend);
    } catch (err) {
      return Promise.reject(err);
    }
    // Decided without the token: a key_id this label never issued (another backend, another label).
    if (!this.ownId.test(wrapped.keyId)) return Promise.reject(unknown(wrapped.keyId));
    return this.conn.call('unwrap', signal, async (t, s) => {
      const kek = await t.catalog.find(wrapped.keyId);
      // A node with different key material computes a different check value, so it lands
      // here with NOT_FOUND instead of failing the tag check (docs/adr/0004-pkcs11-key-versions.md).
      if (!kek) throw unknown(wrapped.keyId);
      if (kek.state === 'retired') throw retired(wrapped.keyId);
      // SECURITY: data under a refused key stays unreadable until the operator accepts the risk.
      if (kek.refusal) throw new KeyUnusableError(refusedMessage(this.options.keyLabel, kek.version, kek.refusal));
      const aad = envelopeHeader(wrapped.keyId, 'aes-256-gcm');
      return t.pool
        .use(s, (session) => gcmDecrypt(t.lib, session, kek.handle, p.nonce, aad, p.sealed, t.calls))
        .catch((err: unknown) => Promise.reject(authFailure(t, err)));
    });
  }

  close(): Promise<void> {
    return this.lease.release();
  }
}

/**
 * SoftHSM reports a GCM tag mismatch as CKR_GENERAL_ERROR (SymDecrypt in
 * https://github.com/softhsm/SoftHSMv2/blob/2.6.1/src/lib/SoftHSM.cpp),
 * the same code it uses when its token vanished; a token that still answers
 * C_GetTokenInfo means the ciphertext was at fault.
 */
function authFailure(t: LiveToken, err: unknown): unknown {
  if (ckrOf(err) === pkcs11js.CKR_GENERAL_ERROR && tokenAnswers(t.lib, t.slot)) {
    return new MalformedCiphertextError('ciphertext failed authentication in the token', { cause: err });
  }
  return err;
}

function retired(keyId: KeyId): KeyUnusableError {
  return new KeyUnusableError(`key_id ${keyId} was retired (marked retired on the token)`);
}

function unknown(keyId: KeyId): KeyVersionUnknownError {
  return new KeyVersionUnknownError(`this plugin's PKCS#11 token holds no key with key_id ${keyId}`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
}
