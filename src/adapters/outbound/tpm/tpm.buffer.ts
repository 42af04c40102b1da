import { TpmFormatError } from './tpm.errors.js';

/**
 * Big-endian marshalling of TPM 2.0 structures (Part 1 §18 "Command/Response
 * structure": all integers are big-endian; a TPM2B is a UINT16 size followed by
 * that many bytes, Part 2 §10.4).
 */
export class TpmWriter {
  private readonly chunks: Buffer[] = [];

  u8(v: number): this {
    const b = Buffer.alloc(1);
    b.writeUInt8(v);
    return this.bytes(b);
  }

  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return this.bytes(b);
  }

  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    return this.bytes(b);
  }

  bytes(b: Uint8Array): this {
    this.chunks.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    return this;
  }

  /** A TPM2B: UINT16 size, then the bytes. */
  tpm2b(b: Uint8Array): this {
    if (b.length > 0xffff) {
      throw new TpmFormatError(`a TPM2B holds at most 65535 bytes, not ${b.length}`);
    }
    return this.u16(b.length).bytes(b);
  }

  /** A TPM2B around a nested structure. */
  sized(inner: (w: TpmWriter) => void): this {
    const w = new TpmWriter();
    inner(w);
    return this.tpm2b(w.done());
  }

  done(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Reads big-endian TPM structures; running past the end is a TpmFormatError. */
export class TpmReader {
  private offset = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly what = 'TPM response',
  ) {}

  private take(n: number): Buffer {
    if (this.offset + n > this.buf.length) {
      throw new TpmFormatError(
        `${this.what} is truncated: needed ${n} bytes at offset ${this.offset} of ${this.buf.length}`,
      );
    }
    const b = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }

  u8(): number {
    return this.take(1).readUInt8(0);
  }

  u16(): number {
    return this.take(2).readUInt16BE(0);
  }

  u32(): number {
    return this.take(4).readUInt32BE(0);
  }

  bytes(n: number): Buffer {
    return Buffer.from(this.take(n));
  }

  tpm2b(): Buffer {
    return this.bytes(this.u16());
  }

  /** A TPM2B around a nested structure, read by `inner`, which must use all of it. */
  sized<T>(inner: (r: TpmReader) => T, what = this.what): T {
    const r = new TpmReader(this.tpm2b(), what);
    const v = inner(r);
    r.end();
    return v;
  }

  remaining(): number {
    return this.buf.length - this.offset;
  }

  rest(): Buffer {
    return this.bytes(this.remaining());
  }

  /** Asserts that everything has been read. */
  end(): void {
    if (this.remaining() !== 0) {
      throw new TpmFormatError(`${this.what} has ${this.remaining()} unexpected trailing bytes`);
    }
  }
}
