import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import { Backoff } from '../shared/backoff.js';
import type { VaultRequest, VaultTransitClient } from './vault-transit.client.js';
import { isPermissionDenied } from './vault-transit.errors.js';
import type { VaultTokenRenewer } from './vault-transit.token-renewer.js';

/**
 * Authenticated requests with kleidi's re-login rule: a 403 gets at most one
 * fresh login and one retry. A 403 that survives a fresh login is a policy
 * problem; it is reported as misconfigured, and for a growing quiet period
 * further calls fail at once instead of reaching Vault (no hammering), until
 * one call is let through to see whether an operator fixed it.
 */
export class VaultSession {
  private denied: BackendMisconfiguredError | undefined;
  /** The quiet period after a denial, doubling while denials repeat. */
  private readonly quiet: Backoff;

  constructor(
    private readonly client: VaultTransitClient,
    private readonly renewer: VaultTokenRenewer,
    clock: Clock,
    backoff: { readonly minBackoffMs: number; readonly maxBackoffMs: number },
  ) {
    this.quiet = new Backoff({ minMs: backoff.minBackoffMs, maxMs: backoff.maxBackoffMs }, clock);
  }

  /**
   * Sends `req` with the current token. Rejects with a KmsError or, for an
   * answer only the caller can interpret (a transit 400), a VaultCallFailure.
   */
  async call(req: Omit<VaultRequest, 'token'>, signal: AbortSignal): Promise<unknown> {
    // Quiet period after a denial, unless an operator has replaced the credential meanwhile.
    if (this.denied && this.quiet.remainingMs() > 0 && !(await this.renewer.credentialsChanged())) {
      throw this.denied;
    }
    const token = await this.renewer.token(signal);
    try {
      return this.succeeded(await this.client.send({ ...req, token }, signal), token);
    } catch (err) {
      if (!isPermissionDenied(err)) throw err;
    }
    const fresh = await this.renewer.replace(token, signal);
    if (fresh !== undefined) {
      try {
        return this.succeeded(await this.client.send({ ...req, token: fresh }, signal), fresh);
      } catch (err) {
        if (!isPermissionDenied(err)) throw err;
      }
    }
    throw this.deny(req.path);
  }

  private succeeded(body: unknown, token: string): unknown {
    this.quiet.reset();
    this.denied = undefined;
    this.renewer.noteSuccess(token);
    return body;
  }

  private deny(path: string): BackendMisconfiguredError {
    this.quiet.fail();
    this.denied = new BackendMisconfiguredError(
      `Vault denied ${path} after a fresh login: kleidi's policy lacks a capability on this path ` +
        `(or the token was revoked and cannot be replaced)`,
    );
    return this.denied;
  }
}
