import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aDataKey } from '../support/builders.js';
import { codeOf, KmsTestClient, Status } from '../support/grpc-client.js';
import { startKleidi, tempDir, type KleidiProcess } from '../support/kleidi-process.js';
import { get, loggedHttpUrl, sample } from '../support/operations.js';

describe('/metrics counts known traffic exactly', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let k: KleidiProcess;
  let c: KmsTestClient;
  let base: string;
  let text: string;

  beforeAll(async () => {
    tmp = await tempDir();
    // A long refresh interval: the background probe adds no backend operations while we count.
    k = await startKleidi(tmp.dir, ['--refresh-interval', '30s']);
    base = await loggedHttpUrl(k.output);
    c = new KmsTestClient(k.socket);
    const statusBefore =
      sample((await get(base, '/metrics')).body, 'kleidi_kms_requests_total', { method: 'Status', code: 'OK' }) ?? 0;
    const encs = [];
    for (let i = 0; i < 3; i++) encs.push(await c.encrypt(aDataKey()));
    const good = encs[0]!;
    for (let i = 0; i < 2; i++) {
      const tampered = new Uint8Array(good.ciphertext);
      tampered[tampered.length - 1]! ^= 0x01; // the GCM tag: the envelope parses, the backend refuses it
      expect(await codeOf(c.decrypt({ ...good, ciphertext: tampered }))).toBe(Status.INVALID_ARGUMENT);
    }
    await c.status();
    text = (await get(base, '/metrics')).body;
    expect(sample(text, 'kleidi_kms_requests_total', { method: 'Status', code: 'OK' })).toBe(statusBefore + 1);
  });
  afterAll(async () => {
    c?.close();
    await k?.stop();
    await tmp?.cleanup();
  });

  it('counts requests per method and gRPC code name, with a matching histogram', () => {
    expect(sample(text, 'kleidi_kms_requests_total', { method: 'Encrypt', code: 'OK' })).toBe(3);
    expect(sample(text, 'kleidi_kms_requests_total', { method: 'Decrypt', code: 'INVALID_ARGUMENT' })).toBe(2);
    expect(sample(text, 'kleidi_kms_requests_total', { method: 'Decrypt', code: 'OK' })).toBeUndefined();
    expect(sample(text, 'kleidi_kms_request_duration_seconds_count', { method: 'Encrypt', code: 'OK' })).toBe(3);
    expect(
      sample(text, 'kleidi_kms_request_duration_seconds_bucket', { method: 'Encrypt', code: 'OK', le: '+Inf' }),
    ).toBe(3);
  });

  it('counts backend operations per op and outcome kind (the startup probe is one of each)', () => {
    const ops = (op: string, outcome: string) =>
      sample(text, 'kleidi_backend_operations_total', { backend: 'local', op, outcome });
    expect(ops('wrap', 'ok')).toBe(3 + 1);
    expect(ops('unwrap', 'ok')).toBe(1);
    expect(ops('unwrap', 'malformed-ciphertext')).toBe(2);
    expect(ops('currentVersion', 'ok')).toBe(1);
    expect(
      sample(text, 'kleidi_backend_operation_duration_seconds_count', {
        op: 'unwrap',
        outcome: 'malformed-ciphertext',
      }),
    ).toBe(2);
  });

  it('exports backend health, the current key and a rotation counter', async () => {
    const keyId = (await c.status()).keyId;
    expect(sample(text, 'kleidi_backend_healthy', { backend: 'local' })).toBe(1);
    expect(sample(text, 'kleidi_current_key_info', { backend: 'local', key_id: keyId })).toBe(1);
    expect(sample(text, 'kleidi_key_rotations_total', { backend: 'local' })).toBe(0);
    expect(sample(text, 'kleidi_backend_last_success_timestamp_seconds', { backend: 'local' })).toBeGreaterThan(1.7e9);
    // The local backend holds no expiring credential: the Vault token gauge has no sample.
    expect(sample(text, 'kleidi_backend_token_expiry_timestamp_seconds')).toBeUndefined();
  });

  it('exports Node process and event-loop metrics, in the Prometheus text format', async () => {
    const res = await get(base, '/metrics');
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(sample(text, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'kleidi_build_info')).toBe(1);
  });

  it('never puts an error message into a label: every label value comes from a closed set', () => {
    const allowed =
      /^(Status|Encrypt|Decrypt|OK|[A-Z_]+|local|currentVersion|wrap|unwrap|ok|internal|[a-z-]+|local:v\d+:[0-9a-f]+|[0-9.+Inf]+|v?[0-9.]+)$/;
    const values = [...text.matchAll(/^kleidi_[a-z_]+\{([^}]*)\}/gm)].flatMap((m) =>
      [...m[1]!.matchAll(/="([^"]*)"/g)].map((x) => x[1]!),
    );
    expect(values.length).toBeGreaterThan(0);
    for (const v of values) expect(v, v).toMatch(allowed);
  });
});
