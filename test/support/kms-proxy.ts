import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';

/**
 * A loopback HTTP proxy in front of local-kms, for the few paths local-kms
 * does not implement or cannot be made to produce. Everything else (keys,
 * aliases, Encrypt, Decrypt and their errors) is local-kms's real answer.
 * It adds, when asked:
 *
 * - key material rotation: DescribeKey answers CurrentKeyMaterialId, and
 *   RotateKeyOnDemand / ListKeyRotations work (local-kms has neither; its
 *   DescribeKey has no CurrentKeyMaterialId). Only the reported identifiers
 *   change; local-kms keeps encrypting with its own material;
 * - faults: answers with a KMS error (throttling, access denied), delays, or
 *   drops the connection;
 * - a credential check, standing in for AWS's signature check (local-kms
 *   accepts anything): each request's access key and session token must be
 *   ones the check accepts, else ExpiredTokenException or
 *   UnrecognizedClientException.
 *
 * Always, alias changes (CreateAlias, UpdateAlias, DeleteAlias) reach
 * local-kms one at a time: AWS KMS applies each atomically (a second
 * CreateAlias of a name gets AlreadyExistsException), while local-kms checks
 * and then writes without a lock (its src/handler/create_alias.go), so two
 * concurrent CreateAlias calls could both succeed there.
 */
export interface KmsProxy {
  readonly endpoint: string;
  /** KMS operation names (`Encrypt`, …) in the order they arrived. */
  readonly seen: string[];
  /** Answers instead of local-kms while it returns a fault; undefined forwards. */
  fault: ((op: string) => Fault | undefined) | undefined;
  /** Added before every answer. */
  delayMs: number;
  /** Turns on simulated key materials (CurrentKeyMaterialId and the rotation operations). */
  simulateMaterials(): void;
  /** What RotateKeyOnDemand does: a new current material for the key. */
  rotateMaterial(keyId: string): string;
  /** Makes DescribeKey report this (earlier) material once, as a lagging KMS replica might. */
  reportStaleOnce(keyId: string, materialId: string): void;
  materialsOf(keyId: string): readonly string[];
  checkCredentials: ((accessKeyId: string, sessionToken: string | undefined) => CredentialVerdict) | undefined;
  stop(): Promise<void>;
}

export type Fault = { kind: 'error'; status: number; type: string; message?: string } | { kind: 'drop' };
type CredentialVerdict = 'ok' | 'expired' | 'unknown';

export function kmsError(type: string, status = 400, message = ''): Fault {
  return { kind: 'error', status, type, message };
}

interface Material {
  readonly id: string;
  readonly rotatedAt: Date | undefined;
}

const ALIAS_OPS = new Set(['CreateAlias', 'UpdateAlias', 'DeleteAlias']);

export async function startKmsProxy(upstream: string): Promise<KmsProxy> {
  let aliasChanges: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = aliasChanges.then(fn, fn);
    aliasChanges = run.catch(() => undefined);
    return run;
  };
  const up = new URL(upstream);
  const materials = new Map<string, Material[]>();
  const stale = new Map<string, string>();
  let simulate = false;
  const newMaterial = () => randomBytes(32).toString('hex');
  const ensure = (keyId: string): Material[] => {
    let list = materials.get(keyId);
    if (!list) {
      list = [{ id: newMaterial(), rotatedAt: undefined }];
      materials.set(keyId, list);
    }
    return list;
  };
  const keyIdOf = (ref: unknown) => String(ref ?? '').replace(/^arn:.*:key\//, '');

  const proxy: KmsProxy = {
    endpoint: '',
    seen: [],
    fault: undefined,
    delayMs: 0,
    checkCredentials: undefined,
    simulateMaterials: () => {
      simulate = true;
    },
    rotateMaterial: (keyId) => {
      const id = newMaterial();
      ensure(keyId).push({ id, rotatedAt: new Date() });
      return id;
    },
    reportStaleOnce: (keyId, materialId) => {
      stale.set(keyId, materialId);
    },
    materialsOf: (keyId) => (materials.get(keyId) ?? []).map((m) => m.id),
    stop: () => new Promise((ok) => server.close(() => ok())),
  };

  const answer = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const op = String(req.headers['x-amz-target'] ?? '').replace(/^TrentService\./, '');
    proxy.seen.push(op);
    if (proxy.delayMs > 0) await new Promise((ok) => setTimeout(ok, proxy.delayMs));
    if (proxy.checkCredentials) {
      const verdict = proxy.checkCredentials(accessKeyOf(req), header(req, 'x-amz-security-token'));
      if (verdict === 'expired') {
        return answer(res, 400, {
          __type: 'ExpiredTokenException',
          message: 'The security token included in the request is expired',
        });
      }
      if (verdict === 'unknown') {
        return answer(res, 400, {
          __type: 'UnrecognizedClientException',
          message: 'The security token included in the request is invalid.',
        });
      }
    }
    const fault = proxy.fault?.(op);
    if (fault?.kind === 'drop') return void req.socket.destroy();
    if (fault?.kind === 'error') return answer(res, fault.status, { __type: fault.type, message: fault.message ?? '' });
    const input = body.length > 0 ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
    if (simulate && op === 'RotateKeyOnDemand') {
      proxy.rotateMaterial(keyIdOf(input.KeyId));
      return answer(res, 200, { KeyId: input.KeyId });
    }
    if (simulate && op === 'ListKeyRotations') {
      const list = ensure(keyIdOf(input.KeyId));
      const last = list.length - 1;
      const rotations = list
        .filter((_, i) => input.IncludeKeyMaterial === 'ALL_KEY_MATERIAL' || i > 0)
        .map((m) => ({
          KeyId: input.KeyId,
          KeyMaterialId: m.id,
          KeyMaterialState: m.id === list[last]?.id ? 'CURRENT' : 'NON_CURRENT',
          ...(m.rotatedAt ? { RotationDate: m.rotatedAt.getTime() / 1000, RotationType: 'ON_DEMAND' } : {}),
        }));
      return answer(res, 200, { Rotations: rotations, Truncated: false });
    }
    const upstreamAnswer = ALIAS_OPS.has(op)
      ? await oneAtATime(() => forward(up, req, body))
      : await forward(up, req, body);
    if (simulate && op === 'DescribeKey' && upstreamAnswer.status === 200) {
      const out = JSON.parse(upstreamAnswer.body.toString('utf8')) as { KeyMetadata: Record<string, unknown> };
      const keyId = String(out.KeyMetadata.KeyId);
      const lagging = stale.get(keyId);
      stale.delete(keyId);
      out.KeyMetadata.CurrentKeyMaterialId = lagging ?? ensure(keyId).at(-1)?.id;
      return answer(res, 200, out);
    }
    res.writeHead(upstreamAnswer.status, upstreamAnswer.headers);
    res.end(upstreamAnswer.body);
  };

  const server: Server = createServer((req, res) => {
    // local-kms unreachable (killed): the client sees the connection drop, as with a real outage.
    handle(req, res).catch(() => req.socket.destroy());
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  (proxy as { endpoint: string }).endpoint = `http://127.0.0.1:${port}`;
  return proxy;
}

/** The access key id from a SigV4 Authorization header (`Credential=<id>/<date>/…`). */
function accessKeyOf(req: IncomingMessage): string {
  return /Credential=([^/]+)\//.exec(header(req, 'authorization') ?? '')?.[1] ?? '';
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => ok(Buffer.concat(chunks)));
    req.on('error', fail);
  });
}

function forward(
  up: URL,
  req: IncomingMessage,
  body: Buffer,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((ok, fail) => {
    const out = request(
      { host: up.hostname, port: up.port, path: req.url, method: req.method, headers: req.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => ok({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', fail);
      },
    );
    out.on('error', fail);
    out.end(body);
  });
}
