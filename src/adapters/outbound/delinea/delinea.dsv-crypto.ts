import { BackendMisconfiguredError, MalformedCiphertextError } from '../../../domain/model/errors.js';
import type { DelineaApi, StatusMeaning } from './delinea.api.js';
import type { DelineaCallFailure } from './delinea.errors.js';

/** The key does not exist (404): `kleidi init` has not run, or the key was deleted. */
class DsvKeyMissingError extends BackendMisconfiguredError {}

/**
 * DSV's encryption as a service on one auto key (the requests of Delinea's DSV CLI,
 * https://github.com/DelineaXPM/dsv-cli/blob/main/commands/encryption_auto.go, against the DSV
 * API, https://docs.delinea.com/online-help/devops-secrets-vault/api-reference/index.htm):
 * `POST|GET /v1/crypto/key/{path}`, `POST /v1/crypto/encrypt {path, plaintext, version}`,
 * `POST /v1/crypto/decrypt {path, ciphertext, version}` → `{path, data, version}`,
 * `POST /v1/crypto/rotate {path, ciphertext, startingVersion, endingVersion}`. The encrypt and
 * rotate answers are read as `{path, ciphertext, version}`: the CLI saves an encrypt answer and
 * sends it back unchanged as a decrypt request (inferred; docs/adr/0013-delinea-backend.md).
 * Versions travel as decimal strings. Seeds are sent base64-encoded, as the CLI sends file data.
 */
export class DsvCrypto {
  constructor(
    private readonly api: DelineaApi,
    readonly path: string,
  ) {}

  get where(): string {
    return `DSV key ${this.path}`;
  }

  private readonly missing = {
    404: (f: DelineaCallFailure) =>
      new DsvKeyMissingError(
        `${this.where} does not exist (run \`kleidi init\`, or restore a deleted key with \`dsv crypto key restore\`)`,
        { cause: f },
      ),
  };

  /** Whether the key exists (GET metadata: 200, or 404). */
  async exists(signal: AbortSignal): Promise<boolean> {
    try {
      await this.api.call({ method: 'GET', path: this.keyUrl }, `reading ${this.where}`, signal, this.missing);
      return true;
    } catch (err) {
      if (err instanceof DsvKeyMissingError) return false;
      throw err;
    }
  }

  async create(signal: AbortSignal): Promise<void> {
    await this.api.call({ method: 'POST', path: this.keyUrl }, `creating ${this.where}`, signal);
  }

  async encrypt(plaintext: Uint8Array, version: number | undefined, signal: AbortSignal) {
    const body = { path: this.path, plaintext: Buffer.from(plaintext).toString('base64'), version: v(version) };
    return this.ciphertextAnswer(await this.post('/v1/crypto/encrypt', body, `encrypting with ${this.where}`, signal));
  }

  async decrypt(ciphertext: string, version: number, signal: AbortSignal): Promise<Uint8Array> {
    const body = { path: this.path, ciphertext, version: v(version) };
    const reply = await this.post('/v1/crypto/decrypt', body, `decrypting with ${this.where}`, signal, {
      ...this.missing,
      // DSV answers 400 for a ciphertext it cannot open (tampered, truncated, another key).
      400: (f: DelineaCallFailure) =>
        new MalformedCiphertextError(`${this.where} could not decrypt the ciphertext (400)`, { cause: f }),
    });
    const data = field(reply, 'data');
    if (typeof data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) {
      throw new MalformedCiphertextError(`${this.where} returned data that is not a wrapped seed`);
    }
    return new Uint8Array(Buffer.from(data, 'base64'));
  }

  /** Re-encrypts `ciphertext` (made with `from`) under a new key version; DSV creates that version. */
  async rotate(ciphertext: string, from: number, signal: AbortSignal) {
    const body = { path: this.path, ciphertext, startingVersion: v(from), endingVersion: '' };
    return this.ciphertextAnswer(await this.post('/v1/crypto/rotate', body, `rotating ${this.where}`, signal));
  }

  private get keyUrl(): string {
    return `/v1/crypto/key/${this.path.split('/').map(encodeURIComponent).join('/')}`;
  }

  private async post(
    url: string,
    body: Record<string, string>,
    what: string,
    signal: AbortSignal,
    meaning: StatusMeaning = this.missing,
  ): Promise<unknown> {
    const reply = await this.api.call(
      { method: 'POST', path: url, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
      what,
      signal,
      meaning,
    );
    try {
      return JSON.parse(reply.body) as unknown;
    } catch {
      throw new BackendMisconfiguredError(`${what}: the answer is not JSON`);
    }
  }

  private ciphertextAnswer(reply: unknown): { ciphertext: string; version: number } {
    const ciphertext = field(reply, 'ciphertext');
    const version = Number(field(reply, 'version'));
    if (typeof ciphertext !== 'string' || ciphertext === '' || !Number.isSafeInteger(version) || version < 1) {
      throw new BackendMisconfiguredError(`${this.where}: the answer has no ciphertext and version`);
    }
    return { ciphertext, version };
  }
}

const v = (n: number | undefined): string => (n === undefined ? '' : String(n));

function field(x: unknown, k: string): unknown {
  return typeof x === 'object' && x !== null ? (x as Record<string, unknown>)[k] : undefined;
}
