import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { freePort } from './etcd.js';
import { Child, waitFor } from './process.js';

/** A KMSv2 provider of an EncryptionConfiguration: its name and kleidi's socket. */
export interface KmsProvider {
  readonly name: string;
  readonly socket: string;
}

/**
 * The EncryptionConfiguration an operator writes: KMS v2 providers (apiVersion v2 must be explicit,
 * it defaults to v1: k8s.io/apiserver/pkg/apis/apiserver/v1/defaults.go), identity last so data
 * written before encryption stays readable.
 */
function encryptionConfig(providers: readonly KmsProvider[]): string {
  const kms = providers.map(
    (p) =>
      `      - kms:\n          apiVersion: v2\n          name: ${p.name}\n          endpoint: unix://${p.socket}\n          timeout: 3s\n`,
  );
  return `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources:
      - secrets
      - configmaps
    providers:
${kms.join('')}      - identity: {}
`;
}

export interface Response {
  readonly status: number;
  readonly body: string;
}

/** One kube-apiserver process on 127.0.0.1, its own cert dir, a static bearer token. */
export class ApiServer {
  private readonly child: Child;
  private readonly token = randomBytes(24).toString('hex');
  private ca: Buffer | undefined;
  port = 0;
  readonly configPath: string;

  constructor(
    readonly name: string,
    private readonly bin: string,
    private readonly dir: string,
    private readonly etcdUrl: string,
  ) {
    this.child = new Child(name, join(dir, `${name}.log`));
    this.configPath = join(dir, `${name}-encryption-config.yaml`);
  }

  /** Writes the EncryptionConfiguration atomically (the automatic reload watches this file). */
  async writeConfig(providers: readonly KmsProvider[]): Promise<void> {
    const tmp = `${this.configPath}.tmp`;
    await writeFile(tmp, encryptionConfig(providers), { mode: 0o600 });
    await rename(tmp, this.configPath);
  }

  /** Starts kube-apiserver and waits until /readyz answers 200. The seconds it took. */
  async start(limitMs = 120_000): Promise<number> {
    const saKey = join(this.dir, 'sa.key');
    const tokens = join(this.dir, `${this.name}-tokens.csv`);
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' }).catch(
      (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      },
    );
    await writeFile(tokens, `${this.token},e2e-admin,e2e-admin,"system:masters"\n`, { mode: 0o600 });
    if (this.port === 0) this.port = await freePort();
    const certDir = join(this.dir, `${this.name}-certs`);
    const t0 = performance.now();
    this.child.start(
      this.bin,
      [
        `--etcd-servers=${this.etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${this.port}`,
        `--cert-dir=${certDir}`,
        `--token-auth-file=${tokens}`,
        '--authorization-mode=AlwaysAllow',
        '--endpoint-reconciler-type=none',
        '--service-cluster-ip-range=10.0.0.0/24',
        `--service-account-key-file=${saKey}`,
        `--service-account-signing-key-file=${saKey}`,
        '--service-account-issuer=https://kubernetes.default.svc',
        `--encryption-provider-config=${this.configPath}`,
        '--encryption-provider-config-automatic-reload=true',
        '--v=2',
      ],
      process.env,
    );
    let exited = false;
    void this.child.exited().then(() => (exited = true));
    await waitFor(
      `${this.name} /readyz`,
      async () => {
        if (exited) throw new Error(`${this.name} exited during startup (see ${this.dir}/${this.name}.log)`);
        this.ca ??= await readFile(join(certDir, 'apiserver.crt')).catch(() => undefined);
        return (await this.get('/readyz')).status === 200;
      },
      limitMs,
      250,
    ).catch(async (e: Error) => {
      if (exited) throw new Error(`${this.name} exited during startup:\n${await this.logTail()}`);
      throw e;
    });
    return Math.round((performance.now() - t0) / 100) / 10;
  }

  stop(): Promise<void> {
    return this.child.stop('SIGTERM');
  }

  /** A kubeconfig (0600) for this apiserver: its CA inline and the admin's bearer token, as kubectl reads it. */
  async writeKubeconfig(path: string): Promise<void> {
    if (!this.ca) throw new Error(`${this.name}: no serving certificate yet`);
    const doc = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: this.name,
          cluster: {
            server: `https://127.0.0.1:${this.port}`,
            'certificate-authority-data': this.ca.toString('base64'),
          },
        },
      ],
      users: [{ name: 'e2e-admin', user: { token: this.token } }],
      contexts: [{ name: 'e2e', context: { cluster: this.name, user: 'e2e-admin' } }],
      'current-context': 'e2e',
    };
    await writeFile(path, JSON.stringify(doc, null, 2), { mode: 0o600 });
  }

  get running(): boolean {
    return this.child.running;
  }

  async logTail(lines = 30): Promise<string> {
    const text = await readFile(join(this.dir, `${this.name}.log`), 'utf8').catch(() => '');
    return text.split('\n').slice(-lines).join('\n');
  }

  get(path: string): Promise<Response> {
    return this.request('GET', path);
  }

  /** One HTTPS request to this apiserver with the bearer token; the CA is the apiserver's self-signed one. */
  request(method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<Response> {
    const ca = this.ca;
    if (!ca) return Promise.reject(new Error(`${this.name}: no serving certificate yet`));
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path,
          ca,
          agent: false,
          timeout: timeoutMs,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'application/json',
            ...(data === undefined ? {} : { 'content-type': 'application/json' }),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(data);
    });
  }
}
