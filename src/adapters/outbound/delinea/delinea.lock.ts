/**
 * Serialises the read-modify-write of one ring within this process (concurrent `init`/`rotate`
 * on several KeyAdmins of the same secret). Across processes the write is checked by reading
 * back instead (delinea.kek-source.key-admin.ts): Secret Server's field update has no
 * precondition header.
 */
const tails = new Map<string, Promise<unknown>>();

export async function serialised<T>(key: string, work: () => Promise<T>): Promise<T> {
  const before = tails.get(key) ?? Promise.resolve();
  const run = before.then(work, work);
  const tail = run.catch(() => undefined);
  tails.set(key, tail);
  try {
    return await run;
  } finally {
    if (tails.get(key) === tail) tails.delete(key);
  }
}
