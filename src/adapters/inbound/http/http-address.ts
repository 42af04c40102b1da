/** Where the operational HTTP endpoint listens. */
export interface HttpAddress {
  readonly host: string;
  readonly port: number;
}

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/**
 * Parses `host:port` or `[v6]:port` (port 0 picks a free port, for tests).
 * Returns undefined for anything else, including "" (which turns HTTP off).
 */
export function parseHttpAddress(raw: string): HttpAddress | undefined {
  const m = HOST_PORT.exec(raw.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65_535) return undefined;
  const host = m[1] ?? m[2] ?? '';
  return { host, port };
}

/** Whether the host only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The address as a URL, for logs: http://127.0.0.1:8181 or http://[::1]:8181. */
export function httpUrl(a: HttpAddress): string {
  return `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}
