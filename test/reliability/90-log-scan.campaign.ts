import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JOURNALS, LOGS, record, registeredSecrets } from './support/env.js';

/**
 * Runs last: every log this campaign produced (each kleidi process, every
 * kleidi init/rotate/keys output, the apiserver client's klog, the Vault
 * server's own log) is searched for every secret the campaign used: PINs,
 * Vault tokens, AppRole role and secret IDs, local KEK material, and every
 * plaintext seed that went through Encrypt (the loadgen journals, the fuzz
 * seeds), in each textual form a log line could carry them.
 */
describe('reliability: no secret in any log', () => {
  it('scans every log for PINs, tokens, secret IDs, KEK material and plaintext seeds: 0 hits', () => {
    const files = listFiles(LOGS);
    const secrets = registeredSecrets();
    const binary = new Map<string, string>(); // textual form → label
    const addBinary = (bytes: Buffer, label: string) => {
      for (const form of [
        bytes.toString('hex'),
        bytes.toString('base64'),
        bytes.toString('base64url'),
        bytes.toString('base64').replace(/=+$/, ''),
      ]) {
        binary.set(form, label);
      }
    };
    let seeds = 0;
    for (const f of existsSync(JOURNALS) ? readdirSync(JOURNALS) : []) {
      if (!f.endsWith('.jsonl')) continue;
      for (const line of readFileSync(join(JOURNALS, f), 'utf8').split('\n')) {
        if (!line) continue;
        const seed = (JSON.parse(line) as { seed?: string }).seed;
        if (!seed) continue;
        addBinary(Buffer.from(seed, 'hex'), 'plaintext seed');
        seeds++;
      }
    }
    const strings = secrets.filter((s) => s.label !== 'local KEK material (base64)');
    const keks = secrets.filter((x) => x.label === 'local KEK material (base64)');
    for (const s of keks) addBinary(Buffer.from(s.value, 'base64'), 'local KEK material');
    const lengths = [...new Set([...binary.keys()].map((k) => k.length))];

    const hits: { file: string; label: string }[] = [];
    let bytes = 0;
    for (const file of files) {
      const text = readFileSync(file, 'latin1');
      bytes += text.length;
      for (const s of strings)
        if (s.value.length >= 4 && text.includes(s.value)) hits.push({ file: rel(file), label: s.label });
      // Binary secrets: look at every window of the right lengths inside runs of hex/base64 characters.
      for (const m of text.matchAll(/[A-Za-z0-9+/=_-]{32,}/g)) {
        const run = m[0];
        for (const len of lengths) {
          for (let i = 0; i + len <= run.length; i++) {
            const label = binary.get(run.slice(i, i + len));
            if (label) hits.push({ file: rel(file), label });
          }
        }
      }
    }
    const kleidiHits = hits.filter((h) => !h.file.startsWith('third-party-'));
    const summary = {
      kind: 'log-scan',
      name: 'secrets in logs',
      files: files.length,
      megabytes: Math.round((bytes / 1e6) * 10) / 10,
      secrets: strings.length,
      secretLabels: [...new Set(strings.map((s) => s.label))],
      seeds,
      keks: keks.length,
      binaryForms: binary.size,
      hits: hits.length,
      hitsByLabel: Object.fromEntries(
        [...new Set(hits.map((h) => h.label))].map((l) => [l, hits.filter((h) => h.label === l).length]),
      ),
      hitFiles: [...new Set(hits.map((h) => h.file))],
      invariants: {
        'no secret in any kleidi log or CLI output': kleidiHits.length === 0,
        'no secret in third-party logs (Vault server)': hits.length === kleidiHits.length,
      },
    };
    record(summary);
    expect(files.length).toBeGreaterThan(0);
    expect(seeds).toBeGreaterThan(0);
    expect(hits).toEqual([]);
  });
});

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? listFiles(p) : [p];
  });
}

function rel(file: string): string {
  return file.slice(LOGS.length + 1);
}
