import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { EtcdServer } from './etcd-server.js';

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl(1) from Debian. */
export async function makePki(dir: string) {
  const p = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  for (const ca of ['ca', 'other-ca']) {
    ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${ca}`,
      '-keyout',
      p(`${ca}.key`),
      '-out',
      p(`${ca}.crt`),
    );
  }
  const leaf = (name: string, ext: string) => {
    ssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      p(`${name}.key`),
      '-out',
      p(`${name}.csr`),
    );
    writeFileSync(p(`${name}.ext`), ext);
    ssl(
      'x509',
      '-req',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p('ca.crt'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      p(`${name}.ext`),
      '-out',
      p(`${name}.crt`),
    );
  };
  leaf('server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'extendedKeyUsage=clientAuth\n');
  for (const k of ['server.key', 'client.key']) await chmod(p(k), 0o600);
  return {
    ca: p('ca.crt'),
    otherCa: p('other-ca.crt'),
    server: p('server.crt'),
    serverKey: p('server.key'),
    client: p('client.crt'),
    clientKey: p('client.key'),
  };
}

/** A test etcd that requires client certificates from `pki`'s CA, as kubeadm sets it up; started. */
export async function startEtcdWithClientCerts(
  dir: string,
  pki: Awaited<ReturnType<typeof makePki>>,
): Promise<EtcdServer> {
  const etcd = new EtcdServer(dir, {
    certFile: pki.server,
    keyFile: pki.serverKey,
    trustedCaFile: pki.ca,
    clientCreds: credentials.createSsl(
      await readFile(pki.ca),
      await readFile(pki.clientKey),
      await readFile(pki.client),
    ),
  });
  await etcd.start();
  return etcd;
}
