import { KmsTestClient } from '../support/grpc-client.js';

/** Status on a fresh connection, or undefined when it fails. */
export async function statusOf(socket: string): Promise<{ healthz: string; keyId: string } | undefined> {
  const c = new KmsTestClient(socket);
  try {
    const r = await c.status(2_000);
    return { healthz: r.healthz, keyId: r.keyId };
  } catch {
    return undefined;
  } finally {
    c.close();
  }
}
