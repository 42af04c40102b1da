import { InMemoryKeyWrapper } from '#src/adapters/outbound/in-memory/in-memory.key-wrapper.js';
import type { KeyWrapper } from '#src/ports/outbound/key-wrapper.port.js';

/** What the next backend calls do; mutate between steps of a test. */
interface Script {
  /** Reject every call with this value. */
  fail?: unknown;
  /** Never answer, and ignore the signal (a hung backend). */
  hang?: boolean;
  /** unwrap returns different bytes than were wrapped. */
  corrupt?: boolean;
}

/**
 * The real InMemoryKeyWrapper behind a counting, scriptable facade, so tests
 * can prove that a call never reached the backend, or make it fail or hang.
 */
export function scriptedWrapper(inner = new InMemoryKeyWrapper()) {
  const calls = { currentVersion: 0, wrap: 0, unwrap: 0 };
  const script: Script = {};
  const gate = async <T>(name: keyof typeof calls, fn: () => Promise<T>): Promise<T> => {
    calls[name] += 1;
    if (script.hang) return new Promise<T>(() => undefined);
    if (script.fail !== undefined) throw script.fail;
    return fn();
  };
  const wrapper = {
    backend: inner.backend,
    currentVersion: (signal) => gate('currentVersion', () => inner.currentVersion(signal)),
    wrap: (seed, version, signal) => gate('wrap', () => inner.wrap(seed, version, signal)),
    unwrap: async (wrapped, signal) => {
      const out = await gate('unwrap', () => inner.unwrap(wrapped, signal));
      return script.corrupt ? out.map((b) => b ^ 0xff) : out;
    },
    close: () => inner.close(),
  } satisfies KeyWrapper;
  return { wrapper, inner, calls, script };
}
