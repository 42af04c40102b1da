/**
 * The resource an etcd key belongs to. kube-apiserver stores an object at
 * `<prefix>/<resource>/<namespace>/<name>` or `<prefix>/<resource>/<name>`
 * for the built-in groups (secrets, configmaps, and the legacy-prefixed ones
 * such as deployments), and at `<prefix>/<group>/<resource>/…` for API groups
 * stored under their group name (CustomResourceDefinitions' resources,
 * apiregistration.k8s.io, …) — k8s.io/apiserver/pkg/registry/generic/registry/store.go
 * (NamespaceKeyRootFunc, NoNamespaceKeyFunc) and
 * k8s.io/apiextensions-apiserver/pkg/registry/customresource/etcd.go.
 * A first segment with a dot is a group, so the resource is reported as
 * `resource.group`, as kubectl names it; otherwise the segment is the resource.
 * Undefined when the key is not below `prefix`.
 */
export function resourceOfKey(prefix: string, key: string): string | undefined {
  const root = prefix.endsWith('/') ? prefix : `${prefix}/`;
  if (!key.startsWith(root)) return undefined;
  const [first, second] = key.slice(root.length).split('/');
  if (first === undefined || first === '') return undefined;
  if (first.includes('.') && second !== undefined && second !== '') return `${second}.${first}`;
  return first;
}

/** The key prefix below which kube-apiserver stores `resource` (as resourceOfKey names it). */
export function resourceKeyPrefix(prefix: string, resource: string): string {
  const root = prefix.endsWith('/') ? prefix : `${prefix}/`;
  const dot = resource.indexOf('.');
  return dot < 0 ? `${root}${resource}/` : `${root}${resource.slice(dot + 1)}/${resource.slice(0, dot)}/`;
}
