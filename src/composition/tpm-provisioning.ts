import type { TpmProvisioning } from '../adapters/inbound/cli/cli-app.js';
import type { TpmConfig } from './backends/tpm.js';
import { tpmSettings } from './backends/tpm.js';
import type { Config } from './config/schema.js';

/**
 * `kleidi tpm …` wired to the TPM adapter's provisioning steps, for a
 * configuration loaded with backend `tpm` (its section is a validated
 * TpmConfig). The adapter is imported only when a step runs.
 */
export function tpmProvisioning(config: Config): TpmProvisioning {
  if (config.backend !== 'tpm') throw new Error(`kleidi tpm needs backend tpm, not ${config.backend}`);
  const settings = tpmSettings(config.backendConfig as TpmConfig, config);
  const operator = async () => {
    const { TpmOperator } = await import('../adapters/outbound/tpm/tpm.operator.js');
    return new TpmOperator(settings);
  };
  return {
    enroll: async () => (await operator()).enroll(),
    addVersion: async () => (await operator()).addVersion(),
    provision: async (enrollmentFile, outFile, current) =>
      (await operator()).provision(enrollmentFile, outFile, current),
    importBundle: async (bundleFile) => (await operator()).importBundle(bundleFile),
  };
}
