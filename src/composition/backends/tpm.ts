import { join } from 'node:path';
import { z } from 'zod';
import type { TpmSettings } from '../../adapters/outbound/tpm/tpm.open.js';
import { type BackendCheck, type BackendContext, defineBackend } from './backend.js';
import { fileCheck } from './file-checks.js';

const path = () => z.string().min(1);

/** `/dev/tpmrm0`-style device paths, or swtpm's TCP data socket (tests, docs' walkthrough). */
const TPM_ADDRESS = /^(\/\S+|swtpm:[^:\s]+:\d{1,5})$/;

/** A PCR selection in the SHA-256 bank, as tpm2-tools' `-l` writes it; the adapter checks ranges and repeats. */
const PCR_SELECTION = /^(sha256:\d{1,2}(,\d{1,2})*)?$/;

/**
 * The `tpm` config section (a TPM 2.0, docs/adr/0014-tpm-backend.md). Field names give the
 * env names through the loader: device ↔ KLEIDI_TPM_DEVICE, nodeKeyFile ↔
 * KLEIDI_TPM_NODE_KEY_FILE, ringFile ↔ KLEIDI_TPM_RING_FILE, authFile ↔ KLEIDI_TPM_AUTH_FILE,
 * pcrs ↔ KLEIDI_TPM_PCRS.
 * Secrets (the ring, the auth value) are only ever file paths, read by the adapter with the
 * shared secret-file reader (src/adapters/outbound/shared/secret-file.ts).
 */
export const TpmConfigSchema = z.strictObject({
  device: z
    .string()
    .regex(TPM_ADDRESS, 'must be a device path such as /dev/tpmrm0, or swtpm:<host>:<port>')
    .default('/dev/tpmrm0')
    .meta({
      description:
        "The TPM: the kernel resource manager's device (`/dev/tpmrm0`), or `swtpm:<host>:<port>` for swtpm's TCP socket (tests).",
    }),
  nodeKeyFile: path().optional().meta({
    description:
      "This node's key file: the KEK versions as blobs only this node's TPM can load; the default is `<stateDir>/tpm-node-keys.json`.",
  }),
  ringFile: path()
    .optional()
    .meta({
      description:
        'The KEK ring (secret, mode 0600), read by `kleidi tpm add-version` and `kleidi tpm provision` on the ring holder ' +
        '(and by `kleidi init` and `kleidi rotate` on a single node); keep it off the nodes. ' +
        'The default is `<stateDir>/tpm-ring.json`.',
    }),
  authFile: path().optional().meta({
    description:
      "File holding the auth value of this node's sealed KEK objects (mode 0600); when unset, an empty auth value.",
  }),
  pcrs: z
    .string()
    .regex(PCR_SELECTION, 'must be like sha256:0,2,4,7 (the SHA-256 bank, PCRs 0 to 23), or empty')
    .default('')
    .meta({
      description:
        'Bind the KEK objects to these PCR values (measured boot), e.g. `sha256:0,2,4,7`; empty: no binding. ' +
        "`kleidi tpm enroll` records the node's current values, the bundle's objects need them to unseal. " +
        'After a firmware update, re-enroll and re-provision the node (docs/backends/tpm.md#pcr-change).',
    }),
});

export type TpmConfig = z.output<typeof TpmConfigSchema>;

/** Maps the validated section to the adapter's settings; file defaults live in the state directory. */
export function tpmSettings(c: TpmConfig, ctx: Pick<BackendContext, 'stateDir'>): TpmSettings {
  return {
    tpm: c.device,
    nodeKeyFile: c.nodeKeyFile ?? join(ctx.stateDir, 'tpm-node-keys.json'),
    ringFile: c.ringFile ?? join(ctx.stateDir, 'tpm-ring.json'),
    ...(c.authFile ? { authFile: c.authFile } : {}),
    ...(c.pcrs ? { pcrs: c.pcrs } : {}),
  };
}

/** The TPM 2.0 backend (`backend: tpm`). */
export const tpmBackend = defineBackend({
  name: 'tpm',
  summary: "a KEK sealed to each node's TPM 2.0, no HSM or cloud",
  section: 'tpm',
  schema: TpmConfigSchema,
  adapter: 'tpm',
  libraries: [],
  docs: 'docs/backends/tpm.md',
  testing: {
    harness: 'test/backends/tpm.harness.ts',
    contract: 'test/contract/tpm.contract.test.ts',
    campaign: 'test/reliability/39-tpm.campaign.ts',
  },
  async doctor(c, ctx) {
    const s = tpmSettings(c, ctx);
    const checks: BackendCheck[] = [];
    if (s.tpm.startsWith('/'))
      checks.push(
        await fileCheck(
          'backend.config',
          'TPM device',
          s.tpm,
          "give kleidi's user access to the TPM resource manager (group tss on most distributions)",
        ),
      );
    checks.push(
      await fileCheck(
        'backend.config',
        'TPM node key file',
        s.nodeKeyFile,
        `provision this node (docs/backends/tpm.md): \`kleidi tpm enroll\`, then \`kleidi tpm import --state-dir ${ctx.stateDir} --bundle <file>\` with the bundle made from the ring`,
      ),
    );
    if (s.authFile)
      checks.push(
        await fileCheck(
          'backend.credentials',
          'TPM auth value file',
          s.authFile,
          'restore the auth value file (mode 0600)',
        ),
      );
    return checks;
  },
  // The adapter is imported only when this backend is used.
  openWrapper: async (c, ctx) => {
    const { openTpmWrapper } = await import('../../adapters/outbound/tpm/tpm.open.js');
    return openTpmWrapper(tpmSettings(c, ctx), ctx.logger);
  },
  openAdmin: async (c, ctx) => {
    const { openTpmAdmin } = await import('../../adapters/outbound/tpm/tpm.open.js');
    return openTpmAdmin(tpmSettings(c, ctx));
  },
});
