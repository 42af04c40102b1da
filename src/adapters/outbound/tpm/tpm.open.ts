import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import type { KeyAdmin } from '../../../ports/outbound/key-admin.port.js';
import type { KeyWrapper } from '../../../ports/outbound/key-wrapper.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { readSecretFile } from '../shared/secret-file.js';
import { TpmCommands } from './tpm.commands.js';
import { DeviceTransport } from './tpm.device-transport.js';
import { TpmKeyAdmin } from './tpm.key-admin.js';
import { TpmKeyWrapper } from './tpm.key-wrapper.js';
import { TpmNode } from './tpm.node.js';
import { parsePcrSelection } from './tpm.pcr.js';
import { SocketTransport } from './tpm.socket-transport.js';
import type { TpmTransport } from './tpm.transport.js';

export interface TpmSettings {
  /** The TPM: a character device (`/dev/tpmrm0`) or `swtpm:<host>:<port>` (swtpm's TCP server socket). */
  readonly tpm: string;
  /** This node's key file (TPM-protected blobs). */
  readonly nodeKeyFile: string;
  /** The KEK ring file (secret; needed by init and rotate only). */
  readonly ringFile: string;
  /** A file holding the sealed objects' auth value; none = an empty auth value. */
  readonly authFile?: string;
  /**
   * tpm.pcrs: the PCR selection ("sha256:0,7") this node's enrollment records and its own
   * imports (init, rotate) bind to; empty or absent = no PCR binding.
   */
  readonly pcrs?: string;
}

/** The digest size of SHA-256, the sealed objects' nameAlg. */
const MAX_AUTH_BYTES = 32;

function transportFor(tpm: string): TpmTransport {
  const m = /^swtpm:([^:]+):(\d{1,5})$/.exec(tpm);
  if (m) return new SocketTransport(m[1] as string, Number(m[2]));
  if (tpm.startsWith('/')) return new DeviceTransport(tpm);
  throw new BackendMisconfiguredError(
    `tpm.device must be a device path such as /dev/tpmrm0 or swtpm:<host>:<port>, not ${tpm}`,
  );
}

/** The sealed objects' auth value from tpm.authFile (empty without one); never from argv or env. */
export async function readAuthValue(s: Pick<TpmSettings, 'authFile'>): Promise<Buffer> {
  const auth = s.authFile
    ? Buffer.from(
        (
          await readSecretFile(s.authFile, { what: 'TPM auth value file', followLinks: true, maxBytes: 1024 })
        ).text.replace(/\n$/, ''),
        'utf8',
      )
    : Buffer.alloc(0);
  // An object's authValue may be no longer than its nameAlg's digest (SHA-256: 32 bytes); a TPM
  // answers a longer one TPM_RC_SIZE (TPM 2.0 Library Part 3, TPM2_Create and TPM2_Import).
  if (auth.length > MAX_AUTH_BYTES) {
    throw new BackendMisconfiguredError(
      `the TPM auth value in ${s.authFile} is ${auth.length} bytes; a TPM accepts at most ${MAX_AUTH_BYTES} (the SHA-256 digest size)`,
    );
  }
  return auth;
}

/** This node's TPM with the auth value, and how to close its transport. */
export async function nodeFor(s: TpmSettings): Promise<{ node: TpmNode; release: () => Promise<void> }> {
  const auth = await readAuthValue(s);
  const pcrs = parsePcrSelection(s.pcrs);
  const transport = transportFor(s.tpm);
  return { node: new TpmNode(new TpmCommands(transport), auth, pcrs), release: () => transport.close() };
}

export async function openTpmWrapper(s: TpmSettings, log: Logger): Promise<KeyWrapper> {
  const { node, release } = await nodeFor(s);
  return TpmKeyWrapper.open(s.nodeKeyFile, node, log, release);
}

export async function openTpmAdmin(s: TpmSettings): Promise<KeyAdmin> {
  const { node, release } = await nodeFor(s);
  return new TpmKeyAdmin(s.nodeKeyFile, s.ringFile, node, release);
}
