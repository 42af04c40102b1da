import type { Annotations } from './annotations.js';
import { MalformedCiphertextError } from './errors.js';
import { parseKeyId, type KeyId } from './key-id.js';
import { GCM_NONCE_BYTES, GCM_TAG_BYTES, type WrappedKey, type WrappedPayload } from './key-version.js';

/**
 * kleidi's self-describing envelope: the bytes returned as EncryptResponse.ciphertext.
 *
 *   0      magic 0x4b ('K')
 *   1      format version (1)
 *   2      scheme: 1 = aes-256-gcm, 2 = opaque backend blob
 *   3..4   key_id length, big-endian
 *   5..    key_id (UTF-8): which KEK version wrapped the seed
 *   then   aes-256-gcm: nonce[12] || ciphertext || tag[16];  opaque: blob
 *
 * The header (bytes 0 .. end of key_id) is the AEAD associated data, so the
 * format and the key_id are authenticated together with the seed.
 */
export const ENVELOPE_MAGIC = 0x4b;
export const ENVELOPE_FORMAT = 1;
const SCHEME_CODE = { 'aes-256-gcm': 1, opaque: 2 } as const;
const HEADER_FIXED = 5;

/** The annotation kleidi returns with every ciphertext; Decrypt requires it back unchanged. */
export const FORMAT_ANNOTATION_KEY = 'version.kleidi.io';

const encoder = new TextEncoder();
/**
 * `ignoreBOM: true` keeps a leading U+FEFF in the decoded key_id instead of
 * dropping it (https://encoding.spec.whatwg.org/#dom-textdecoder-ignorebom),
 * and `fatal` refuses invalid UTF-8: together, encoding the decoded key_id
 * gives back exactly the bytes received. The header a backend authenticates
 * is rebuilt from the decoded key_id, so with the default (BOM stripped) an
 * envelope with EF BB BF inserted before the key_id decrypted like the
 * original.
 */
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Every call builds the same few byte strings (one format version, a handful
 * of key_ids), so they are encoded once and handed out as copies: a copy is
 * cheaper than a TextEncoder call, and callers may keep or change their bytes.
 * The header cache is bounded (it is emptied when full) because a Decrypt may
 * name any key_id.
 */
const formatBytes = new Map<number, Uint8Array>();
const headers = new Map<string, Uint8Array>();
const HEADER_CACHE_MAX = 256;

/** Annotations issued for an envelope of the given format version. */
export function envelopeAnnotations(format: number = ENVELOPE_FORMAT): Annotations {
  let bytes = formatBytes.get(format);
  if (!bytes) {
    bytes = encoder.encode(String(format));
    if (formatBytes.size < HEADER_CACHE_MAX) formatBytes.set(format, bytes);
  }
  return { [FORMAT_ANNOTATION_KEY]: bytes.slice() };
}

/** The envelope header, which is also the associated data a backend must bind. */
export function envelopeHeader(keyId: KeyId, scheme: WrappedPayload['scheme']): Uint8Array {
  const cacheKey = `${SCHEME_CODE[scheme]}${keyId}`;
  let header = headers.get(cacheKey);
  if (!header) {
    const id = encoder.encode(keyId);
    header = new Uint8Array(HEADER_FIXED + id.length);
    header.set([ENVELOPE_MAGIC, ENVELOPE_FORMAT, SCHEME_CODE[scheme], id.length >> 8, id.length & 0xff]);
    header.set(id, HEADER_FIXED);
    if (headers.size >= HEADER_CACHE_MAX) headers.clear();
    headers.set(cacheKey, header);
  }
  return header.slice();
}

/** Serialises a wrapped key into the envelope bytes. */
export function encodeEnvelope(wrapped: WrappedKey): Uint8Array {
  const header = envelopeHeader(wrapped.keyId, wrapped.payload.scheme);
  const p = wrapped.payload;
  const body = p.scheme === 'aes-256-gcm' ? [p.nonce, p.sealed] : [p.blob];
  const out = new Uint8Array(header.length + body.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const part of [header, ...body]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A parsed envelope: the wrapped key plus its format version. */
export interface DecodedEnvelope extends WrappedKey {
  readonly format: number;
}

/** Parses envelope bytes; any structural problem is a MalformedCiphertextError. */
export function decodeEnvelope(bytes: Uint8Array): DecodedEnvelope {
  if (bytes.length < HEADER_FIXED || bytes[0] !== ENVELOPE_MAGIC) {
    throw new MalformedCiphertextError('ciphertext is not a kleidi envelope');
  }
  if (bytes[1] !== ENVELOPE_FORMAT) {
    throw new MalformedCiphertextError(`unsupported envelope format ${bytes[1]}`);
  }
  const idLength = ((bytes[3] ?? 0) << 8) | (bytes[4] ?? 0);
  const bodyStart = HEADER_FIXED + idLength;
  if (idLength === 0 || bytes.length <= bodyStart) {
    throw new MalformedCiphertextError('envelope is truncated');
  }
  const keyId = parseEnvelopeKeyId(bytes.subarray(HEADER_FIXED, bodyStart));
  const body = bytes.subarray(bodyStart);
  switch (bytes[2]) {
    case SCHEME_CODE['aes-256-gcm']:
      if (body.length < GCM_NONCE_BYTES + GCM_TAG_BYTES + 1) {
        throw new MalformedCiphertextError('envelope is truncated');
      }
      return {
        format: ENVELOPE_FORMAT,
        keyId,
        payload: {
          scheme: 'aes-256-gcm',
          nonce: body.subarray(0, GCM_NONCE_BYTES),
          sealed: body.subarray(GCM_NONCE_BYTES),
        },
      };
    case SCHEME_CODE.opaque:
      return { format: ENVELOPE_FORMAT, keyId, payload: { scheme: 'opaque', blob: body } };
    default:
      throw new MalformedCiphertextError(`unknown envelope scheme ${bytes[2]}`);
  }
}

function parseEnvelopeKeyId(raw: Uint8Array): KeyId {
  try {
    return parseKeyId(decoder.decode(raw));
  } catch (cause) {
    throw new MalformedCiphertextError('envelope carries an invalid key_id', { cause });
  }
}
