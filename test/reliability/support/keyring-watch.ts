import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { parseKeyringJson, type Keyring } from '#src/adapters/outbound/local/keyring-format.js';
import { registerSecret, sleep } from './env.js';

export interface KeyringState {
  readonly versions: number[];
  readonly ids: string[];
  readonly sha256: string;
  readonly mode: number;
}

/** Reads and fully validates the keyring with kleidi's own parser; throws on a corrupt file. */
export function readKeyringState(path: string): KeyringState {
  const text = readFileSync(path, 'utf8');
  const keyring: Keyring = parseKeyringJson(text, path);
  return {
    versions: keyring.entries.map((e) => e.version),
    ids: keyring.entries.map((e) => e.id),
    sha256: createHash('sha256').update(text).digest('hex'),
    mode: statSync(path).mode & 0o777,
  };
}

/**
 * Reads the keyring every 50 ms for the whole local campaign (during kills,
 * races and failed rotations) and counts every read that was not a complete,
 * valid 0600 keyring. Atomic replacement means a reader must never see one.
 */
export class KeyringWatch {
  reads = 0;
  corrupt = 0;
  missing = 0;
  badMode = 0;
  readonly problems: string[] = [];
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(private readonly path: string) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.reads++;
      try {
        const s = readKeyringState(this.path);
        if (s.mode !== 0o600) {
          this.badMode++;
          this.problems.push(`mode ${s.mode.toString(8)}`);
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.missing++;
        else {
          this.corrupt++;
          if (this.problems.length < 5) this.problems.push((err as Error).message);
        }
      }
      await sleep(50);
    }
  }

  async stop(): Promise<{ reads: number; corrupt: number; missing: number; badMode: number; problems: string[] }> {
    this.stopped = true;
    await this.loop;
    return {
      reads: this.reads,
      corrupt: this.corrupt,
      missing: this.missing,
      badMode: this.badMode,
      problems: this.problems,
    };
  }
}

/** Registers every KEK of a local keyring as a secret for the log scan (before its directory is removed). */
export function registerKeyringSecrets(path: string): number {
  const keyring = parseKeyringJson(readFileSync(path, 'utf8'), path);
  for (const e of keyring.entries) registerSecret('local KEK material (base64)', e.material.toString('base64'));
  return keyring.entries.length;
}
