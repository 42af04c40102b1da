import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { backends } from '#src/composition/backends/index.js';
import { ConfigError, envToRaw, loadConfig } from '#src/composition/config/load.js';

/**
 * Properties of the configuration loader (reliability campaign, docs/reliability.md):
 * whatever an operator or a Kubernetes pod spec puts into flags, KLEIDI_*
 * variables and the YAML file, loading either yields a valid configuration or
 * a ConfigError that names the offending source, precedence always holds, and
 * secrets passed as variables never become settings.
 */
const dir = mkdtempSync(join(tmpdir(), 'kleidi-config-prop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const yamlFile = (text: string) => {
  const path = join(dir, `c-${++n}.yaml`);
  writeFileSync(path, text);
  return path;
};

const SECRET_ENV = backends.flatMap((b) => b.secretEnv ?? []);

/** A refreshInterval inside its bounds (100 ms .. 30 s), written as an operator might. */
const interval = fc
  .tuple(fc.integer({ min: 100, max: 30_000 }), fc.constantFrom('ms', 's'))
  .filter(([ms, u]) => u === 'ms' || ms % 1_000 === 0)
  .map(([ms, u]) => ({ text: u === 'ms' ? `${ms}ms` : `${ms / 1_000}s`, ms }));

describe('configuration loader properties', () => {
  it('precedence: flags > KLEIDI_* > file > default, for any combination of sources', () => {
    fc.assert(
      fc.property(fc.option(interval), fc.option(interval), fc.option(interval), (file, env, flag) => {
        const cfg = loadConfig(
          {
            ...(file ? { config: yamlFile(`refreshInterval: ${file.text}\n`) } : {}),
            ...(flag ? { refreshInterval: flag.text } : {}),
          },
          env ? { KLEIDI_REFRESH_INTERVAL: env.text } : {},
        );
        expect(cfg.refreshInterval).toBe((flag ?? env ?? file)?.ms ?? 10_000);
      }),
      { numRuns: 60 },
    );
  });

  it('a secret passed as an environment variable never becomes a setting, nor is it reported as unknown', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SECRET_ENV), fc.string({ minLength: 1, maxLength: 40 }), (name, value) => {
        const ignored: string[] = [];
        const raw = envToRaw({ [name]: value, KLEIDI_LOG_LEVEL: 'warn' }, undefined, ignored);
        expect(raw).toEqual({ logLevel: 'warn' });
        expect(ignored).not.toContain(name);
      }),
    );
  });

  it('any KLEIDI_* environment gives a valid configuration or a ConfigError naming the variable, never another exception', () => {
    const names = fc.constantFrom(
      'KLEIDI_BACKEND',
      'KLEIDI_SOCKET',
      'KLEIDI_SOCKET_MODE',
      'KLEIDI_STATE_DIR',
      'KLEIDI_REFRESH_INTERVAL',
      'KLEIDI_SHUTDOWN_GRACE',
      'KLEIDI_LOG_LEVEL',
      'KLEIDI_HTTP_ADDRESS',
      'KLEIDI_LOCAL_KEYRING_FILE',
      'KLEIDI_PKCS11_SLOT',
      'KLEIDI_PKCS11_SESSION_POOL_SIZE',
      'KLEIDI_SERVICE_HOST',
      'KLEIDI_NOT_A_SETTING',
    );
    const value = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom('0600', '0666', '10s', '-1', 'pkcs11', 'local', 'in-memory', '', 'true', '1e309'),
    );
    fc.assert(
      fc.property(fc.dictionary(names, value, { maxKeys: 5 }), (env) => {
        try {
          const cfg = loadConfig({}, env);
          expect(cfg.refreshInterval).toBeGreaterThanOrEqual(100);
          expect(cfg.socketMode & 0o007).toBe(0);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          for (const problem of (err as ConfigError).problems) {
            const named = Object.keys(env).some((k) => problem.includes(k));
            const section =
              /^(backend|pkcs11|local|vault|inMemory)[.:]/.test(problem) || problem.startsWith('backend:');
            expect(named || section, problem).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('socketMode: anything that grants "others" access is refused; owner and group modes pass', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0o777 }), (mode) => {
        const text = `0${mode.toString(8).padStart(3, '0')}`;
        const load = () => loadConfig({ socketMode: text }, {});
        if ((mode & 0o007) === 0) expect(load().socketMode).toBe(mode);
        else expect(load).toThrow(ConfigError);
      }),
    );
  });
});
