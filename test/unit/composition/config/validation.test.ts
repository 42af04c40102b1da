import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Raw } from '#src/composition/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'kleidi-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problems(flags: Raw, env: Record<string, string> = {}): readonly string[] {
  try {
    loadConfig(flags, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/^invalid configuration:\n {2}- /);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig refuses bad settings', () => {
  it('refuses unknown top-level keys from flags and file, naming them', () => {
    expect(problems({ sockt: 'x' }).join('\n')).toMatch(/sockt/);
    const file = join(dir, 'typo.yaml');
    writeFileSync(file, 'refresh_interval: 1s\n');
    expect(problems({ config: file }).join('\n')).toMatch(/refresh_interval/);
  });

  it('ignores unknown KLEIDI_* environment variables (e.g. Kubernetes service links) and reports them', () => {
    const env = { KLEIDI_SOCKT: 'x', KLEIDI_SERVICE_HOST: '10.0.0.1', KLEIDI_LOCAL_KEYRING_PATH: '/k' };
    const cfg = loadConfig({}, env);
    expect([...cfg.ignoredEnv].sort()).toEqual(['KLEIDI_LOCAL_KEYRING_PATH', 'KLEIDI_SERVICE_HOST', 'KLEIDI_SOCKT']);
  });

  it('refuses an unknown backend, listing the valid ones', () => {
    expect(problems({ backend: 'vaultt' })[0]).toMatch(
      /^backend: "vaultt" is not one of local, pkcs11, vault, aws, gcp, azure, delinea, tpm, in-memory/,
    );
  });

  it('refuses unknown fields in the selected backend’s section from a file', () => {
    const file = join(dir, 'section.yaml');
    writeFileSync(file, 'local:\n  keyringPath: /k\n');
    expect(problems({ config: file }).join('\n')).toMatch(/^local\.keyringPath/m);
  });

  it('reports several problems at once in one ConfigError', () => {
    const found = problems(
      { socketMode: '0666', extra: true },
      { KLEIDI_REFRESH_INTERVAL: 'soon', KLEIDI_LOG_LEVEL: 'loud', KLEIDI_LOCAL_BOGUS: '1' },
    );
    expect(found).toHaveLength(4);
    expect(found.join('\n')).toMatch(/socketMode/);
    expect(found.join('\n')).toMatch(/refreshInterval \(KLEIDI_REFRESH_INTERVAL\): "soon" is not a duration/);
    expect(found.join('\n')).toMatch(/logLevel/);
    expect(found.join('\n')).toMatch(/extra/);
  });
});

describe('durations', () => {
  it.each([
    ['1s', 1_000],
    ['500ms', 500],
    ['100', 100],
    ['1.5s', 1_500],
    ['30s', 30_000],
  ])('refreshInterval %s → %i ms', (raw, ms) => {
    expect(loadConfig({ refreshInterval: raw }, {}).refreshInterval).toBe(ms);
  });

  it('accepts 2m as shutdownGrace, its upper bound', () => {
    expect(loadConfig({ shutdownGrace: '2m' }, {}).shutdownGrace).toBe(120_000);
    expect(loadConfig({ shutdownGrace: '0s' }, {}).shutdownGrace).toBe(0);
  });

  it.each(['soon', '1d', '-1s', '', 's', '1 0s'])('refuses %j as not a duration', (raw) => {
    expect(problems({ refreshInterval: raw })[0]).toMatch(/^refreshInterval: .* is not a duration/);
  });

  it.each([
    ['refreshInterval', '99ms', /between 100ms and 30000ms/],
    ['refreshInterval', '2m', /between 100ms and 30000ms/],
    ['shutdownGrace', '121s', /between 0ms and 120000ms/],
  ])('refuses %s=%s as out of range', (field, raw, why) => {
    expect(problems({ [field]: raw })).toEqual([expect.stringMatching(why)]);
  });
});

describe('socketMode', () => {
  it.each([
    ['0600', 0o600],
    ['0660', 0o660],
    ['640', 0o640],
    ['0000', 0],
  ])('octal string %s', (raw, mode) => {
    expect(loadConfig({ socketMode: raw }, {}).socketMode).toBe(mode);
  });

  it('takes a number as the mode itself', () => {
    expect(loadConfig({ socketMode: 0o660 }, {}).socketMode).toBe(0o660);
  });

  it.each(['0666', '0607', '0601', '0777'])('refuses %s: accessible to others', (raw) => {
    expect(problems({ socketMode: raw })).toEqual([
      expect.stringMatching(/^socketMode: .*not be accessible to others/),
    ]);
  });

  it.each(['0o600', '0800', '10600', 'rw-------', '60'])('refuses %j: not an octal mode', (raw) => {
    expect(problems({ socketMode: raw })).toEqual([expect.stringMatching(/not an octal file mode/)]);
  });

  it.each(['0440', '0660', '0640'])(
    'does not silently misread an unquoted YAML %s as decimal (YAML 1.2 has no leading-0 octal)',
    (text) => {
      const file = join(dir, `mode-${text}.yaml`);
      writeFileSync(file, `socketMode: ${text}\n`);
      let mode: number | undefined;
      try {
        mode = loadConfig({ config: file }, {}).socketMode;
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError); // refusing is fine
        return;
      }
      expect(mode.toString(8)).toBe(text.slice(1)); // accepting must mean the octal mode written
    },
  );
});

describe('in-memory backend', () => {
  it('is refused without the data-loss acknowledgement', () => {
    const found = problems({ backend: 'in-memory' });
    expect(found).toEqual([
      expect.stringMatching(/^inMemory\.acknowledgeDataLoss: .*KLEIDI_IN_MEMORY_ACKNOWLEDGE_DATA_LOSS/),
    ]);
    expect(problems({ backend: 'in-memory' }, { KLEIDI_IN_MEMORY_ACKNOWLEDGE_DATA_LOSS: 'false' })).toHaveLength(1);
    expect(problems({ backend: 'in-memory' }, { KLEIDI_IN_MEMORY_ACKNOWLEDGE_DATA_LOSS: 'maybe' })).toHaveLength(1);
  });

  it.each(['true', '1', 'yes'])('is accepted with KLEIDI_IN_MEMORY_ACKNOWLEDGE_DATA_LOSS=%s', (ack) => {
    const cfg = loadConfig({}, { KLEIDI_BACKEND: 'in-memory', KLEIDI_IN_MEMORY_ACKNOWLEDGE_DATA_LOSS: ack });
    expect(cfg.backend).toBe('in-memory');
    expect(cfg.backendConfig).toEqual({ acknowledgeDataLoss: true });
  });

  it('is accepted with the acknowledgement in the YAML section', () => {
    const file = join(dir, 'in-memory.yaml');
    writeFileSync(file, 'backend: in-memory\ninMemory:\n  acknowledgeDataLoss: true\n');
    expect(loadConfig({ config: file }, {}).backendConfig).toEqual({ acknowledgeDataLoss: true });
  });
});

describe('abstract sockets', () => {
  it('are refused unless allowAbstractSocketInsecure is set, naming the setting', () => {
    expect(problems({ socket: 'unix:///@kms' })).toEqual([
      expect.stringMatching(/^socket: .*allowAbstractSocketInsecure/),
    ]);
    expect(problems({}, { KLEIDI_SOCKET: '@kms' })).toEqual([
      expect.stringMatching(/^socket \(KLEIDI_SOCKET\): .*abstract socket/),
    ]);
    expect(loadConfig({ socket: 'unix:///@kms', allowAbstractSocketInsecure: true }, {}).socket).toBe('unix:///@kms');
    expect(loadConfig({ socket: 'unix:///@kms' }, { KLEIDI_ALLOW_ABSTRACT_SOCKET_INSECURE: 'true' }).socket).toBe(
      'unix:///@kms',
    );
  });

  it('refuse socketMode and socketGroup, which have no file to apply to, even when allowed', () => {
    const allowed = { socket: 'unix:///@kms', allowAbstractSocketInsecure: true };
    expect(problems({ ...allowed, socketMode: '0600' })).toEqual([expect.stringMatching(/^socketMode: .*abstract/)]);
    expect(problems({ ...allowed }, { KLEIDI_SOCKET_GROUP: 'kube' })).toEqual([
      expect.stringMatching(/^socketGroup \(KLEIDI_SOCKET_GROUP\): .*abstract/),
    ]);
  });

  it('leave socket paths and their mode alone', () => {
    expect(loadConfig({ socket: '/run/kms.sock', socketMode: '0660' }, {}).socketMode).toBe(0o660);
  });
});
