import {
  type AccessToken,
  ClientCertificateCredential,
  ClientSecretCredential,
  type GetTokenOptions,
  ManagedIdentityCredential,
  type TokenCredential,
  type TokenCredentialOptions,
  WorkloadIdentityCredential,
} from '@azure/identity';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { readSecretFile } from '../shared/secret-file.js';

/**
 * How kleidi authenticates to Microsoft Entra ID, already resolved by the composition (from the
 * `azure` section or the azure.json cloud-config file). Secrets are only ever named by file.
 */
export type AzureIdentity =
  /** AKS workload identity: the projected service-account token, exchanged through a federated credential. */
  | {
      readonly kind: 'workload-identity';
      readonly tenantId: string;
      readonly clientId: string;
      readonly tokenFile: string;
    }
  /** A system-assigned (no clientId) or user-assigned managed identity, through IMDS. */
  | { readonly kind: 'managed-identity'; readonly clientId?: string }
  /** A service principal with a client secret held in a file. */
  | {
      readonly kind: 'client-secret';
      readonly tenantId: string;
      readonly clientId: string;
      readonly secretFile: string;
    }
  /** A service principal with a secret given inline by azure.json (read from that file by the composition). */
  | {
      readonly kind: 'client-secret-value';
      readonly tenantId: string;
      readonly clientId: string;
      readonly secret: string;
    }
  /** A service principal with a certificate: a PEM file with the private key and certificate. */
  | {
      readonly kind: 'client-certificate';
      readonly tenantId: string;
      readonly clientId: string;
      readonly certificateFile: string;
    };

/** A TokenCredential that remembers when its last token expires, for the credential-expiry metric. */
export class ObservedCredential implements TokenCredential {
  private expiresOn: number | undefined;

  constructor(private readonly inner: TokenCredential) {}

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    const token = await this.inner.getToken(scopes, options);
    if (token) this.expiresOn = token.expiresOnTimestamp;
    return token;
  }

  expiresAt(): number | undefined {
    return this.expiresOn;
  }
}

/**
 * The SDK credential for an identity. @azure/identity fetches tokens and refreshes them before
 * they expire (its token cycler starts 2 minutes before expiry and keeps the old token while the
 * refresh fails), so a token endpoint outage shorter than a token's remaining life fails no call.
 */
export async function credentialFor(id: AzureIdentity, options: TokenCredentialOptions): Promise<TokenCredential> {
  switch (id.kind) {
    case 'workload-identity':
      // The SDK reads the token file itself on each token request: kubelet rotates it.
      return new WorkloadIdentityCredential({
        ...options,
        tenantId: id.tenantId,
        clientId: id.clientId,
        tokenFilePath: id.tokenFile,
      });
    case 'managed-identity':
      return id.clientId
        ? new ManagedIdentityCredential({ ...options, clientId: id.clientId })
        : new ManagedIdentityCredential(options);
    case 'client-secret': {
      const secret = (
        await readSecretFile(id.secretFile, { what: 'Azure client secret file', followLinks: true, maxBytes: 4096 })
      ).text.trim();
      if (!secret) throw new BackendMisconfiguredError(`the Azure client secret file ${id.secretFile} is empty`);
      return new ClientSecretCredential(id.tenantId, id.clientId, secret, options);
    }
    case 'client-secret-value':
      return new ClientSecretCredential(id.tenantId, id.clientId, id.secret, options);
    case 'client-certificate': {
      const pem = (
        await readSecretFile(id.certificateFile, {
          what: 'Azure client certificate file',
          followLinks: true,
          maxBytes: 65536,
        })
      ).text;
      if (!pem.includes('PRIVATE KEY-----') || !pem.includes('BEGIN CERTIFICATE')) {
        throw new BackendMisconfiguredError(
          `${id.certificateFile} must be a PEM file with the private key and the certificate (convert a PFX with openssl pkcs12 -nodes)`,
        );
      }
      return new ClientCertificateCredential(id.tenantId, id.clientId, { certificate: pem }, options);
    }
  }
}
