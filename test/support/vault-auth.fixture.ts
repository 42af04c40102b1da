import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { VaultServer } from './vault-server.fixture.js';

/** The minimum policy docs/backends/vault.md documents: encrypt, decrypt, read key metadata. */
export function minimalPolicy(mount = 'transit', key = 'kleidi'): string {
  return [
    `path "${mount}/encrypt/${key}" { capabilities = ["update"] }`,
    `path "${mount}/decrypt/${key}" { capabilities = ["update"] }`,
    `path "${mount}/keys/${key}" { capabilities = ["read"] }`,
  ].join('\n');
}

export async function writePolicy(server: VaultServer, name: string, policy: string): Promise<void> {
  await server.api('PUT', `sys/policies/acl/${name}`, { policy });
}

/** A token with `policies` (plus Vault's default policy), as an operator would hand to kleidi. */
export async function createToken(server: VaultServer, policies: string[], ttl = '1h'): Promise<string> {
  const r = await server.api('POST', 'auth/token/create', { policies, ttl });
  return (r.auth as { client_token: string }).client_token;
}

/** Enables AppRole at `mount` with role "kleidi"; returns its role_id and a fresh secret_id. */
export async function setUpAppRole(
  server: VaultServer,
  role: Record<string, unknown>,
  mount = 'approle',
): Promise<{ roleId: string; newSecretId: () => Promise<string> }> {
  await server.api('POST', `sys/auth/${mount}`, { type: 'approle' });
  await server.api('POST', `auth/${mount}/role/kleidi`, role);
  const r = await server.api('GET', `auth/${mount}/role/kleidi/role-id`);
  const newSecretId = async () =>
    ((await server.api('POST', `auth/${mount}/role/kleidi/secret-id`)).data as { secret_id: string }).secret_id;
  return { roleId: (r.data as { role_id: string }).role_id, newSecretId };
}

/**
 * A stand-in for the kube-apiserver's TokenReview API on loopback: tokens in
 * `valid` are authenticated as their service account. Vault's Kubernetes auth
 * calls it for every login.
 */
export interface TokenReviewer {
  readonly url: string;
  readonly reviews: string[];
  readonly valid: Map<string, { namespace: string; name: string; uid: string }>;
  close(): Promise<void>;
}

export async function startTokenReviewer(): Promise<TokenReviewer> {
  const reviews: string[] = [];
  const valid = new Map<string, { namespace: string; name: string; uid: string }>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const token = (JSON.parse(body) as { spec: { token: string } }).spec.token;
      reviews.push(req.url ?? '');
      const sa = valid.get(token);
      const status = sa
        ? { authenticated: true, user: { username: `system:serviceaccount:${sa.namespace}:${sa.name}`, uid: sa.uid } }
        : { authenticated: false };
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status }));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    reviews,
    valid,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}

/** A service-account-shaped JWT (ES256); Vault parses its claims, the TokenReview vouches for it. */
export function serviceAccountJwt(
  namespace: string,
  name: string,
  uid: string = randomUUID(),
): { jwt: string; uid: string } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: 'kubernetes/serviceaccount',
    sub: `system:serviceaccount:${namespace}:${name}`,
    iat: now,
    exp: now + 3600,
    'kubernetes.io/serviceaccount/namespace': namespace,
    'kubernetes.io/serviceaccount/service-account.name': name,
    'kubernetes.io/serviceaccount/service-account.uid': uid,
  };
  const input = `${b64({ alg: 'ES256', typ: 'JWT' })}.${b64(claims)}`;
  const sig = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return { jwt: `${input}.${sig.toString('base64url')}`, uid };
}

/** A self-signed client certificate (openssl CLI) for TLS cert auth; the key file is 0600. */
export async function clientCertificate(
  dir: string,
  cn = 'kleidi',
): Promise<{ certFile: string; keyFile: string; pem: string }> {
  const { certFile, keyFile } = selfSignedCertificate(dir, cn, 'extendedKeyUsage=clientAuth');
  return { certFile, keyFile, pem: await readFile(certFile, 'utf8') };
}

/**
 * A self-signed EC certificate for `cn` with one extension (openssl CLI); it
 * is its own CA. The key file is 0600.
 */
export function selfSignedCertificate(
  dir: string,
  cn: string,
  extension: string,
): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${cn}-cert.pem`);
  const keyFile = join(dir, `${cn}-key.pem`);
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '1',
        '-subj',
        `/CN=${cn}`,
        '-addext',
        extension,
      ],
      { stdio: 'pipe' },
    );
    chmodSync(keyFile, 0o600);
  } catch (err) {
    throw new Error(`creating a certificate needs the openssl CLI (Debian: apt-get install openssl): ${String(err)}`);
  }
  return { certFile, keyFile };
}
