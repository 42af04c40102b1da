import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { endpointUrl, listenTarget, parseEndpoint, type Endpoint } from '#src/adapters/inbound/grpc/endpoint.js';

const CWD = '/srv/kleidi';

describe('parseEndpoint', () => {
  it.each<[string, Endpoint]>([
    ['unix:///a/b.sock', { kind: 'path', path: '/a/b.sock' }],
    ['unix:///var/run/kleidi/kms.sock', { kind: 'path', path: '/var/run/kleidi/kms.sock' }],
    ['unix:///tmp/with%20space.sock', { kind: 'path', path: '/tmp/with space.sock' }],
    ['unix:///@name', { kind: 'abstract', name: 'name' }],
    ['unix:///@kms-provider.sock', { kind: 'abstract', name: 'kms-provider.sock' }],
    ['@name', { kind: 'abstract', name: 'name' }],
    ['/abs/path.sock', { kind: 'path', path: '/abs/path.sock' }],
    ['rel/kms.sock', { kind: 'path', path: '/srv/kleidi/rel/kms.sock' }],
    ['./kms.sock', { kind: 'path', path: '/srv/kleidi/kms.sock' }],
    ['../up.sock', { kind: 'path', path: '/srv/up.sock' }],
  ])('%s → %o', (raw, want) => {
    expect(parseEndpoint(raw, CWD)).toEqual(want);
  });

  it('resolves a relative path against the given cwd, not the process cwd', () => {
    expect(parseEndpoint('kms.sock', '/elsewhere')).toEqual({ kind: 'path', path: '/elsewhere/kms.sock' });
  });

  it.each([
    ['unix://tmp/x.sock', /has a host part/], // the apiserver would read it as /x.sock
    ['unix:foo', /must start with unix:\/\/\//],
    ['unix:/foo.sock', /must start with unix:\/\/\//],
    ['unix:///@', /empty abstract socket/],
    ['@', /empty abstract socket/],
    ['unix://', /no socket path/],
    ['', /no socket path/],
  ])('refuses %j', (raw, why) => {
    expect(() => parseEndpoint(raw, CWD)).toThrow(why);
  });
});

describe('listenTarget / endpointUrl', () => {
  it('gives net.listen a path, or a NUL-prefixed abstract name', () => {
    expect(listenTarget({ kind: 'path', path: '/a/b.sock' })).toBe('/a/b.sock');
    expect(listenTarget({ kind: 'abstract', name: 'kms' })).toBe('\0kms');
  });

  it('writes the URL an EncryptionConfiguration uses', () => {
    expect(endpointUrl({ kind: 'path', path: '/a/b.sock' })).toBe('unix:///a/b.sock');
    expect(endpointUrl({ kind: 'abstract', name: 'kms' })).toBe('unix:///@kms');
  });

  it.each(['unix:///var/run/kms.sock', 'unix:///@kms-provider.sock'])('round-trips %s', (url) => {
    expect(endpointUrl(parseEndpoint(url, CWD))).toBe(url);
  });

  it('parseEndpoint(endpointUrl(e)) is e for ordinary socket paths and names', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/).filter((s) => s !== '.' && s !== '..');
    const endpoint: fc.Arbitrary<Endpoint> = fc.oneof(
      fc
        .array(segment, { minLength: 1, maxLength: 4 })
        .map((p) => ({ kind: 'path' as const, path: `/${p.join('/')}` })),
      segment.map((name) => ({ kind: 'abstract' as const, name })),
    );
    fc.assert(
      fc.property(endpoint, (e) => {
        expect(parseEndpoint(endpointUrl(e), CWD)).toEqual(e);
      }),
    );
  });
});
