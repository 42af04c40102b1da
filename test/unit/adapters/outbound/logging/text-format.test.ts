import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createLogger } from '#src/adapters/outbound/logging/pino.logger.js';
import { formatLogLine } from '#src/adapters/outbound/logging/text-format.js';

const SNIPPET = [
  'apiVersion: apiserver.config.k8s.io/v1',
  'kind: EncryptionConfiguration',
  'resources:',
  '  - resources: [secrets, configmaps]',
  '    providers:',
  '      - kms:',
  '          apiVersion: v2',
  '          name: kleidi',
  '          endpoint: unix:///var/run/kleidi/kms.sock',
  '          timeout: 3s',
  '      - identity: {}',
].join('\n');

const ESC = '\x1b';
const ANSI = new RegExp(`${ESC}\\[[0-9;]*m`, 'g');

const line = (rec: Record<string, unknown>) =>
  JSON.stringify({ level: 'info', time: '2026-12-04T21:58:06.123Z', app: 'kleidi', ...rec });

/** A stream that says it is (or is not) a terminal, collecting what is written. */
function sink(isTTY: boolean) {
  const s = new PassThrough() as PassThrough & { isTTY?: boolean };
  if (isTTY) s.isTTY = true;
  let out = '';
  s.on('data', (d: Buffer) => (out += d.toString()));
  return { stream: s, out: () => out };
}

describe('the text face of a log line', () => {
  it('reads time, level, message, then the fields as key=value, without colours when told so', () => {
    const text = formatLogLine(line({ endpoint: 'unix:///x.sock', keyId: 'local:v1:ab', msg: 'serving KMSv2' }), {
      color: false,
    });
    expect(text).toBe('21:58:06.123Z INFO  serving KMSv2 endpoint=unix:///x.sock keyId=local:v1:ab\n');
  });

  it('quotes values that would not read as one word, and writes objects as JSON', () => {
    const text = formatLogLine(line({ msg: 'm', reason: 'keyring changed', paths: ['/a', '/b'], n: 3, ok: false }), {
      color: false,
    });
    expect(text).toBe('21:58:06.123Z INFO  m reason="keyring changed" paths=["/a","/b"] n=3 ok=false\n');
  });

  it('prints a multi-line field (the EncryptionConfiguration) as a block that parses as the same YAML', () => {
    const text = formatLogLine(
      line({ msg: 'kleidi is ready', endpoint: 'unix:///x', encryptionConfiguration: SNIPPET }),
      {
        color: true,
      },
    );
    const [first, ...rest] = text.split('\n');
    expect(first).toContain('kleidi is ready');
    expect(first).not.toContain('apiVersion');
    const block = rest.join('\n');
    // The block is the snippet verbatim, uncoloured, after a comment line: pasted as is, it is the same document.
    expect(block).toContain(`\n${SNIPPET}\n`);
    expect(parse(block.replace(ANSI, ''))).toEqual(parse(SNIPPET));
    expect(block.slice(block.indexOf('apiVersion'))).not.toContain('\x1b[');
  });

  it('shows an error by its message, and its stack only at error and fatal', () => {
    const err = { type: 'Error', message: 'socket in use', stack: 'Error: socket in use\n    at listen (x.js:1:1)' };
    const warn = formatLogLine(line({ level: 'warn', msg: 'probe failed', err }), { color: false });
    expect(warn).toBe('21:58:06.123Z WARN  probe failed err="socket in use"\n');
    const error = formatLogLine(line({ level: 'error', msg: 'startup failed', err }), { color: false });
    expect(error).toBe(
      '21:58:06.123Z ERROR startup failed err="socket in use"\n    Error: socket in use\n        at listen (x.js:1:1)\n',
    );
  });

  it('colours the level only when asked', () => {
    expect(formatLogLine(line({ level: 'warn', msg: 'm' }), { color: true })).toContain('\x1b[33mWARN \x1b[0m');
    expect(formatLogLine(line({ level: 'warn', msg: 'm' }), { color: false })).not.toContain('\x1b[');
  });

  it('passes a line that is not JSON through unchanged', () => {
    expect(formatLogLine('not json', { color: false })).toBe('not json\n');
  });
});

describe('createLogger picks its face from the stream', () => {
  const flushed = (log: ReturnType<typeof createLogger>) => new Promise<void>((r) => log.flush(() => r()));

  it('writes JSON lines to a stream that is not a terminal, as it always has', async () => {
    const s = sink(false);
    const log = createLogger({ level: 'info', destination: s.stream });
    log.info({ endpoint: 'unix:///x', pin: '1234' }, 'serving KMSv2');
    await flushed(log);
    const rec = JSON.parse(s.out()) as Record<string, unknown>;
    expect(Object.keys(rec)).toEqual(['level', 'time', 'app', 'endpoint', 'pin', 'msg']);
    expect(rec).toMatchObject({ level: 'info', app: 'kleidi', endpoint: 'unix:///x', pin: '[redacted]' });
  });

  it('writes text with colours to a terminal, redactions still applied', async () => {
    const s = sink(true);
    const log = createLogger({ level: 'info', destination: s.stream });
    log.info({ endpoint: 'unix:///x', pin: '1234' }, 'serving KMSv2');
    await flushed(log);
    expect(s.out()).toContain(`${ESC}[32mINFO ${ESC}[0m serving KMSv2 `);
    expect(s.out().replace(ANSI, '')).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z INFO {2}serving KMSv2 /);
    expect(s.out()).toContain('[redacted]');
    expect(s.out()).not.toContain('1234');
  });

  it('obeys an explicit format either way, and NO_COLOR on a terminal', async () => {
    const tty = sink(true);
    const json = createLogger({ level: 'info', destination: tty.stream, format: 'json' });
    json.info({}, 'm');
    await flushed(json);
    expect(JSON.parse(tty.out())).toMatchObject({ level: 'info', msg: 'm' });

    const pipe = sink(false);
    const text = createLogger({ level: 'info', destination: pipe.stream, format: 'text' });
    text.info({}, 'm');
    await flushed(text);
    expect(pipe.out()).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z INFO {2}m\n$/);

    const plain = sink(true);
    const noColor = createLogger({ level: 'info', destination: plain.stream, noColor: true });
    noColor.info({}, 'm');
    await flushed(noColor);
    expect(plain.out()).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z INFO {2}m\n$/);
  });
});
