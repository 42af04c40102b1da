/**
 * Minimal shape checks for the TPM backend's JSON files; each returns
 * undefined for anything unexpected, and the reader names the file.
 */
export function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

export function positiveInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

export function base64(v: unknown): Buffer | undefined {
  return typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v) && v.length % 4 === 0
    ? Buffer.from(v, 'base64')
    : undefined;
}

export function ascending(versions: readonly { version: number }[]): boolean {
  return versions.every((e, i) => i === 0 || e.version > (versions[i - 1] as { version: number }).version);
}
