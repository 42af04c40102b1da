import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { crc32c } from '#src/adapters/outbound/gcp/gcp-kms.crc32c.js';

describe('crc32c', () => {
  it('gives the CRC-32C check value of "123456789" (0xE3069283, RFC 3720 B.4 / the Castagnoli catalogue)', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('matches RFC 3720 B.4 test vectors: 32 bytes of zeros, of ones, ascending, descending', () => {
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('is 0 for no data, and changes with any flipped bit', () => {
    expect(crc32c(new Uint8Array())).toBe(0);
    const data = randomBytes(64);
    const base = crc32c(data);
    for (let bit = 0; bit < 64 * 8; bit += 37) {
      const flipped = Buffer.from(data);
      flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      expect(crc32c(flipped)).not.toBe(base);
    }
  });
});
