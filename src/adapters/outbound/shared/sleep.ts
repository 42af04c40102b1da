/** Resolves after `ms`; with a signal, wrap it in abortable() to stop waiting when the signal aborts. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
