import { createHmac } from 'node:crypto';

/**
 * KDFa with SHA-256, TPM 2.0 Library Part 1 §11.4.10.2 (SP 800-108 counter
 * mode with HMAC): K(i) = HMAC(key, [i]32 || label || 0x00 || contextU ||
 * contextV || [bits]32), concatenated and truncated to `bits`. The label is
 * a NUL-terminated string; the terminator is added here.
 */
export function kdfaSha256(
  key: Uint8Array,
  label: string,
  contextU: Uint8Array,
  contextV: Uint8Array,
  bits: number,
): Buffer {
  const bytes = Math.ceil(bits / 8);
  const out: Buffer[] = [];
  const labelBytes = Buffer.concat([Buffer.from(label, 'ascii'), Buffer.from([0])]);
  const bitsBytes = Buffer.alloc(4);
  bitsBytes.writeUInt32BE(bits);
  for (let i = 1, got = 0; got < bytes; i++) {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(i);
    const block = createHmac('sha256', key)
      .update(counter)
      .update(labelBytes)
      .update(contextU)
      .update(contextV)
      .update(bitsBytes)
      .digest();
    out.push(block);
    got += block.length;
  }
  return Buffer.concat(out).subarray(0, bytes);
}
