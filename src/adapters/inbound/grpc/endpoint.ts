import { isAbsolute, resolve } from 'node:path';

/** Where the plugin listens: a filesystem socket or a Linux abstract socket. */
export type Endpoint =
  | { readonly kind: 'path'; readonly path: string }
  | { readonly kind: 'abstract'; readonly name: string };

/**
 * Parses an endpoint the way kube-apiserver does (k8s.io/kms/pkg/util.ParseEndpoint):
 * the socket is the URL *path*, so `unix:///var/run/kms.sock` is
 * `/var/run/kms.sock`, and a path starting with `/@` is the abstract socket
 * `@name`. Unlike the apiserver we also take a bare path, which is what
 * operators type; a relative one is resolved against `cwd`.
 */
export function parseEndpoint(raw: string, cwd: string = process.cwd()): Endpoint {
  let path: string;
  if (raw.startsWith('unix://')) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new Error(`endpoint ${raw} is not a valid unix:// URL`);
    }
    if (url.host !== '') {
      // `unix://tmp/x.sock` would silently mean /x.sock in the apiserver: refuse it.
      throw new Error(`endpoint ${raw} has a host part; write unix:///absolute/path.sock`);
    }
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      throw new Error(`endpoint ${raw} has an invalid percent-escape`);
    }
  } else if (raw.startsWith('unix:')) {
    throw new Error(`endpoint ${raw} must start with unix:///`);
  } else {
    path = raw;
  }
  if (path.startsWith('/@') || path.startsWith('@')) {
    const name = path.slice(path.indexOf('@') + 1);
    if (name.length === 0) throw new Error(`endpoint ${raw} names an empty abstract socket`);
    return { kind: 'abstract', name };
  }
  if (path.length === 0) throw new Error(`endpoint ${raw} has no socket path`);
  return { kind: 'path', path: isAbsolute(path) ? path : resolve(cwd, path) };
}

/** The string `net.Server.listen()` / `net.connect()` take for this endpoint. */
export function listenTarget(e: Endpoint): string {
  return e.kind === 'path' ? e.path : `\0${e.name}`;
}

/** The endpoint as an apiserver EncryptionConfiguration writes it. */
export function endpointUrl(e: Endpoint): string {
  const encode = (s: string) => s.split('/').map(encodeURIComponent).join('/');
  return e.kind === 'path' ? `unix://${encode(e.path)}` : `unix:///@${encodeURIComponent(e.name)}`;
}
