import { describe, expect, it } from 'vitest';
import { baseCode, decodeResponseCode, RC } from '../../../../../src/adapters/outbound/tpm/tpm.response-code.js';

// Expected decodings are those printed by tpm2-tools 5.4's `tpm2_rc_decode <code>`.
describe('decodeResponseCode', () => {
  it.each([
    [0x98e, 'TPM_RC_AUTH_FAIL', { kind: 'session', index: 1 }, false], // session(1): HMAC check failed, DA counter incremented
    [0x9a2, 'TPM_RC_BAD_AUTH', { kind: 'session', index: 1 }, false], // session(1): failure without DA implications
    [0x1c4, 'TPM_RC_VALUE', { kind: 'parameter', index: 1 }, false], // parameter(1): value out of range
    [0x2d5, 'TPM_RC_SIZE', { kind: 'parameter', index: 2 }, false], // parameter(2): wrong size
    [0x1df, 'TPM_RC_INTEGRITY', { kind: 'parameter', index: 1 }, false], // parameter(1): integrity check failed
    [0x18b, 'TPM_RC_HANDLE', { kind: 'handle', index: 1 }, false], // handle(1)
    [0x08b, 'TPM_RC_HANDLE', undefined, false], // handle(unk)
    [0x100, 'TPM_RC_INITIALIZE', undefined, false], // not initialized by TPM2_Startup
    [0x143, 'TPM_RC_COMMAND_CODE', undefined, false], // command code not supported
    [0x14b, 'TPM_RC_NV_SPACE', undefined, false], // insufficient space for NV allocation
    [0x902, 'TPM_RC_OBJECT_MEMORY', undefined, true], // warn: out of memory for object contexts
    [0x921, 'TPM_RC_LOCKOUT', undefined, true], // warn: DA lockout mode
    [0x922, 'TPM_RC_RETRY', undefined, true], // warn: not able to start the command
  ])('0x%s is %s', (code, name, position, warning) => {
    const rc = decodeResponseCode(code);
    expect(rc.name).toBe(name);
    expect(rc.position).toEqual(position);
    expect(rc.warning).toBe(warning);
    expect(rc.text).toContain(`0x${code.toString(16).padStart(3, '0')}`);
  });

  it('names the position in the text', () => {
    expect(decodeResponseCode(0x98e).text).toBe('TPM_RC_AUTH_FAIL (session 1, 0x98e)');
  });

  it('strips the position for comparisons', () => {
    expect(baseCode(0x98e)).toBe(RC.AUTH_FAIL);
    expect(baseCode(0x1df)).toBe(RC.INTEGRITY);
    expect(baseCode(0x921)).toBe(RC.LOCKOUT);
  });

  it('does not mistake a software-layer code for a TPM code', () => {
    expect(decodeResponseCode(0x000a000b).name).toBe('TPM_RC_0xa000b');
  });

  it('labels a TPM 1.2 code and an unknown code with their numbers', () => {
    expect(decodeResponseCode(0x003).name).toContain('TPM 1.2');
    expect(decodeResponseCode(0x17f).name).toBe('TPM_RC_0x17f');
  });
});
