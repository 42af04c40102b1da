import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DoctorSubject } from '#src/adapters/inbound/cli/cli-app.js';
import { diagnose } from '#src/adapters/inbound/cli/doctor/doctor.js';
import type { DoctorCheck } from '#src/adapters/inbound/cli/doctor/report.js';

const FIXTURES = resolve(import.meta.dirname, '../../../../../fixtures/doctor');
const fx = (p: string) => join(FIXTURES, p);

const subject = (socket: string): DoctorSubject => ({
  backend: 'local',
  socket,
  socketMode: 0o600,
  maxCallDurationMs: 30_000,
  checkBackend: () => Promise.resolve([]),
});
const KUBEADM_SOCKET = 'unix:///var/run/kleidi/kms.sock';
const K3S_SOCKET = 'unix:///run/kleidi/kms.sock';
/** No time-sync tool answers: the clock is not part of these fixtures. */
const noTools = () => Promise.resolve(undefined);

async function run(socket: string, manifest: string, encryptionConfig?: string): Promise<DoctorCheck[]> {
  return diagnose(
    subject(socket),
    { manifest: fx(manifest), ...(encryptionConfig ? { encryptionConfig: fx(encryptionConfig) } : {}) },
    200,
    noTools,
  );
}
const byId = (checks: DoctorCheck[], id: string) => checks.filter((c) => c.id === id);
const apiserverAndConfig = (checks: DoctorCheck[]) =>
  checks.filter((c) => c.id.startsWith('apiserver.') || c.id.startsWith('encryption.'));

describe('kleidi doctor on real-shaped control-plane layouts (test/fixtures/doctor)', () => {
  it.each([
    ['kubeadm', KUBEADM_SOCKET, 'kubeadm/kube-apiserver.yaml', 'encryption/good.yaml'],
    ['RKE2', KUBEADM_SOCKET, 'rke2/kube-apiserver.yaml', 'encryption/good.yaml'],
    ['k3s', K3S_SOCKET, 'k3s/config.yaml', 'k3s/encryption-configuration.yaml'],
  ])('passes every apiserver and EncryptionConfiguration check of a correct %s node', async (_l, socket, m, enc) => {
    const checks = apiserverAndConfig(await run(socket, m, enc));
    expect(checks.map((c) => c.id)).toEqual(
      expect.arrayContaining([
        'apiserver.manifest',
        'apiserver.flag',
        'apiserver.socket-mount',
        'encryption.kms-version',
        'encryption.kms-first',
        'encryption.timeout',
        'encryption.identity-last',
      ]),
    );
    expect(checks.filter((c) => c.status !== 'pass')).toEqual([]);
  });

  // Each misconfiguration: doctor fails exactly that check with a fix naming the change, and the
  // correct fixture, which differs from it by that change only, passes the same check.
  it.each([
    ['kubeadm/no-encryption-flag.yaml', 'apiserver.flag', /add "- --encryption-provider-config=<path>"/],
    ['kubeadm/no-socket-mount.yaml', 'apiserver.socket-mount', /hostPath volume \{path: \/var\/run\/kleidi/],
    ['kubeadm/socket-file-mount.yaml', 'apiserver.socket-mount', /mount the directory \/var\/run\/kleidi instead/],
    [
      'rke2/config.yaml',
      'apiserver.socket-mount',
      /kube-apiserver-extra-mount: \["\/var\/run\/kleidi:\/var\/run\/kleidi"\]/,
    ],
  ])('flags %s (%s) with its fix', async (manifest, id, fix) => {
    const bad = byId(await run(KUBEADM_SOCKET, manifest, 'encryption/good.yaml'), id);
    expect(bad).toEqual([expect.objectContaining({ status: 'fail', fix: expect.stringMatching(fix) })]);
    const good = byId(await run(KUBEADM_SOCKET, 'kubeadm/kube-apiserver.yaml', 'encryption/good.yaml'), id);
    expect(good).toEqual([expect.objectContaining({ status: 'pass' })]);
  });

  it.each([
    ['k3s/secrets-encryption.yaml', /remove secrets-encryption/],
    ['k3s/no-encryption-arg.yaml', /add "encryption-provider-config=<path>" under kube-apiserver-arg/],
  ])('flags the k3s config %s with its fix', async (manifest, fix) => {
    const bad = byId(await run(K3S_SOCKET, manifest, 'k3s/encryption-configuration.yaml'), 'apiserver.flag');
    expect(bad).toEqual([expect.objectContaining({ status: 'fail', fix: expect.stringMatching(fix) })]);
  });

  it('follows --encryption-provider-config through the mounts, and flags a configuration the apiserver cannot see', async () => {
    // No --encryption-config override: the path is resolved through the manifest's hostPath mounts.
    const bad = await run(KUBEADM_SOCKET, 'kubeadm/no-config-mount.yaml');
    expect(byId(bad, 'apiserver.config-mount')).toEqual([
      expect.objectContaining({
        status: 'fail',
        fix: expect.stringMatching(/mount the directory of \/etc\/kubernetes\/enc/),
      }),
    ]);
    const good = await run(KUBEADM_SOCKET, 'kubeadm/kube-apiserver.yaml');
    expect(byId(good, 'apiserver.config-mount')).toEqual([]);
    // …and reads /etc/kubernetes/enc/encryption-configuration.yaml on this host, which does not exist here.
    expect(byId(good, 'encryption.read')).toEqual([
      expect.objectContaining({
        status: 'fail',
        detail: expect.stringContaining('/etc/kubernetes/enc/encryption-configuration.yaml'),
      }),
    ]);
  });

  it.each([
    ['encryption/kms-v1.yaml', 'encryption.kms-version', /set apiVersion: v2/],
    ['encryption/other-endpoint.yaml', 'encryption.kms-provider', /add a kms provider first/],
    ['encryption/identity-first.yaml', 'encryption.kms-first', /move the kms provider to the top/],
    ['encryption/identity-first.yaml', 'encryption.identity-last', /move "- identity: \{\}" to the end/],
    ['encryption/identity-not-last.yaml', 'encryption.identity-last', /move "- identity: \{\}" to the end/],
    ['encryption/timeout-short.yaml', 'encryption.timeout', /set timeout: 3s/],
    ['encryption/timeout-long.yaml', 'encryption.timeout', /set timeout: 3s/],
    ['encryption/wrong-kind.yaml', 'encryption.parse', /use the EncryptionConfiguration kleidi prints/],
  ])('flags the EncryptionConfiguration %s (%s) with its fix', async (file, id, fix) => {
    const bad = byId(await run(KUBEADM_SOCKET, 'kubeadm/kube-apiserver.yaml', file), id);
    expect(bad).toEqual([expect.objectContaining({ status: 'fail', fix: expect.stringMatching(fix) })]);
    if (id !== 'encryption.parse' && id !== 'encryption.kms-provider') {
      const good = byId(await run(KUBEADM_SOCKET, 'kubeadm/kube-apiserver.yaml', 'encryption/good.yaml'), id);
      expect(good).toEqual([expect.objectContaining({ status: 'pass' })]);
    }
  });

  it('leaves the etcd provider-name check to kleidi usage instead of passing it', async () => {
    const checks = await run(KUBEADM_SOCKET, 'kubeadm/kube-apiserver.yaml', 'encryption/good.yaml');
    expect(byId(checks, 'etcd.provider-name')).toEqual([
      expect.objectContaining({
        status: 'skip',
        detail: expect.stringContaining("run `kleidi usage` with the apiserver's --etcd-* flags"),
      }),
    ]);
  });

  it('fails the socket checks when nothing is at the socket path', async () => {
    const checks = await run(
      'unix:///nonexistent-kleidi-doctor/kms.sock',
      'kubeadm/kube-apiserver.yaml',
      'encryption/good.yaml',
    );
    expect(byId(checks, 'socket.exists')).toEqual([
      expect.objectContaining({ status: 'fail', fix: expect.stringMatching(/start kleidi/) }),
    ]);
    expect(byId(checks, 'socket.status')).toEqual([expect.objectContaining({ status: 'fail' })]);
  });
});
