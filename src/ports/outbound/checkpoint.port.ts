import type { ReencryptCheckpoint } from '../../domain/model/reencrypt.js';

/**
 * Where `kleidi reencrypt` keeps its progress (ADR 0019).
 *
 * Contract:
 * - `save` replaces the checkpoint atomically (a crash leaves the old one or
 *   the new one, never a torn file), readable by its owner only.
 * - `load` returns the last checkpoint saved, undefined when there is none;
 *   a file that is not a checkpoint rejects with a message naming the file.
 */
export interface CheckpointStore {
  /** Where it is kept, for messages. */
  readonly location: string;
  load(): Promise<ReencryptCheckpoint | undefined>;
  save(checkpoint: ReencryptCheckpoint): Promise<void>;
}
