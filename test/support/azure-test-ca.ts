import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A CA made at test time, the TLS certificate it issued for loopback, and its files. */
export interface AzureTestCa {
  /** PEM of the CA certificate: what clients trust (NODE_EXTRA_CA_CERTS, azure.caFile). */
  readonly caPem: string;
  readonly caFile: string;
  /** The server certificate (SAN 127.0.0.1, ::1, localhost) and its key, for https.createServer. */
  readonly certPem: string;
  readonly keyPem: string;
  readonly dir: string;
}

let cached: AzureTestCa | undefined;

/**
 * One test CA per process (openssl CLI): an EC P-256 root that signs one server certificate for
 * the loopback names. Nothing is shipped in the repository; the files live in a fresh temporary
 * directory, the keys 0600. Both fake servers (Key Vault, Entra ID) present the same certificate.
 */
export function azureTestCa(): AzureTestCa {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'kleidi-azure-ca-'));
  const f = (name: string) => join(dir, name);
  const ssl = (args: string[]) => {
    try {
      execFileSync('openssl', args, { stdio: 'pipe' });
    } catch (err) {
      throw new Error(`the Azure test CA needs the openssl CLI (Debian: apt-get install openssl): ${String(err)}`);
    }
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=kleidi azure test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  ssl(['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost']);
  writeFileSync(
    f('server.ext'),
    'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
  );
  ssl([
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('server.pem'),
    '-days',
    '2',
    '-extfile',
    f('server.ext'),
  ]);
  chmodSync(f('ca.key'), 0o600);
  chmodSync(f('server.key'), 0o600);
  cached = {
    caPem: readFileSync(f('ca.pem'), 'utf8'),
    caFile: f('ca.pem'),
    certPem: readFileSync(f('server.pem'), 'utf8'),
    keyPem: readFileSync(f('server.key'), 'utf8'),
    dir,
  };
  return cached;
}

/**
 * A self-signed RSA client certificate and key in one PEM file (the form ClientCertificateCredential
 * reads), for service-principal certificate auth against the fake Entra ID.
 */
export function clientCertificatePem(dir: string, cn = 'kleidi-sp'): { file: string; certPem: string } {
  const key = join(dir, `${cn}.key`);
  const cert = join(dir, `${cn}.crt`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${cn}`],
    { stdio: 'pipe' },
  );
  const certPem = readFileSync(cert, 'utf8');
  const file = join(dir, `${cn}.pem`);
  writeFileSync(file, readFileSync(key, 'utf8') + certPem, { mode: 0o600 });
  return { file, certPem };
}
