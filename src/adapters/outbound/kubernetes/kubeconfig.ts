import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { readSecretFile, readTrustedFile } from '../shared/secret-file.js';

/** Where the apiserver is and who we are to it: what `kubectl` would use. */
export interface KubeConnection {
  readonly server: URL;
  /** PEM; absent: the system's roots. */
  readonly ca?: string;
  readonly tlsServerName?: string;
  /** Where the settings came from, for messages: a kubeconfig path and context, or "in-cluster". */
  readonly source: string;
  /** The client credential; `fresh` asks again (an exec plugin, a rotated token file) after a 401. */
  credential(fresh: boolean): Promise<Credential>;
}

export interface Credential {
  readonly token?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly basic?: { readonly username: string; readonly password: string };
}

class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
}

// In-cluster settings, as client-go's rest.InClusterConfig reads them
// (k8s.io/client-go/rest/config.go): the service host/port and the mounted service-account files.
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The connection as kubectl resolves it (k8s.io/client-go/tools/clientcmd,
 * loader.go): --kubeconfig, else the files of $KUBECONFIG merged (the first
 * to set a name wins), else ~/.kube/config, else the in-cluster service
 * account. Supported credentials: token, tokenFile, client certificate and
 * key (data or files), basic auth, and exec plugins (client.authentication.k8s.io
 * ExecCredential); auth-provider (removed from kubectl in 1.26) and proxy-url are refused by name.
 */
export async function resolveKubeConnection(opts: {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly env: NodeJS.ProcessEnv;
}): Promise<KubeConnection> {
  const files =
    opts.kubeconfig !== undefined
      ? [opts.kubeconfig]
      : opts.env.KUBECONFIG
        ? opts.env.KUBECONFIG.split(delimiter).filter((f) => f !== '' && existsSync(f))
        : [join(opts.env.HOME ?? homedir(), '.kube', 'config')].filter((f) => existsSync(f));
  if (files.length === 0) {
    if (opts.env.KUBERNETES_SERVICE_HOST && opts.env.KUBERNETES_SERVICE_PORT) return inCluster(opts.env);
    throw new KubeConfigError(
      'no kubeconfig: give --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod (in-cluster service account)',
    );
  }
  const merged = await mergeKubeconfigs(files);
  const contextName = opts.context ?? merged.currentContext;
  if (!contextName) throw new KubeConfigError(`${files.join(delimiter)}: no current-context; give --context`);
  const context = merged.contexts.get(contextName);
  if (!context) throw new KubeConfigError(`${files.join(delimiter)}: no context named "${contextName}"`);
  const cluster = merged.clusters.get(str(context.cluster) ?? '');
  if (!cluster) throw new KubeConfigError(`context "${contextName}": no cluster named "${str(context.cluster)}"`);
  const user = merged.users.get(str(context.user) ?? '') ?? { fields: {}, dir: cluster.dir };
  const source = `kubeconfig ${files.join(delimiter)}, context ${contextName}`;
  return fromKubeconfig(cluster, user, source, opts.env);
}

interface Named {
  readonly fields: Record<string, unknown>;
  /** Relative file paths in a kubeconfig are relative to the file's directory. */
  readonly dir: string;
}

async function mergeKubeconfigs(files: readonly string[]) {
  const clusters = new Map<string, Named>();
  const users = new Map<string, Named>();
  const contexts = new Map<string, Record<string, unknown>>();
  let currentContext: string | undefined;
  for (const file of files) {
    let doc: unknown;
    try {
      doc = parse(await readTrustedFile(file, 'kubeconfig'));
    } catch (err) {
      if (err instanceof Error && err.name === 'YAMLParseError')
        throw new KubeConfigError(`kubeconfig ${file} is not YAML`);
      throw err;
    }
    const d = record(doc);
    const dir = dirname(file);
    currentContext ??= str(d['current-context']);
    for (const [list, key, into] of [
      ['clusters', 'cluster', clusters],
      ['users', 'user', users],
    ] as const)
      for (const e of Array.isArray(d[list]) ? (d[list] as unknown[]) : []) {
        const name = str(record(e).name);
        if (name !== undefined && !into.has(name)) into.set(name, { fields: record(record(e)[key]), dir });
      }
    for (const e of Array.isArray(d.contexts) ? (d.contexts as unknown[]) : []) {
      const name = str(record(e).name);
      if (name !== undefined && !contexts.has(name)) contexts.set(name, record(record(e).context));
    }
  }
  return { clusters, users, contexts, currentContext };
}

async function fromKubeconfig(
  cluster: Named,
  user: Named,
  source: string,
  env: NodeJS.ProcessEnv,
): Promise<KubeConnection> {
  const c = cluster.fields;
  const server = str(c.server);
  if (!server) throw new KubeConfigError(`${source}: the cluster has no server`);
  if (c['proxy-url'] !== undefined) throw new KubeConfigError(`${source}: proxy-url is not supported`);
  const ca = await pem(c, 'certificate-authority', cluster.dir, 'certificate authority');
  const u = user.fields;
  if (u['auth-provider'] !== undefined)
    throw new KubeConfigError(
      `${source}: auth-provider is not supported (kubectl dropped it in 1.26); use an exec plugin`,
    );
  const staticCred = async (): Promise<Credential> => {
    const token = str(u.token);
    const tokenFile = str(u.tokenFile);
    const username = str(u.username);
    const password = str(u.password);
    const cert = await pem(u, 'client-certificate', user.dir, 'client certificate');
    return {
      ...(token ? { token } : {}),
      ...(tokenFile && !token
        ? { token: (await readSecretFile(abs(tokenFile, user.dir), { what: 'token file' })).text.trim() }
        : {}),
      ...(cert === undefined ? {} : { cert }),
      ...(await clientKey(u, user.dir)),
      ...(username !== undefined && password !== undefined ? { basic: { username, password } } : {}),
    };
  };
  const exec = u.exec === undefined ? undefined : record(u.exec);
  const url = serverUrl(server, source);
  // SECURITY: reencrypt reads and writes every Secret, so it must know it talks to the apiserver.
  if (c['insecure-skip-tls-verify'] === true)
    throw new KubeConfigError(
      `${source}: insecure-skip-tls-verify is refused: kleidi reencrypt reads every Secret, so it verifies ` +
        "the apiserver's certificate; give the cluster's certificate-authority(-data)",
    );
  const credentials = ['token', 'tokenFile', 'password', 'client-key', 'client-key-data', 'exec'].some(
    (k) => u[k] !== undefined,
  );
  if (url.protocol === 'http:' && (credentials || !LOOPBACK.has(url.hostname)))
    throw new KubeConfigError(
      `${source}: plain http is allowed only to a loopback address without credentials (kubectl proxy); ` +
        `${url.host} over http would expose ${credentials ? 'the credentials and ' : ''}every Secret`,
    );
  let cached: Credential | undefined;
  return {
    server: url,
    ...(ca === undefined ? {} : { ca }),
    ...(str(c['tls-server-name']) ? { tlsServerName: str(c['tls-server-name']) } : {}),
    source,
    async credential(fresh) {
      if (cached && !fresh) return cached;
      const base = await staticCred();
      cached = exec ? { ...base, ...(await runExecPlugin(exec, user.dir, source, env)) } : base;
      return cached;
    },
  };
}

function inCluster(env: NodeJS.ProcessEnv): Promise<KubeConnection> {
  const host = env.KUBERNETES_SERVICE_HOST as string;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT}`;
  return readTrustedFile(join(SA_DIR, 'ca.crt'), 'service-account CA').then((ca) => ({
    server: serverUrl(url, 'in-cluster'),
    ca,
    source: 'in-cluster service account',
    // The kubelet rotates the projected token (hourly by default): read it again after a 401.
    credential: async () => ({ token: (await readTrustedFile(join(SA_DIR, 'token'), 'service-account token')).trim() }),
  }));
}

/** ExecCredential from the plugin's stdout (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins). */
function runExecPlugin(
  exec: Record<string, unknown>,
  dir: string,
  source: string,
  env: NodeJS.ProcessEnv,
): Promise<Credential> {
  const command = str(exec.command);
  if (!command) throw new KubeConfigError(`${source}: exec plugin without a command`);
  const apiVersion = str(exec.apiVersion) ?? 'client.authentication.k8s.io/v1';
  const args = Array.isArray(exec.args) ? exec.args.map(String) : [];
  const extra = Object.fromEntries(
    (Array.isArray(exec.env) ? exec.env : []).map((e) => [String(record(e).name), String(record(e).value)]),
  );
  // A command with a slash is relative to the kubeconfig's directory; a bare name is looked up on PATH.
  const cmd = command.includes('/') ? abs(command, dir) : command;
  const info = JSON.stringify({ apiVersion, kind: 'ExecCredential', spec: { interactive: false } });
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { env: { ...env, ...extra, KUBERNETES_EXEC_INFO: info }, timeout: 60_000, maxBuffer: 1 << 20 },
      (err, stdout) => {
        // The plugin's stderr may carry prompts or tokens; only its exit is reported.
        if (err)
          return reject(
            new KubeConfigError(`${source}: exec plugin ${command} failed (${err.code ?? err.signal ?? 'error'})`),
          );
        try {
          const status = record(record(JSON.parse(stdout)).status);
          const token = str(status.token);
          const cert = str(status.clientCertificateData);
          const key = str(status.clientKeyData);
          resolve({ ...(token ? { token } : {}), ...(cert && key ? { cert, key } : {}) });
        } catch {
          reject(new KubeConfigError(`${source}: exec plugin ${command} did not print an ExecCredential`));
        }
      },
    );
  });
}

/** `<name>-data` (base64 PEM) or `<name>` (a file path); undefined when neither is set. */
async function pem(f: Record<string, unknown>, name: string, dir: string, what: string): Promise<string | undefined> {
  const data = str(f[`${name}-data`]);
  if (data) return Buffer.from(data, 'base64').toString('utf8');
  const file = str(f[name]);
  return file ? readTrustedFile(abs(file, dir), what) : undefined;
}

/** The client key: a secret file (0600, owned by us), or inline data. */
async function clientKey(u: Record<string, unknown>, dir: string): Promise<{ key?: string }> {
  const data = str(u['client-key-data']);
  if (data) return { key: Buffer.from(data, 'base64').toString('utf8') };
  const file = str(u['client-key']);
  return file ? { key: (await readSecretFile(abs(file, dir), { what: 'client key file' })).text } : {};
}

function serverUrl(server: string, source: string): URL {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new KubeConfigError(`${source}: server ${JSON.stringify(server)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new KubeConfigError(`${source}: server ${server} is neither https nor http`);
  return url;
}

/** Hosts plain http may reach (URL.hostname keeps an IPv6 address in brackets). */
const LOOPBACK: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]']);

const abs = (p: string, dir: string): string => (isAbsolute(p) ? p : join(dir, p));
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const record = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
