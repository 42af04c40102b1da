import { describe, expect, it } from 'vitest';
import { TpmReader, TpmWriter } from '../../../../../src/adapters/outbound/tpm/tpm.buffer.js';
import { frameCommand, parseResponse } from '../../../../../src/adapters/outbound/tpm/tpm.command.js';
import { TPM_CC } from '../../../../../src/adapters/outbound/tpm/tpm.constants.js';
import { TpmFormatError, TpmResponseError } from '../../../../../src/adapters/outbound/tpm/tpm.errors.js';
import {
  marshalPublic,
  objectName,
  parsePublicBlob,
  publicBlob,
} from '../../../../../src/adapters/outbound/tpm/tpm.public.js';
import { sealedDataTemplate, srkTemplate } from '../../../../../src/adapters/outbound/tpm/tpm.templates.js';
import { announcedSize } from '../../../../../src/adapters/outbound/tpm/tpm.transport.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('command framing (TPM 2.0 Part 1 §18, Part 3)', () => {
  it('frames TPM2_GetRandom(16) without sessions', () => {
    // The bytes swtpm answered to, written to its socket by hand: tag 8001, size 12, TPM_CC_GetRandom, bytesRequested 16.
    const cmd = frameCommand({ name: 'GetRandom', code: TPM_CC.GetRandom, params: new TpmWriter().u16(16).done() });
    expect(cmd).toEqual(hex('8001 0000000c 0000017b 0010'));
  });

  it('frames TPM2_Unseal with a password session', () => {
    const cmd = frameCommand({
      name: 'Unseal',
      code: TPM_CC.Unseal,
      handles: [0x80000001],
      passwords: [Buffer.from('pw')],
    });
    // tag 8002, size, code, itemHandle, authorizationSize 11, TPM_RS_PW, empty nonce, continueSession, hmac "pw".
    expect(cmd).toEqual(hex('8002 0000001d 0000015e 80000001 0000000b 40000009 0000 01 0002 7077'));
  });

  it('frames TPM2_FlushContext with the handle as a parameter', () => {
    const cmd = frameCommand({
      name: 'FlushContext',
      code: TPM_CC.FlushContext,
      params: new TpmWriter().u32(0x80000000).done(),
    });
    expect(cmd).toEqual(hex('8001 0000000e 00000165 80000000'));
  });

  it('parses a success response without sessions', () => {
    const { params } = parseResponse(
      { name: 'GetRandom', code: TPM_CC.GetRandom },
      hex('8001 0000000e 00000000 0002 abcd'),
    );
    expect(params.tpm2b()).toEqual(hex('abcd'));
    params.end();
  });

  it('parses a response with handles, parameterSize and a password session area', () => {
    const response = hex('8002 0000001b 00000000 80000002 00000004 0002 beef 0000 01 0000');
    const { handles, params } = parseResponse(
      { name: 'Load', code: TPM_CC.Load, passwords: [Buffer.alloc(0)], responseHandles: 1 },
      response,
    );
    expect(handles).toEqual([0x80000002]);
    expect(params.tpm2b()).toEqual(hex('beef'));
  });

  it('turns a response code into a named TpmResponseError', () => {
    const parse = () => parseResponse({ name: 'Unseal', code: TPM_CC.Unseal }, hex('8001 0000000a 0000098e'));
    expect(parse).toThrow(TpmResponseError);
    expect(parse).toThrow('TPM2_Unseal failed: TPM_RC_AUTH_FAIL (session 1, 0x98e)');
  });

  it('refuses a truncated or mis-sized response', () => {
    expect(() =>
      parseResponse({ name: 'GetRandom', code: TPM_CC.GetRandom }, hex('8001 0000000e 00000000 0002 ab')),
    ).toThrow(TpmFormatError);
    const { params } = parseResponse(
      { name: 'GetRandom', code: TPM_CC.GetRandom },
      hex('8001 0000000e 00000000 0004 abcd'),
    );
    expect(() => params.tpm2b()).toThrow(/TPM2_GetRandom response parameters is truncated/);
  });

  it('reads the announced size from a header, and refuses absurd sizes', () => {
    expect(announcedSize(hex('8001 0000'))).toBeUndefined();
    expect(announcedSize(hex('8001 0000000c 00000000'))).toBe(12);
    expect(() => announcedSize(hex('8001 00100000 00000000'))).toThrow(/announcing 1048576 bytes/);
  });
});

describe('TPMT_PUBLIC (Part 2 §12.2.4)', () => {
  it('marshals the SRK template field by field', () => {
    expect(marshalPublic(srkTemplate())).toEqual(
      hex(
        '0001' + // type TPM_ALG_RSA
          '000b' + // nameAlg TPM_ALG_SHA256
          '00030472' + // fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|noDA|restricted|decrypt
          '0000' + // authPolicy empty
          '0006 0080 0043' + // symmetric AES, 128 bits, CFB
          '0010' + // scheme TPM_ALG_NULL
          '0800' + // keyBits 2048
          '00000000' + // exponent default
          '0000', // unique empty
      ),
    );
  });

  it('marshals a sealed data object and parses it back', () => {
    const unique = Buffer.alloc(32, 0xaa);
    const pub = sealedDataTemplate(unique, { hasAuthValue: true, imported: true });
    const bytes = marshalPublic(pub);
    expect(bytes.subarray(0, 12)).toEqual(hex('0008 000b 00000040 0000 0010'));
    expect(parsePublicBlob(publicBlob(pub))).toEqual(pub);
    expect(objectName(pub).subarray(0, 2)).toEqual(hex('000b'));
  });

  it('refuses trailing bytes and unsupported types', () => {
    expect(() => parsePublicBlob(Buffer.concat([publicBlob(srkTemplate()), hex('00')]))).toThrow(/trailing/);
    const ecc = new TpmWriter().sized((w) => w.u16(0x0023).u16(0x000b).u32(0).u16(0)).done();
    expect(() => parsePublicBlob(ecc)).toThrow(/type 0x23 is not supported/);
  });

  it('reads what it writes', () => {
    const r = new TpmReader(new TpmWriter().u8(1).u16(2).u32(0xffffffff).tpm2b(hex('0102')).done());
    expect([r.u8(), r.u16(), r.u32(), r.tpm2b()]).toEqual([1, 2, 0xffffffff, hex('0102')]);
    r.end();
  });
});
