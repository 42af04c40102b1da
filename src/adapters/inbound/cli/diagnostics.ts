import { ConnectError } from '@connectrpc/connect';
import { parseDuration } from '../../../domain/model/duration.js';
import type { kmsClient } from './kms-client.js';
import { type Face, keyValues } from './output.js';

/**
 * The diagnostic commands: a client independent of the server code, over
 * the socket. `status` exits 0 only for healthz "ok", so it works as an exec
 * liveness/readiness probe.
 */
export async function runStatus(socket: string, timeout: string, face: Face): Promise<number> {
  return call(socket, timeout, async (client, timeoutMs) => {
    const s = await client.status({}, { timeoutMs });
    process.stdout.write(formatStatus(face, { version: s.version, healthz: s.healthz, keyId: s.keyId }));
    return s.healthz === 'ok' ? 0 : 1;
  });
}

/** Status as a line of JSON, or as a short table with healthz in green or red. */
export function formatStatus(face: Face, s: { version: string; healthz: string; keyId: string }): string {
  if (face.format === 'json') return `${JSON.stringify(s)}\n`;
  return keyValues(face, [
    ['healthz', { text: s.healthz, tone: s.healthz === 'ok' ? 'green' : 'red' }],
    ['keyId', s.keyId],
    ['version', s.version],
  ]);
}

/** Encrypts stdin (the plaintext never appears in argv or logs). */
export async function runEncrypt(socket: string, timeout: string): Promise<number> {
  const plaintext = await readStdin();
  return call(socket, timeout, async (client, timeoutMs) => {
    const r = await client.encrypt({ plaintext, uid: crypto.randomUUID() }, { timeoutMs });
    const annotations = Object.fromEntries(
      Object.entries(r.annotations).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    );
    const out = { ciphertext: Buffer.from(r.ciphertext).toString('base64'), keyId: r.keyId, annotations };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  });
}

/** Decrypts the JSON `kleidi encrypt` printed, read from stdin; writes raw plaintext. */
export async function runDecrypt(socket: string, timeout: string): Promise<number> {
  const input = JSON.parse((await readStdin()).toString('utf8')) as {
    ciphertext?: string;
    keyId?: string;
    annotations?: Record<string, string>;
  };
  const annotations = Object.fromEntries(
    Object.entries(input.annotations ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
  );
  return call(socket, timeout, async (client, timeoutMs) => {
    const r = await client.decrypt(
      {
        ciphertext: Buffer.from(input.ciphertext ?? '', 'base64'),
        keyId: input.keyId ?? '',
        annotations,
        uid: crypto.randomUUID(),
      },
      { timeoutMs },
    );
    process.stdout.write(r.plaintext);
    return 0;
  });
}

type Fn = (client: ReturnType<typeof kmsClient>['client'], timeoutMs: number) => Promise<number>;

async function call(socket: string, timeout: string, fn: Fn): Promise<number> {
  const timeoutMs = parseDuration(timeout);
  if (timeoutMs === undefined || timeoutMs <= 0) {
    process.stderr.write(`kleidi: --timeout ${JSON.stringify(timeout)} is not a duration such as 3s\n`);
    return 2;
  }
  // Loaded here, not at the top: the client stack (@connectrpc/connect-node) is only for these
  // commands, and importing it on every start cost `kleidi serve` about 100 ms (docs/benchmarks.md).
  const { kmsClient: connectClient } = await import('./kms-client.js');
  const { client } = connectClient(socket);
  try {
    return await fn(client, timeoutMs);
  } catch (err) {
    const e = ConnectError.from(err);
    process.stderr.write(`kleidi: ${socket}: ${e.message}\n`);
    return 1;
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
