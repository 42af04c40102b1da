import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { readTrustedFile } from '../shared/secret-file.js';
import { readSecretFile } from './vault-transit.files.js';

/** TLS settings for the connection to Vault; files are read by `buildAgent`. */
export interface VaultTlsSettings {
  /** PEM bundle that signs Vault's server certificate; the system roots when absent. */
  readonly caFile?: string;
  /** Client certificate and key (PEM), for TLS cert auth or a listener that requires them. */
  readonly clientCertFile?: string;
  readonly clientKeyFile?: string;
  /** Name to verify in Vault's certificate when it differs from the address's host. */
  readonly serverName?: string;
}

/** Concurrent requests to Vault; more wait in the agent's queue. */
const MAX_SOCKETS = 32;

/** Sockets idle longer than this are closed by us before Vault's own idle timeout can race a request. */
const IDLE_SOCKET_MS = 30_000;

/**
 * Builds the keep-alive agent for Vault's address, reading the CA and the
 * client certificate now, so a renewed certificate is picked up by the next
 * call (cert auth calls this again before every login).
 */
export async function buildAgent(address: URL, tls: VaultTlsSettings): Promise<HttpAgent> {
  // maxFreeSockets = maxSockets: with fewer, every burst of answers beyond that many closes the
  // extra sockets and the next requests open new connections (measured: with 8, 16 callers
  // opened a TCP connection for about every second Decrypt; docs/benchmarks.md).
  const common = { keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: MAX_SOCKETS, timeout: IDLE_SOCKET_MS };
  if (address.protocol === 'http:') {
    if (tls.caFile || tls.clientCertFile) {
      throw new BackendMisconfiguredError(`Vault address ${address.origin} is plain http but TLS files are configured`);
    }
    return new HttpAgent(common);
  }
  if (address.protocol !== 'https:') {
    throw new BackendMisconfiguredError(`Vault address must be http:// or https://, not ${address.protocol}`);
  }
  if (Boolean(tls.clientCertFile) !== Boolean(tls.clientKeyFile)) {
    throw new BackendMisconfiguredError('clientCertFile and clientKeyFile must be set together');
  }
  const ca = tls.caFile ? await readPublicFile(tls.caFile, 'CA file') : undefined;
  const cert = tls.clientCertFile ? await readPublicFile(tls.clientCertFile, 'client certificate') : undefined;
  // SECURITY: the client key is a credential, so it gets the same file-mode check as tokens.
  const key = tls.clientKeyFile ? await readSecretFile(tls.clientKeyFile, 'client key') : undefined;
  return new HttpsAgent({
    ...common,
    ...(ca ? { ca } : {}),
    ...(cert && key ? { cert, key } : {}),
    // Node verifies the certificate against `servername` when set (and sends it as SNI),
    // like VAULT_TLS_SERVER_NAME does for Vault's own CLI.
    ...(tls.serverName ? { servername: tls.serverName } : {}),
    minVersion: 'TLSv1.2',
  });
}

/** A CA bundle or client certificate: not secret, but a trust anchor (readTrustedFile). */
function readPublicFile(path: string, what: string): Promise<string> {
  return readTrustedFile(path, `Vault ${what}`);
}
