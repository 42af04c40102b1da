import { access, readFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { basename, dirname, posix } from 'node:path';
import { parseDuration } from '../../../../domain/model/duration.js';
import { type Endpoint, parseEndpoint } from '../../grpc/endpoint.js';
import type { CliApp, DoctorSubject } from '../cli-app.js';
import { type ApiserverSetup, DEFAULT_MANIFESTS, hostPathOf, ManifestError, parseApiserverSetup } from './apiserver.js';
import { checkEncryptionConfig } from './encryption-config.js';
import { type DoctorCheck, exitCode, fail, pass, renderJson, renderText, skip } from './report.js';
import { checkSocketFile, checkStatus } from './socket.js';
import { checkTimeSync, type Run, runLocal } from './time-sync.js';

export interface DoctorOptions {
  /** Host path of the apiserver's static pod manifest or k3s/RKE2 config.yaml; default: the first of DEFAULT_MANIFESTS that exists. */
  readonly manifest?: string;
  /** Host path of the EncryptionConfiguration, instead of following --encryption-provider-config through the mounts. */
  readonly encryptionConfig?: string;
  readonly output: 'text' | 'json';
  /** Deadline of the Status call, e.g. "3s". */
  readonly timeout: string;
}

/** Budget of the backend's own checks (a remote backend gets its retries). */
const BACKEND_CHECK_MS = 20_000;

/** `kleidi doctor`: every check, one line each; exit 0 only when none failed. */
export async function runDoctor<C>(app: CliApp<C>, config: C, opts: DoctorOptions): Promise<number> {
  const timeoutMs = parseDuration(opts.timeout);
  if (timeoutMs === undefined || timeoutMs <= 0) {
    process.stderr.write(`kleidi: --timeout ${JSON.stringify(opts.timeout)} is not a duration such as 3s\n`);
    return 2;
  }
  const checks = await diagnose(app.doctor(config), opts, timeoutMs);
  process.stdout.write(opts.output === 'json' ? renderJson(checks) : renderText(checks));
  return exitCode(checks);
}

export async function diagnose(
  subject: DoctorSubject,
  opts: Pick<DoctorOptions, 'manifest' | 'encryptionConfig'>,
  timeoutMs: number,
  run: Run = runLocal,
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  let endpoint: Endpoint;
  try {
    endpoint = parseEndpoint(subject.socket);
  } catch (err) {
    return [fail('socket.endpoint', (err as Error).message, 'write the socket as unix:///absolute/path.sock')];
  }
  checks.push(...(await checkSocketFile({ endpoint, mode: subject.socketMode, group: subject.socketGroup })));
  checks.push(await checkStatus(subject.socket, timeoutMs));
  try {
    checks.push(...(await subject.checkBackend(AbortSignal.timeout(BACKEND_CHECK_MS))));
  } catch (err) {
    checks.push(fail('backend', `${subject.backend}: ${(err as Error).message}`, 'see docs/backends/'));
  }
  checks.push(...(await apiserverChecks(endpoint, subject, opts)));
  checks.push(
    skip(
      'etcd.provider-name',
      "provider name in etcd's value prefixes (k8s:enc:kms:v2:<name>:) not checked here: doctor holds no etcd credentials; run `kleidi usage` with the apiserver's --etcd-* flags",
    ),
  );
  checks.push(await checkTimeSync(run));
  return checks;
}

async function apiserverChecks(
  endpoint: Endpoint,
  subject: DoctorSubject,
  opts: Pick<DoctorOptions, 'manifest' | 'encryptionConfig'>,
): Promise<DoctorCheck[]> {
  const out: DoctorCheck[] = [];
  const manifest = opts.manifest ?? (await firstExisting(DEFAULT_MANIFESTS));
  let setup: ApiserverSetup | undefined;
  if (manifest === undefined) {
    out.push(
      fail(
        'apiserver.manifest',
        `no kube-apiserver manifest or config found (${DEFAULT_MANIFESTS.join(', ')})`,
        'pass --manifest <path of the static pod manifest, or of the k3s/RKE2 config.yaml>',
      ),
    );
  } else {
    try {
      setup = parseApiserverSetup(await readFile(manifest, 'utf8'), manifest);
      out.push(pass('apiserver.manifest', `read kube-apiserver's ${describe(setup.layout)} ${manifest}`));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      out.push(
        err instanceof ManifestError
          ? fail('apiserver.manifest', err.message, `pass the kube-apiserver manifest with --manifest`)
          : fail(
              'apiserver.manifest',
              `cannot read ${manifest} (${code ?? (err as Error).message})`,
              code === 'EACCES' ? 'run kleidi doctor as root' : 'pass the right path with --manifest',
            ),
      );
    }
  }
  const flag = setup?.flags.get('encryption-provider-config');
  if (setup) {
    if (flag === undefined) {
      out.push(
        fail(
          'apiserver.flag',
          `kube-apiserver in ${manifest} has no --encryption-provider-config`,
          setup.layout === 'static-pod'
            ? `add "- --encryption-provider-config=<path>" to the kube-apiserver command in ${manifest} (kubeadm: apiServer.extraArgs)`
            : `add "encryption-provider-config=<path>" under kube-apiserver-arg in ${manifest} and restart the service`,
        ),
      );
    } else if (setup.distributionSecretsEncryption) {
      out.push(
        fail(
          'apiserver.flag',
          `${manifest} sets both secrets-encryption and --encryption-provider-config=${flag}; the distribution manages that flag itself`,
          `remove secrets-encryption from ${manifest} (after migrating away from its keys)`,
        ),
      );
    } else {
      out.push(pass('apiserver.flag', `kube-apiserver runs with --encryption-provider-config=${flag}`));
    }
    out.push(socketMount(setup, endpoint, manifest ?? ''));
  }
  const configHost = opts.encryptionConfig ?? (flag !== undefined && setup ? hostPathOf(setup, flag)?.host : undefined);
  if (opts.encryptionConfig === undefined && flag !== undefined && setup && configHost === undefined) {
    out.push(
      fail(
        'apiserver.config-mount',
        `kube-apiserver cannot see ${flag}: no hostPath volume in ${manifest} contains it`,
        `mount the directory of ${flag} into kube-apiserver (hostPath volume + volumeMount, readOnly)`,
      ),
    );
  }
  if (configHost === undefined) return out;
  let text: string;
  try {
    text = await readFile(configHost, 'utf8');
  } catch (err) {
    out.push(
      fail(
        'encryption.read',
        `cannot read the EncryptionConfiguration ${configHost} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        'create it (deploy/kubernetes/encryption-configuration.yaml), or pass its host path with --encryption-config',
      ),
    );
    return out;
  }
  const toHost = (p: string) => (setup ? hostPathOf(setup, p)?.host : p);
  const socketHostPath = endpoint.kind === 'path' ? endpoint.path : `/@${endpoint.name}`;
  out.push(
    ...checkEncryptionConfig(text, configHost, {
      socketHostPath,
      toHost,
      samePath: (a, b) => canonical(a) === canonical(b),
      maxCallMs: subject.maxCallDurationMs,
    }),
  );
  return out;
}

/** kube-apiserver must see the socket's directory, not the socket file (its inode changes on every kleidi start). */
function socketMount(setup: ApiserverSetup, endpoint: Endpoint, manifest: string): DoctorCheck {
  if (endpoint.kind === 'abstract') {
    return pass(
      'apiserver.socket-mount',
      `@${endpoint.name} is an abstract socket: no mount needed, but kube-apiserver must share kleidi's network namespace`,
    );
  }
  if (!setup.mounts) {
    return pass(
      'apiserver.socket-mount',
      'k3s runs kube-apiserver in its own process, which sees host paths as they are',
    );
  }
  const socket = canonical(endpoint.path);
  const dir = dirname(endpoint.path);
  const fileMount = setup.mounts.find((m) => canonical(m.hostPath) === socket || m.type === 'Socket');
  if (fileMount) {
    return fail(
      'apiserver.socket-mount',
      `kube-apiserver mounts the socket file ${fileMount.hostPath} itself: after kleidi restarts it still sees the old socket`,
      `mount the directory ${dir} instead (hostPath ${dir}, type DirectoryOrCreate, mountPath ${dir})`,
    );
  }
  const covering = setup.mounts.find((m) => {
    const h = canonical(m.hostPath);
    return socket.startsWith(`${h.replace(/\/$/, '')}/`);
  });
  if (!covering) {
    const how =
      setup.layout === 'rke2-config'
        ? `add kube-apiserver-extra-mount: ["${dir}:${dir}"] to ${manifest}`
        : `add a hostPath volume {path: ${dir}, type: DirectoryOrCreate} and a volumeMount {mountPath: ${dir}} to kube-apiserver in ${manifest} (kubeadm: apiServer.extraVolumes)`;
    return fail('apiserver.socket-mount', `kube-apiserver does not mount ${dir}, the socket's directory`, how);
  }
  const inside = posix.join(covering.mountPath, posix.relative(canonical(covering.hostPath), socket));
  return pass(
    'apiserver.socket-mount',
    `kube-apiserver mounts ${covering.hostPath} at ${covering.mountPath}: it sees the socket as ${inside}`,
  );
}

function describe(layout: ApiserverSetup['layout']): string {
  return layout === 'static-pod' ? 'static pod manifest' : layout === 'k3s' ? 'k3s config' : 'RKE2 config';
}

async function firstExisting(paths: readonly string[]): Promise<string | undefined> {
  for (const p of paths) {
    if (
      await access(p).then(
        () => true,
        () => false,
      )
    )
      return p;
  }
  return undefined;
}

/**
 * A path with the links of its deepest existing ancestor resolved (/var/run → /run), so that
 * equal places compare equal even when the socket or its directory does not exist (yet).
 */
function canonical(p: string): string {
  let head = posix.normalize(p);
  const rest: string[] = [];
  for (;;) {
    try {
      return posix.join(realpathSync(head), ...rest.reverse());
    } catch {
      if (head === '/' || head === '.') return posix.normalize(p);
      rest.push(basename(head));
      head = dirname(head);
    }
  }
}
