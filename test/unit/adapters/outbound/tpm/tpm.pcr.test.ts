import { describe, expect, it } from 'vitest';
import { KeyUnusableError } from '../../../../../src/domain/model/errors.js';
import { frameCommand, parseResponse } from '../../../../../src/adapters/outbound/tpm/tpm.command.js';
import { TpmCommands } from '../../../../../src/adapters/outbound/tpm/tpm.commands.js';
import { TPM_CC } from '../../../../../src/adapters/outbound/tpm/tpm.constants.js';
import {
  isPcrPolicyFailure,
  isWrongAuth,
  toKmsError,
  TpmPcrPolicyError,
} from '../../../../../src/adapters/outbound/tpm/tpm.kms-errors.js';
import {
  formatPcrSelection,
  marshalPcrSelection,
  parsePcrSelection,
  pcrPasswordPolicy,
  policyPcr,
  type PcrSelection,
} from '../../../../../src/adapters/outbound/tpm/tpm.pcr.js';
import type { TpmTransport } from '../../../../../src/adapters/outbound/tpm/tpm.transport.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A TPM stand-in for framing tests: records each command and answers the next canned response. */
class CannedTransport implements TpmTransport {
  readonly sent: Buffer[] = [];
  constructor(private readonly answers: Buffer[]) {}
  transmit(command: Buffer): Promise<Buffer> {
    this.sent.push(command);
    const next = this.answers.shift();
    if (!next) throw new Error('no canned answer left');
    return Promise.resolve(next);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A success response: header, then `body` (handles and parameters, no sessions). */
const ok = (body: string): Buffer => {
  const b = hex(body);
  const h = Buffer.alloc(10);
  h.writeUInt16BE(0x8001, 0);
  h.writeUInt32BE(10 + b.length, 2);
  return Buffer.concat([h, b]);
};

describe('tpm.pcrs selection', () => {
  it('parses tpm2-tools-style selections, sorted; empty means no binding', () => {
    expect(parsePcrSelection('sha256:7,0')).toEqual({ bank: 'sha256', pcrs: [0, 7] });
    expect(parsePcrSelection(' sha256:0,2,4,7 ')).toEqual({ bank: 'sha256', pcrs: [0, 2, 4, 7] });
    expect(parsePcrSelection('')).toBeUndefined();
    expect(parsePcrSelection(undefined)).toBeUndefined();
    expect(formatPcrSelection(parsePcrSelection('sha256:23,8') as PcrSelection)).toBe('sha256:8,23');
  });

  it('refuses other banks, PCRs past 23 and repeats', () => {
    for (const t of ['sha1:0', 'sha256:24', 'sha256:0,0', 'sha256:', '0,7', 'sha256:0;7'])
      expect(() => parsePcrSelection(t), t).toThrow(/tpm\.pcrs must be like "sha256:0,2,4,7"/);
  });

  it('marshals TPML_PCR_SELECTION: count 1, TPM_ALG_SHA256, sizeofSelect 3, bitmap with PCR n at byte n/8 bit n%8', () => {
    expect(marshalPcrSelection({ bank: 'sha256', pcrs: [0, 7] })).toEqual(hex('00000001 000b 03 810000'));
    expect(marshalPcrSelection({ bank: 'sha256', pcrs: [8, 23] })).toEqual(hex('00000001 000b 03 000180'));
  });
});

describe('PCR policy digest (Part 1 §19.7)', () => {
  const sel = parsePcrSelection('sha256:0,7') as PcrSelection;
  const zeros = [Buffer.alloc(32), Buffer.alloc(32)];

  it('equals the digest tpm2-tools computed on swtpm for PCRs 0 and 7 at reset (all zeros)', () => {
    // `tpm2_createpolicy --policy-pcr -l sha256:0,7` against a fresh swtpm (PCRs 0..7 zero at reset),
    // and the same in a trial session followed by `tpm2_policypassword`: recorded from tpm2-tools 5.4
    // on swtpm 0.7 (Debian 12). test/integration/tpm/tpm.pcr-policy.test.ts checks non-zero values live.
    expect(policyPcr(Buffer.alloc(32), sel, zeros).toString('hex')).toBe(PCR_0_7_ZERO);
    expect(pcrPasswordPolicy(sel, zeros).toString('hex')).toBe(PCR_0_7_ZERO_PASSWORD);
  });

  it('depends on every value and refuses values of the wrong count or size', () => {
    const changed = [Buffer.alloc(32), Buffer.alloc(32, 1)];
    expect(pcrPasswordPolicy(sel, changed)).not.toEqual(pcrPasswordPolicy(sel, zeros));
    expect(() => pcrPasswordPolicy(sel, [Buffer.alloc(32)])).toThrow(/expected 2 SHA-256 PCR values/);
    expect(() => pcrPasswordPolicy(sel, [Buffer.alloc(32), Buffer.alloc(20)])).toThrow(/expected 2/);
  });
});

describe('policy session commands (Part 3 §11.1, §22.4, §23.7, §23.18)', () => {
  const sel = parsePcrSelection('sha256:0,7') as PcrSelection;

  it('frames Unseal in a policy session: the session handle, a fresh 16-byte nonce, continueSession, the auth value', () => {
    const cmd = frameCommand({
      name: 'Unseal',
      code: TPM_CC.Unseal,
      handles: [0x80000001],
      passwords: [Buffer.from('pw')],
      policySession: 0x03000000,
    });
    // tag 8002, size 45, Unseal, itemHandle, authorizationSize 27, session, nonce (2 + 16), attributes, hmac "pw".
    expect(cmd.subarray(0, 24)).toEqual(hex('8002 0000002d 0000015e 80000001 0000001b 03000000 0010'));
    expect(cmd.subarray(40)).toEqual(hex('01 0002 7077'));
    const again = frameCommand({
      name: 'Unseal',
      code: TPM_CC.Unseal,
      handles: [0x80000001],
      passwords: [Buffer.from('pw')],
      policySession: 0x03000000,
    });
    expect(again.subarray(24, 40)).not.toEqual(cmd.subarray(24, 40));
  });

  it('starts an unsalted, unbound SHA-256 policy session and replays PolicyPCR then PolicyPassword, then flushes', async () => {
    const t = new CannedTransport([
      ok(`03000000 0010 ${'ab'.repeat(16)}`), // StartAuthSession: sessionHandle, nonceTPM
      ok(''), // PolicyPCR
      ok(''), // PolicyPassword
      // Unseal: TPM_ST_SESSIONS, parameterSize 6, outData, then the policy session's nonceTPM, attributes, empty hmac.
      hex(`8002 00000029 00000000 00000006 0004 ${'5a'.repeat(4)} 0010 ${'cd'.repeat(16)} 01 0000`),
      ok(''), // FlushContext
    ]);
    const tpm = new TpmCommands(t);
    expect(await tpm.unsealWithPcrPolicy(0x80000001, Buffer.from('pw'), sel)).toEqual(Buffer.alloc(4, 0x5a));
    const [start, pcr, password, unseal, flush] = t.sent as [Buffer, Buffer, Buffer, Buffer, Buffer];
    // tpmKey TPM_RH_NULL, bind TPM_RH_NULL, nonceCaller (16), no salt, TPM_SE_POLICY, TPM_ALG_NULL, TPM_ALG_SHA256.
    expect(start.subarray(0, 20)).toEqual(hex('8001 0000002b 00000176 40000007 40000007 0010'));
    expect(start.subarray(36)).toEqual(hex('0000 01 0010 000b'));
    // An empty pcrDigest: the TPM hashes its current values into the session's digest.
    expect(pcr).toEqual(hex('8001 0000001a 0000017f 03000000 0000 00000001 000b 03 810000'));
    expect(password).toEqual(hex('8001 0000000e 0000018c 03000000'));
    expect(unseal.readUInt32BE(14 + 4)).toBe(0x03000000); // the authorization names the policy session
    expect(flush).toEqual(hex('8001 0000000e 00000165 03000000'));
  });

  it('flushes the session when Unseal is refused', async () => {
    const t = new CannedTransport([
      ok(`03000000 0010 ${'ab'.repeat(16)}`),
      ok(''),
      ok(''),
      hex('8001 0000000a 0000099d'), // TPM_RC_POLICY_FAIL, session 1
      ok(''),
    ]);
    const err: unknown = await new TpmCommands(t).unsealWithPcrPolicy(0x80000001, Buffer.alloc(0), sel).catch((e) => e);
    expect(isPcrPolicyFailure(err)).toBe(true);
    expect((t.sent.at(-1) as Buffer).readUInt32BE(6)).toBe(TPM_CC.FlushContext);
  });

  it('reads more than 8 PCRs in several PCR_Read answers (TPML_DIGEST holds at most 8)', async () => {
    const ten = parsePcrSelection('sha256:0,1,2,3,4,5,6,7,8,9') as PcrSelection;
    const digests = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => `0020 ${(from + i).toString(16).padStart(2, '0').repeat(32)}`).join(' ');
    const t = new CannedTransport([
      ok(`00000005 00000001 000b 03 ff0000 00000008 ${digests(0, 8)}`),
      ok(`00000005 00000001 000b 03 000300 00000002 ${digests(8, 2)}`),
    ]);
    const values = await new TpmCommands(t).pcrRead(ten);
    expect(values.map((v) => v[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(t.sent[1]?.subarray(10)).toEqual(hex('00000001 000b 03 000300'));
  });
});

describe('a PCR policy refusal', () => {
  it('is a typed KeyUnusableError naming the PCR change first, never a wrong auth value', () => {
    let err: unknown;
    try {
      parseResponse({ name: 'Unseal', code: TPM_CC.Unseal }, hex('8001 0000000a 0000099d'));
    } catch (e) {
      err = e;
    }
    expect(isWrongAuth(err)).toBe(false);
    expect(isPcrPolicyFailure(err)).toBe(true);
    const k = toKmsError(err, 'unsealing KEK version 1');
    expect(k).toBeInstanceOf(TpmPcrPolicyError);
    expect(k).toBeInstanceOf(KeyUnusableError);
    expect(k.kind).toBe('key-unusable');
    expect(k.message).toMatch(
      /^PCR values changed since provisioning \(TPM_RC_POLICY_FAIL unsealing KEK version 1\); re-enroll and re-provision this node: see docs\/backends\/tpm\.md#pcr-change$/,
    );
    expect(isPcrPolicyFailure(toKmsError(new Error('x'), 'y'))).toBe(false);
  });
});

const PCR_0_7_ZERO = '02e3642b3e29eeccfffd8031c00a6f0a0febe5ceea2f6ef6b0322fe81598cf31';
const PCR_0_7_ZERO_PASSWORD = 'a459f3351d48706d42b6a920938f56e28b7356602a02784cf0f37b6f5aeb068c';
