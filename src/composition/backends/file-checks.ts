import { access, constants } from 'node:fs/promises';
import type { BackendCheck } from './backend.js';

/**
 * "<what> <path> is readable" as a doctor check. Only presence and read access: the backend's
 * own reader applies its trust rules (mode, owner) when doctor then opens it.
 */
export async function fileCheck(id: string, what: string, path: string, fix: string): Promise<BackendCheck> {
  try {
    await access(path, constants.R_OK);
    return { id, status: 'pass', detail: `${what} ${path} is readable` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return { id, status: 'fail', detail: `${what} ${path} is not readable (${code})`, fix };
  }
}
