import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveKubeConnection } from '#src/adapters/outbound/kubernetes/kubeconfig.js';

const CA = '-----BEGIN CERTIFICATE-----\nnot-checked-here\n-----END CERTIFICATE-----\n';

describe("resolveKubeConnection: kubectl's loading rules", () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-kubeconfig-'));
    await mkdir(join(dir, 'pki'));
    await writeFile(join(dir, 'pki/ca.crt'), CA, { mode: 0o644 });
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));
  const file = async (name: string, doc: unknown, mode = 0o600) => {
    const path = join(dir, name);
    await writeFile(path, typeof doc === 'string' ? doc : JSON.stringify(doc), { mode });
    return path;
  };
  const config = (over: Record<string, unknown> = {}) => ({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c1', cluster: { server: 'https://10.0.0.1:6443', 'certificate-authority': 'pki/ca.crt' } }],
    users: [{ name: 'u1', user: { token: 'tok-1' } }],
    contexts: [
      { name: 'one', context: { cluster: 'c1', user: 'u1' } },
      { name: 'two', context: { cluster: 'c2', user: 'u2' } },
    ],
    'current-context': 'one',
    ...over,
  });

  it('--kubeconfig: the current context, a CA path relative to the file, the token', async () => {
    const path = await file('config', config());
    const c = await resolveKubeConnection({ kubeconfig: path, env: {} });
    expect(c.server.href).toBe('https://10.0.0.1:6443/');
    expect(c.ca).toBe(CA);
    expect(c.source).toBe(`kubeconfig ${path}, context one`);
    expect(await c.credential(false)).toEqual({ token: 'tok-1' });
  });

  it('$KUBECONFIG: files merged, the first to name a cluster, user or current-context wins', async () => {
    const a = await file('a', {
      clusters: [{ name: 'c2', cluster: { server: 'https://a:6443', 'tls-server-name': 'a.example' } }],
      users: [
        {
          name: 'u2',
          user: {
            'client-certificate-data': Buffer.from('CERT').toString('base64'),
            'client-key-data': Buffer.from('KEY').toString('base64'),
          },
        },
      ],
      'current-context': 'two',
    });
    const b = await file(
      'b',
      config({ clusters: [...config().clusters, { name: 'c2', cluster: { server: 'https://b:6443' } }] }),
    );
    const c = await resolveKubeConnection({ env: { KUBECONFIG: `${a}:${join(dir, 'absent')}:${b}` } });
    expect(c.server.host).toBe('a:6443');
    expect(c.tlsServerName).toBe('a.example');
    expect(await c.credential(false)).toEqual({ cert: 'CERT', key: 'KEY' });
    const one = await resolveKubeConnection({ context: 'one', env: { KUBECONFIG: `${a}:${b}` } });
    expect(one.server.host).toBe('10.0.0.1:6443');
  });

  it('refuses insecure-skip-tls-verify, and plain http except to a loopback address without credentials', async () => {
    const insecure = await file(
      'insecure',
      config({
        clusters: [{ name: 'c1', cluster: { server: 'https://10.0.0.1:6443', 'insecure-skip-tls-verify': true } }],
      }),
    );
    await expect(resolveKubeConnection({ kubeconfig: insecure, env: {} })).rejects.toThrow(
      /insecure-skip-tls-verify is refused/,
    );
    const clear = await file(
      'clear',
      config({ clusters: [{ name: 'c1', cluster: { server: 'http://10.0.0.1:8080' } }] }),
    );
    await expect(resolveKubeConnection({ kubeconfig: clear, env: {} })).rejects.toThrow(
      /plain http is allowed only to a loopback address without credentials .* expose the credentials and every Secret/,
    );
    const proxy = await file(
      'proxy',
      config({
        clusters: [{ name: 'c1', cluster: { server: 'http://127.0.0.1:8001' } }],
        users: [{ name: 'u1', user: {} }],
      }),
    );
    expect((await resolveKubeConnection({ kubeconfig: proxy, env: {} })).server.href).toBe('http://127.0.0.1:8001/');
  });

  it('an exec plugin: run without a shell, told it is not interactive; asked again after a 401', async () => {
    const plugin = await file(
      'plugin.sh',
      `#!/bin/sh\nn=$(cat "${dir}/n" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "${dir}/n"\n` +
        `case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) ;; *) exit 3;; esac\n` +
        `echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-'$n'-'"$1"'"}}'\n`,
      0o700,
    );
    const path = await file(
      'config',
      config({
        users: [
          {
            name: 'u1',
            user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: './plugin.sh', args: ['arg'] } },
          },
        ],
      }),
    );
    await chmod(plugin, 0o700);
    const c = await resolveKubeConnection({ kubeconfig: path, env: { PATH: process.env.PATH } });
    expect(await c.credential(false)).toEqual({ token: 'exec-1-arg' });
    expect(await c.credential(false)).toEqual({ token: 'exec-1-arg' });
    expect(await c.credential(true)).toEqual({ token: 'exec-2-arg' });
  });

  it('clear refusals: no kubeconfig anywhere, no such context, auth-provider, a kubeconfig others may write', async () => {
    await expect(resolveKubeConnection({ env: { HOME: dir } })).rejects.toThrow(
      'no kubeconfig: give --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod',
    );
    const path = await file('config', config());
    await expect(resolveKubeConnection({ kubeconfig: path, context: 'nope', env: {} })).rejects.toThrow(
      `${path}: no context named "nope"`,
    );
    const ap = await file('ap', config({ users: [{ name: 'u1', user: { 'auth-provider': { name: 'gcp' } } }] }));
    await expect(resolveKubeConnection({ kubeconfig: ap, env: {} })).rejects.toThrow(/auth-provider is not supported/);
    const open = await file('open', config(), 0o666);
    await chmod(open, 0o666);
    await expect(resolveKubeConnection({ kubeconfig: open, env: {} })).rejects.toThrow(
      /must not be writable by group or others/,
    );
  });
});
