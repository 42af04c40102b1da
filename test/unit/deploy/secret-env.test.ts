import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backends } from '#src/composition/backends/index.js';

// A secret passed in the environment stays readable in /proc/<pid>/environ for the life of the
// process (to root and kleidi's uid): the kernel keeps the environment block the process started
// with, whatever kleidi removes from process.env. kleidi accepts those variables, but what it ships
// uses the files (pkcs11.pinFile, vault token and AppRole files, AWS shared credentials).
const REPO = new URL('../../../', import.meta.url).pathname;
const files = (dir: string, ext: RegExp) =>
  readdirSync(join(REPO, dir))
    .filter((f) => ext.test(f))
    .map((f) => join(dir, f));
const SHIPPED = [
  ...files('deploy/kubernetes', /\.yaml$/),
  ...files('deploy/kind', /\.yaml$/),
  ...files('deploy/helm/kleidi', /\.yaml$/),
  ...files('deploy/helm/kleidi/templates', /\.(yaml|tpl|txt)$/),
  ...files('deploy/helm/kleidi/ci', /\.yaml$/),
  'deploy/systemd/kleidi.service',
  'deploy/Dockerfile',
];
const SECRET_ENV = backends.flatMap((b) => b.secretEnv ?? []);

describe('secrets in the environment of the shipped deployment artifacts', () => {
  it('knows the secret variables of every backend that has one', () => {
    expect(SECRET_ENV).toEqual(expect.arrayContaining(['KLEIDI_PKCS11_PIN', 'KLEIDI_VAULT_TOKEN']));
    expect(SHIPPED.length).toBeGreaterThan(10);
  });

  for (const rel of SHIPPED) {
    it(`${rel} sets none of them`, () => {
      const text = readFileSync(join(REPO, rel), 'utf8');
      for (const name of SECRET_ENV) {
        // `- name: X`, `{ name: X, … }`, `Environment=X=…`, `ENV X=…`/`ENV X …`; X_FILE is a file path, not a secret.
        const set = new RegExp(`(name:\\s*"?${name}"?\\s*[,}\\n]|Environment="?${name}=|ENV\\s+${name}[=\\s])`);
        expect(set.test(text), `${rel} sets ${name}`).toBe(false);
      }
    });
  }
});
