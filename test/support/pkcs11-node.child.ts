import { createInterface } from 'node:readline';
import { systemClock } from '#src/adapters/outbound/clock/system.clock.js';
import { Pkcs11KeyWrapper } from '#src/adapters/outbound/pkcs11/pkcs11.key-wrapper.js';
import type { Pkcs11Options } from '#src/adapters/outbound/pkcs11/pkcs11.options.js';
import { decodeEnvelope, encodeEnvelope } from '#src/domain/model/envelope.js';
import { KmsError } from '#src/domain/model/errors.js';
import type { KeyVersion } from '#src/domain/model/key-version.js';
import type { Logger } from '#src/ports/outbound/logger.port.js';

/**
 * One "control-plane node" for the multi-node test: a separate process with
 * its own SOFTHSM2_CONF, serving its Pkcs11KeyWrapper over JSON lines on
 * stdin/stdout. Ciphertexts travel as kleidi envelopes, as they do via etcd.
 */
type Request =
  | { id: number; op: 'version' }
  | { id: number; op: 'wrap'; seed: string; version: KeyVersion }
  | { id: number; op: 'unwrap'; envelope: string };

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const options = JSON.parse(process.env.KLEIDI_TEST_PKCS11_OPTIONS ?? '{}') as Pkcs11Options;
const wrapper = await Pkcs11KeyWrapper.open(options, quiet, systemClock);
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const signal = () => AbortSignal.timeout(10_000);

async function answer(req: Request): Promise<unknown> {
  switch (req.op) {
    case 'version':
      return wrapper.currentVersion(signal());
    case 'wrap':
      return b64(encodeEnvelope(await wrapper.wrap(Buffer.from(req.seed, 'base64'), req.version, signal())));
    case 'unwrap':
      return b64(await wrapper.unwrap(decodeEnvelope(Buffer.from(req.envelope, 'base64')), signal()));
  }
}

process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  const req = JSON.parse(line) as Request;
  try {
    process.stdout.write(`${JSON.stringify({ id: req.id, ok: true, result: await answer(req) })}\n`);
  } catch (e) {
    const kind = e instanceof KmsError ? e.kind : 'internal';
    process.stdout.write(`${JSON.stringify({ id: req.id, ok: false, kind, message: (e as Error).message })}\n`);
  }
}
await wrapper.close();
