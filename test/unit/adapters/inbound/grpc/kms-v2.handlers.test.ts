import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { describe, expect, it, vi } from 'vitest';
import { KeyManagementService } from '#src/adapters/inbound/grpc/gen/kms/v2/api_pb.js';
import { codeName, kmsV2Handlers, type CallObserver } from '#src/adapters/inbound/grpc/kms-v2.handlers.js';
import { InvalidRequestError, KeyVersionUnknownError } from '#src/domain/model/errors.js';
import { parseKeyId } from '#src/domain/model/key-id.js';
import type { DecryptCommand, EncryptCommand, KeyManagement } from '#src/ports/inbound/key-management.port.js';
import { aDataKey, recordingLogger, type LogLine } from '../../../../support/builders.js';

const KEY_ID = parseKeyId('local:v1:0123456789abcdef');
const enc = (s: string) => new TextEncoder().encode(s);

function setup(overrides: Partial<KeyManagement> = {}) {
  const seen: { encrypt: EncryptCommand[]; decrypt: DecryptCommand[]; signals: AbortSignal[] } = {
    encrypt: [],
    decrypt: [],
    signals: [],
  };
  const km = {
    status: (signal) => {
      seen.signals.push(signal);
      return Promise.resolve({ version: 'v2' as const, healthz: 'ok', keyId: KEY_ID });
    },
    encrypt: (cmd, signal) => {
      seen.encrypt.push(cmd);
      seen.signals.push(signal);
      return Promise.resolve({
        ciphertext: enc('sealed'),
        keyId: KEY_ID,
        annotations: { 'version.kleidi.io': enc('1') },
      });
    },
    decrypt: (cmd, signal) => {
      seen.decrypt.push(cmd);
      seen.signals.push(signal);
      return Promise.resolve(cmd.ciphertext.slice().reverse());
    },
    ...overrides,
  } satisfies KeyManagement;
  const log = recordingLogger();
  const observe = vi.fn<CallObserver>();
  const transport = createRouterTransport((r) => r.service(KeyManagementService, kmsV2Handlers(km, log, observe)));
  return { client: createClient(KeyManagementService, transport), seen, log, observe };
}

/** Every string and byte array anywhere in the recorded lines. */
function everything(lines: LogLine[]): { text: string; bytes: Uint8Array[] } {
  const bytes: Uint8Array[] = [];
  const text = JSON.stringify(lines, (_k, v: unknown) => {
    if (v instanceof Uint8Array) bytes.push(v);
    return v instanceof Error ? { message: v.message, stack: v.stack } : v;
  });
  return { text, bytes };
}

describe('KMSv2 handlers: copy in, call the port, copy out', () => {
  it('Status copies version, healthz and key_id', async () => {
    const { client, seen } = setup();
    const res = await client.status({});
    expect({ version: res.version, healthz: res.healthz, keyId: res.keyId }).toEqual({
      version: 'v2',
      healthz: 'ok',
      keyId: KEY_ID,
    });
    expect(seen.signals[0]).toBeInstanceOf(AbortSignal);
  });

  it('Encrypt passes uid and plaintext, returns ciphertext, key_id and annotations', async () => {
    const { client, seen } = setup();
    const plaintext = aDataKey();
    const res = await client.encrypt({ uid: 'uid-1', plaintext });
    expect(seen.encrypt).toEqual([{ uid: 'uid-1', plaintext }]);
    expect(res.ciphertext).toEqual(enc('sealed'));
    expect(res.keyId).toBe(KEY_ID);
    expect(res.annotations).toEqual({ 'version.kleidi.io': enc('1') });
  });

  it('Decrypt passes uid, key_id, ciphertext and annotations, returns the plaintext', async () => {
    const { client, seen } = setup();
    const annotations = { 'version.kleidi.io': enc('1'), 'audit.example.io': enc('a') };
    const res = await client.decrypt({ uid: 'uid-2', keyId: KEY_ID, ciphertext: enc('abc'), annotations });
    expect(seen.decrypt).toEqual([{ uid: 'uid-2', keyId: KEY_ID, ciphertext: enc('abc'), annotations }]);
    expect(res.plaintext).toEqual(enc('cba'));
  });
});

describe('KMSv2 handlers: errors, logs and observation', () => {
  it('maps a KmsError to its code, logs uid/method/code, and tells the observer', async () => {
    const { client, log, observe } = setup({
      decrypt: () => Promise.reject(new KeyVersionUnknownError('key_id local:v9 unknown')),
    });
    const err = await client
      .decrypt({ uid: 'uid-3', keyId: 'local:v9', ciphertext: enc('x') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.NotFound);
    expect((err as ConnectError).rawMessage).toBe('key_id local:v9 unknown');
    expect(log.lines).toEqual([
      expect.objectContaining({
        level: 'warn',
        fields: expect.objectContaining({ uid: 'uid-3', method: 'Decrypt', code: 'NOT_FOUND' }),
      }),
    ]);
    expect(observe).toHaveBeenCalledWith('Decrypt', 'NOT_FOUND', expect.any(Number));
  });

  it('answers an unexpected error as INTERNAL with a ref that matches the logged one', async () => {
    const { client, log, observe } = setup({ encrypt: () => Promise.reject(new Error('db password=hunter2')) });
    const err = (await client
      .encrypt({ uid: 'uid-4', plaintext: aDataKey() })
      .catch((e: unknown) => e)) as ConnectError;
    expect(err.code).toBe(Code.Internal);
    expect(err.rawMessage).not.toContain('hunter2');
    const ref = /ref ([0-9a-f-]{36})/.exec(err.rawMessage)?.[1];
    const logged = log.lines.find((l) => l.level === 'error');
    expect(logged?.fields).toMatchObject({ ref, uid: 'uid-4', method: 'Encrypt' });
    expect(observe).toHaveBeenCalledWith('Encrypt', 'INTERNAL', expect.any(Number));
  });

  it('binds uid to per-call log lines and reports OK to the observer', async () => {
    const { client, log, observe } = setup();
    await client.encrypt({ uid: 'uid-5', plaintext: aDataKey() });
    await client.status({});
    expect(log.lines.filter((l) => l.fields.method === 'Encrypt').every((l) => l.fields.uid === 'uid-5')).toBe(true);
    expect(log.lines.some((l) => l.fields.uid === 'uid-5')).toBe(true);
    expect(observe.mock.calls.map(([m, c, s]) => [m, c, s >= 0])).toEqual([
      ['Encrypt', 'OK', true],
      ['Status', 'OK', true],
    ]);
  });

  it('never logs plaintext, on success or failure, in any encoding', async () => {
    const plaintext = aDataKey();
    const ok = setup({ decrypt: () => Promise.resolve(plaintext) });
    await ok.client.encrypt({ uid: 'u', plaintext });
    await ok.client.decrypt({ uid: 'u', keyId: KEY_ID, ciphertext: enc('x') });
    const bad = setup({
      encrypt: () => Promise.reject(new InvalidRequestError('bad plaintext')),
      decrypt: () => Promise.reject(new Error('boom')),
    });
    await bad.client.encrypt({ uid: 'u', plaintext }).catch(() => undefined);
    await bad.client.decrypt({ uid: 'u', keyId: KEY_ID, ciphertext: plaintext }).catch(() => undefined);
    const hex = Buffer.from(plaintext).toString('hex');
    const b64 = Buffer.from(plaintext).toString('base64');
    for (const lines of [ok.log.lines, bad.log.lines]) {
      expect(lines.length).toBeGreaterThan(0);
      const { text, bytes } = everything(lines);
      expect(text).not.toContain(hex);
      expect(text).not.toContain(b64);
      expect(text).not.toContain(Buffer.from(plaintext).toJSON().data.join(','));
      expect(bytes).toEqual([]);
    }
  });

  it('codeName gives canonical names and UNKNOWN outside the table', () => {
    expect([codeName(0), codeName(3), codeName(13), codeName(16), codeName(99)]).toEqual([
      'OK',
      'INVALID_ARGUMENT',
      'INTERNAL',
      'UNAUTHENTICATED',
      'UNKNOWN',
    ]);
  });
});
