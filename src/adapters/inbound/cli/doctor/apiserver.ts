import { posix } from 'node:path';
import { parse as parseYaml } from 'yaml';

/**
 * Where kube-apiserver's command line lives on a control-plane node, per distribution:
 * - kubeadm writes the static pod manifest /etc/kubernetes/manifests/kube-apiserver.yaml
 *   (https://kubernetes.io/docs/reference/setup-tools/kubeadm/implementation-details/#constants-and-well-known-values-and-paths).
 * - RKE2 runs kube-apiserver as a static pod too, generated into
 *   /var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml from /etc/rancher/rke2/config.yaml
 *   (`kube-apiserver-arg`, `kube-apiserver-extra-mount`: https://docs.rke2.io/reference/server_config).
 * - k3s runs kube-apiserver inside its own process; its flags come from `kube-apiserver-arg` in
 *   /etc/rancher/k3s/config.yaml (https://docs.k3s.io/installation/configuration#configuration-file).
 */
export const DEFAULT_MANIFESTS = [
  '/etc/kubernetes/manifests/kube-apiserver.yaml',
  '/var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml',
  '/etc/rancher/k3s/config.yaml',
] as const;

/** A host directory or file the apiserver container sees at `mountPath`. */
export interface HostMount {
  readonly hostPath: string;
  readonly mountPath: string;
  /** The hostPath volume's `type`, when set (e.g. `Socket`, `DirectoryOrCreate`). */
  readonly type?: string;
}

export interface ApiserverSetup {
  /** `static-pod` (kubeadm, RKE2's generated manifest), `k3s` or `rke2-config`. */
  readonly layout: 'static-pod' | 'k3s' | 'rke2-config';
  /** kube-apiserver flags without the leading `--`; a repeated flag keeps its last value, as pflag does. */
  readonly flags: ReadonlyMap<string, string>;
  /**
   * Host paths the apiserver sees, and where; undefined when it runs in the host's mount namespace
   * (k3s), so every host path is visible as is.
   */
  readonly mounts?: readonly HostMount[];
  /** k3s / RKE2 `secrets-encryption: true`, which writes its own --encryption-provider-config. */
  readonly distributionSecretsEncryption: boolean;
}

export class ManifestError extends Error {}

/** Reads the apiserver's setup from a static pod manifest or a k3s / RKE2 config.yaml (`path` names it). */
export function parseApiserverSetup(text: string, path: string): ApiserverSetup {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ManifestError(`${path} is not YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  if (!isObj(doc)) throw new ManifestError(`${path} is not a YAML mapping`);
  if (doc.kind === 'Pod') return fromPod(doc, path);
  return fromDistributionConfig(doc, path);
}

function fromPod(pod: Record<string, unknown>, path: string): ApiserverSetup {
  const spec = isObj(pod.spec) ? pod.spec : {};
  const containers = Array.isArray(spec.containers) ? spec.containers.filter(isObj) : [];
  const argv = (c: Record<string, unknown>) => [...strings(c.command), ...strings(c.args)];
  const container =
    containers.find((c) => c.name === 'kube-apiserver') ??
    containers.find((c) => argv(c).some((a) => posix.basename(a) === 'kube-apiserver'));
  if (!container) throw new ManifestError(`${path} has no kube-apiserver container`);
  const volumes = new Map<string, { path: string; type?: string }>();
  for (const v of Array.isArray(spec.volumes) ? spec.volumes.filter(isObj) : []) {
    if (typeof v.name === 'string' && isObj(v.hostPath) && typeof v.hostPath.path === 'string') {
      const type = typeof v.hostPath.type === 'string' && v.hostPath.type !== '' ? v.hostPath.type : undefined;
      volumes.set(v.name, { path: v.hostPath.path, ...(type ? { type } : {}) });
    }
  }
  const mounts: HostMount[] = [];
  for (const m of Array.isArray(container.volumeMounts) ? container.volumeMounts.filter(isObj) : []) {
    const vol = typeof m.name === 'string' ? volumes.get(m.name) : undefined;
    if (!vol || typeof m.mountPath !== 'string') continue;
    // A subPath mounts a part of the volume; kube-apiserver manifests do not use it, and guessing would mislead.
    if (typeof m.subPath === 'string' && m.subPath !== '') continue;
    mounts.push({ hostPath: vol.path, mountPath: m.mountPath, ...(vol.type ? { type: vol.type } : {}) });
  }
  return { layout: 'static-pod', flags: parseFlags(argv(container)), mounts, distributionSecretsEncryption: false };
}

/**
 * k3s and RKE2 config.yaml: `kube-apiserver-arg` is a list of `name=value` (a single string is
 * accepted too); RKE2 adds `kube-apiserver-extra-mount` entries `host:container[:ro]`.
 */
function fromDistributionConfig(cfg: Record<string, unknown>, path: string): ApiserverSetup {
  const args =
    typeof cfg['kube-apiserver-arg'] === 'string' ? [cfg['kube-apiserver-arg']] : strings(cfg['kube-apiserver-arg']);
  const rke2 = path.includes('/rke2/') || cfg['kube-apiserver-extra-mount'] !== undefined;
  const flags = parseFlags(args.map((a) => (a.startsWith('--') ? a : `--${a}`)));
  const secretsEncryption = cfg['secrets-encryption'] === true || cfg['secrets-encryption'] === 'true';
  if (!rke2) return { layout: 'k3s', flags, distributionSecretsEncryption: secretsEncryption };
  const extra =
    typeof cfg['kube-apiserver-extra-mount'] === 'string'
      ? [cfg['kube-apiserver-extra-mount']]
      : strings(cfg['kube-apiserver-extra-mount']);
  const mounts = extra.flatMap((m) => {
    const [hostPath, mountPath] = m.split(':');
    return hostPath && mountPath ? [{ hostPath, mountPath }] : [];
  });
  return { layout: 'rke2-config', flags, mounts, distributionSecretsEncryption: secretsEncryption };
}

/** `--name=value` and `--name value`; a flag without value is "true". */
function parseFlags(argv: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) {
      flags.set(a.slice(2, eq), a.slice(eq + 1));
    } else {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        flags.set(a.slice(2), next);
        i++;
      } else {
        flags.set(a.slice(2), 'true');
      }
    }
  }
  return flags;
}

/**
 * The host path behind a path as the apiserver sees it: through the deepest mount that
 * contains it, or as is where the apiserver shares the host's mounts. Undefined when no
 * mount covers it, i.e. the apiserver cannot see the file.
 */
export function hostPathOf(
  setup: ApiserverSetup,
  containerPath: string,
): { host: string; mount?: HostMount } | undefined {
  if (!setup.mounts) return { host: containerPath };
  const p = posix.normalize(containerPath);
  let best: HostMount | undefined;
  for (const m of setup.mounts) {
    const mp = posix.normalize(m.mountPath).replace(/\/$/, '') || '/';
    const inside = p === mp || p.startsWith(mp === '/' ? '/' : `${mp}/`);
    if (inside && (!best || mp.length > posix.normalize(best.mountPath).length)) best = m;
  }
  if (!best) return undefined;
  const rest = posix.relative(posix.normalize(best.mountPath), p);
  return { host: rest === '' ? best.hostPath : posix.join(best.hostPath, rest), mount: best };
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
