import { randomBytes } from 'node:crypto';
import { TpmReader, TpmWriter } from './tpm.buffer.js';
import { HEADER_BYTES, TPM_RS_PW, TPM_ST_NO_SESSIONS, TPM_ST_SESSIONS } from './tpm.constants.js';
import { TpmFormatError, TpmResponseError } from './tpm.errors.js';
import { decodeResponseCode } from './tpm.response-code.js';
import type { TpmTransport } from './tpm.transport.js';

/**
 * One TPM 2.0 command, framed as Part 1 §18 and Part 3 §4 describe:
 * header (tag, commandSize, commandCode), handle area, then, with sessions,
 * authorizationSize and one authorization per authorized handle, then the
 * parameters.
 */
export interface TpmCommand {
  /** The command's name without "TPM2_", for error messages. */
  readonly name: string;
  readonly code: number;
  readonly handles?: readonly number[];
  /**
   * Password authorizations (TPM_RS_PW, Part 1 §19.8.4), one per handle that
   * needs authorization, in handle order; absent = TPM_ST_NO_SESSIONS.
   */
  readonly passwords?: readonly Uint8Array[];
  /**
   * With one password: a policy session (TPM2_StartAuthSession) authorizes the
   * handle instead of TPM_RS_PW, its hmac field carrying the auth value in the
   * clear, as TPM2_PolicyPassword asks (Part 3 §23.18, Part 1 §19.6.13).
   */
  readonly policySession?: number;
  readonly params?: Buffer;
  /** How many handles the response carries before its parameters. */
  readonly responseHandles?: number;
}

export interface TpmResult {
  readonly handles: readonly number[];
  /** The response parameters; the caller reads them and calls end(). */
  readonly params: TpmReader;
}

/** continueSession (TPMA_SESSION bit 0, Part 2 §8.4); a password session ignores it, tpm2-tss sets it. */
const CONTINUE_SESSION = 0x01;

export function frameCommand(cmd: TpmCommand): Buffer {
  const body = new TpmWriter();
  for (const h of cmd.handles ?? []) {
    body.u32(h);
  }
  if (cmd.passwords) {
    const auth = new TpmWriter();
    for (const pw of cmd.passwords) {
      // nonceCaller: empty for a password session; a fresh nonce for a policy session (Part 1 §19.6.5).
      const session = cmd.policySession ?? TPM_RS_PW;
      const nonce = cmd.policySession === undefined ? Buffer.alloc(0) : randomBytes(16);
      auth.u32(session).tpm2b(nonce).u8(CONTINUE_SESSION).tpm2b(pw);
    }
    const area = auth.done();
    body.u32(area.length).bytes(area);
  }
  body.bytes(cmd.params ?? Buffer.alloc(0));
  const rest = body.done();
  return new TpmWriter()
    .u16(cmd.passwords ? TPM_ST_SESSIONS : TPM_ST_NO_SESSIONS)
    .u32(HEADER_BYTES + rest.length)
    .u32(cmd.code)
    .bytes(rest)
    .done();
}

/** Splits a response; a non-zero response code becomes a TpmResponseError. */
export function parseResponse(cmd: TpmCommand, response: Buffer): TpmResult {
  const r = new TpmReader(response, `TPM2_${cmd.name} response`);
  const tag = r.u16();
  const size = r.u32();
  const rc = r.u32();
  if (size !== response.length) {
    throw new TpmFormatError(`TPM2_${cmd.name} response announces ${size} bytes but has ${response.length}`);
  }
  if (rc !== 0) {
    throw new TpmResponseError(cmd.name, decodeResponseCode(rc));
  }
  const handles: number[] = [];
  for (let i = 0; i < (cmd.responseHandles ?? 0); i++) {
    handles.push(r.u32());
  }
  if (tag === TPM_ST_SESSIONS) {
    const params = r.bytes(r.u32());
    // The session area: one (nonce, attributes, hmac) per command session; a password session's are empty.
    for (let i = 0; i < (cmd.passwords?.length ?? 0); i++) {
      r.tpm2b();
      r.u8();
      r.tpm2b();
    }
    r.end();
    return { handles, params: new TpmReader(params, `TPM2_${cmd.name} response parameters`) };
  }
  if (tag !== TPM_ST_NO_SESSIONS) {
    throw new TpmFormatError(`TPM2_${cmd.name} response has tag 0x${tag.toString(16)}`);
  }
  return { handles, params: new TpmReader(r.rest(), `TPM2_${cmd.name} response parameters`) };
}

export async function execute(transport: TpmTransport, cmd: TpmCommand): Promise<TpmResult> {
  return parseResponse(cmd, await transport.transmit(frameCommand(cmd)));
}
