import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, envToRaw, loadConfig, mergeRaw } from '#src/composition/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'kleidi-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const yamlFile = (text: string) => {
  const path = join(dir, `config-${++n}.yaml`);
  writeFileSync(path, text);
  return path;
};

describe('loadConfig defaults', () => {
  it('needs nothing and selects the local backend', () => {
    expect(loadConfig({}, {})).toEqual({
      backend: 'local',
      socket: 'unix:///var/run/kleidi/kms.sock',
      socketMode: 0o600,
      allowAbstractSocketInsecure: false,
      socketMaxConnections: 16,
      socketMaxStreams: 64,
      socketHandshakeTimeout: 10_000,
      socketIdleTimeout: 300_000,
      maxCallDuration: 30_000,
      maxHealthWatches: 8,
      stateDir: '/var/lib/kleidi',
      refreshInterval: 10_000,
      shutdownGrace: 10_000,
      logLevel: 'info',
      logFormat: 'auto',
      httpAddress: '127.0.0.1:8181',
      backendConfig: {},
      ignoredEnv: [],
    });
  });

  it('treats an empty file as no settings', () => {
    expect(loadConfig({ config: yamlFile('') }, {}).stateDir).toBe('/var/lib/kleidi');
  });
});

describe('loadConfig precedence: defaults < YAML file < env KLEIDI_* < flags', () => {
  const file = yamlFile(
    [
      'logLevel: debug',
      'stateDir: /from-file',
      'refreshInterval: 2s',
      'socket: unix:///file.sock',
      'local:',
      '  keyringFile: /file/keyring.json',
    ].join('\n'),
  );

  it('layers every source field by field', () => {
    const env = { KLEIDI_STATE_DIR: '/from-env', KLEIDI_REFRESH_INTERVAL: '3s', KLEIDI_SHUTDOWN_GRACE: '1s' };
    const cfg = loadConfig({ config: file, refreshInterval: '4s', logLevel: undefined }, env);
    expect(cfg).toMatchObject({
      logLevel: 'debug', // file (an undefined flag does not override)
      socket: 'unix:///file.sock', // file
      stateDir: '/from-env', // env over file
      shutdownGrace: 1_000, // env over default
      refreshInterval: 4_000, // flag over env and file
      socketMode: 0o600, // default
      backendConfig: { keyringFile: '/file/keyring.json' },
    });
  });

  it('lets a section env var override one field of the file’s section', () => {
    const cfg = loadConfig({ config: file }, { KLEIDI_LOCAL_KEYRING_FILE: '/env/keyring.json' });
    expect(cfg.backendConfig).toEqual({ keyringFile: '/env/keyring.json' });
  });

  it('reads the file named by KLEIDI_CONFIG, and --config wins over it', () => {
    const other = yamlFile('stateDir: /other-file\n');
    expect(loadConfig({}, { KLEIDI_CONFIG: file }).stateDir).toBe('/from-file');
    expect(loadConfig({ config: other }, { KLEIDI_CONFIG: file }).stateDir).toBe('/other-file');
  });
});

describe('envToRaw', () => {
  it('maps KLEIDI_<FIELD> to top-level and KLEIDI_<SECTION>_<FIELD> into the section', () => {
    expect(
      envToRaw({
        KLEIDI_SOCKET_MODE: '0660',
        KLEIDI_LOG_LEVEL: 'warn',
        KLEIDI_LOCAL_KEYRING_FILE: '/k.json',
        KLEIDI_IN_MEMORY_ACKNOWLEDGE_DATA_LOSS: 'true',
        KLEIDI_CONFIG: '/etc/kleidi.yaml',
        KLEIDI_UNSET: undefined,
        HOME: '/root',
        kleidi_lower: 'x',
      }),
    ).toEqual({
      socketMode: '0660',
      logLevel: 'warn',
      local: { keyringFile: '/k.json' },
      inMemory: { acknowledgeDataLoss: 'true' },
    });
  });

  it('applies env values through loadConfig', () => {
    const cfg = loadConfig(
      {},
      { KLEIDI_SOCKET_MODE: '0660', KLEIDI_SOCKET_GROUP: '997', KLEIDI_HTTP_ADDRESS: '127.0.0.1:8080' },
    );
    expect(cfg).toMatchObject({ socketMode: 0o660, socketGroup: '997', httpAddress: '127.0.0.1:8080' });
  });
});

describe('mergeRaw', () => {
  it('lets later layers win, merges sections, skips undefined and replaces non-objects', () => {
    expect(
      mergeRaw(
        { a: 1, s: { x: 1, y: 1 }, list: [1, 2] },
        { a: 2, s: { y: 2, z: 2 }, list: [3] },
        { a: undefined, s: undefined },
      ),
    ).toEqual({ a: 2, s: { x: 1, y: 2, z: 2 }, list: [3] });
  });
});

describe('loadConfig file problems', () => {
  const problems = (f: () => unknown): readonly string[] => {
    try {
      f();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
    throw new Error('expected a ConfigError');
  };

  it('names a missing file', () => {
    const missing = join(dir, 'missing.yaml');
    expect(problems(() => loadConfig({ config: missing }, {}))[0]).toContain(missing);
  });

  it('refuses a file that is not a mapping, or not YAML', () => {
    expect(problems(() => loadConfig({ config: yamlFile('- a\n- b\n') }, {}))[0]).toMatch(/not a mapping/);
    expect(problems(() => loadConfig({ config: yamlFile('a: [unclosed\n') }, {}))).toHaveLength(1);
  });
});

describe('loadConfig logFormat', () => {
  it('takes json or text from KLEIDI_LOG_FORMAT, the flag winning, and refuses anything else', () => {
    expect(loadConfig({}, { KLEIDI_LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(loadConfig({ logFormat: 'text' }, { KLEIDI_LOG_FORMAT: 'json' }).logFormat).toBe('text');
    expect(() => loadConfig({}, { KLEIDI_LOG_FORMAT: 'pretty' })).toThrow(/logFormat \(KLEIDI_LOG_FORMAT\)/);
  });
});
