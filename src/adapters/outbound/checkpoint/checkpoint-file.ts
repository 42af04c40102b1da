import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ReencryptCheckpoint, ResourceProgress } from '../../../domain/model/reencrypt.js';
import type { CheckpointStore } from '../../../ports/outbound/checkpoint.port.js';
import { errnoText, isErrno } from '../shared/errno.js';
import { syncDirectory } from '../shared/sync-dir.js';

/** A checkpoint is a few names and counts per resource; a larger file is not one. */
const MAX_BYTES = 1 << 20;

/**
 * `kleidi reencrypt`'s progress in a JSON file (ADR 0019). It names objects
 * (namespace/name), not their content; still 0600, as the names of an
 * operator's Secrets are nobody else's business. Replaced atomically: a temp
 * file in the same directory, fsync, rename, fsync the directory, so a
 * SIGKILL at any moment leaves the previous checkpoint or the new one.
 */
export class CheckpointFile implements CheckpointStore {
  constructor(readonly location: string) {}

  async load(): Promise<ReencryptCheckpoint | undefined> {
    let text: string;
    try {
      const fh = await open(this.location, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        const st = await fh.stat();
        if (!st.isFile() || st.size > MAX_BYTES) throw new Error(`state file ${this.location} is not a checkpoint`);
        // A checkpoint decides what is skipped: one planted by someone else ("done") would make a
        // run skip every object and report success. Only the caller's own file (or root's) counts.
        const uid = process.geteuid?.() ?? st.uid;
        if ((st.mode & 0o022) !== 0 || (st.uid !== uid && st.uid !== 0)) {
          throw new Error(
            `state file ${this.location} is not yours alone (owner uid ${st.uid}, mode ` +
              `${(st.mode & 0o777).toString(8).padStart(4, '0')}); remove it, or pass --restart`,
          );
        }
        text = await fh.readFile('utf8');
      } finally {
        await fh.close();
      }
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      if (err instanceof Error && !('code' in err)) throw err;
      throw new Error(`cannot read the state file ${this.location}: ${errnoText(err)}`);
    }
    const parsed = checkpointOf(safeJson(text));
    if (!parsed)
      throw new Error(
        `state file ${this.location} is not a kleidi reencrypt checkpoint (remove it, or pass --restart)`,
      );
    return parsed;
  }

  async save(checkpoint: ReencryptCheckpoint): Promise<void> {
    const tmp = `${this.location}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      const fh = await open(
        tmp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600,
      );
      try {
        await fh.writeFile(`${JSON.stringify(checkpoint, null, 2)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.location);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw new Error(`cannot write the state file ${this.location}: ${errnoText(err)}`);
    }
    await syncDirectory(dirname(this.location));
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function checkpointOf(v: unknown): ReencryptCheckpoint | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (o.version !== 1 || typeof o.cluster !== 'string' || typeof o.complete !== 'boolean') return undefined;
  if (typeof o.resources !== 'object' || o.resources === null) return undefined;
  const resources: Record<string, ResourceProgress> = {};
  for (const [name, p] of Object.entries(o.resources as Record<string, unknown>)) {
    if (typeof p !== 'object' || p === null) return undefined;
    const r = p as Record<string, unknown>;
    if (typeof r.done !== 'boolean' || !Number.isInteger(r.rewritten) || !Number.isInteger(r.deleted)) return undefined;
    if (r.after !== undefined && typeof r.after !== 'string') return undefined;
    resources[name] = {
      done: r.done,
      rewritten: r.rewritten as number,
      deleted: r.deleted as number,
      ...(typeof r.after === 'string' ? { after: r.after } : {}),
    };
  }
  return { version: 1, cluster: o.cluster, complete: o.complete, resources };
}
