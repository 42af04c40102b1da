import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createCipheriv, createDecipheriv, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { protobuf } from 'google-gax';

/**
 * A Cloud KMS stand-in: a real gRPC server implementing google.cloud.kms.v1.KeyManagementService
 * from the .proto files shipped inside @google-cloud/kms (and google-gax's google/api and
 * google/rpc protos), over TLS with a CA made for it, on loopback. No Cloud KMS emulator exists
 * (https://cloud.google.com/kms/docs/reference/rpc/google.cloud.kms.v1). It models what kleidi
 * relies on, as Google documents it:
 * - Encrypt (with a CryptoKey, using its primary, or a named CryptoKeyVersion) and Decrypt
 *   (with a CryptoKey; the version comes from the ciphertext) with real AES-256-GCM per
 *   version, the additional authenticated data bound, 64 KiB limits on plaintext and AAD;
 * - the integrity fields (https://cloud.google.com/kms/docs/data-integrity-guidelines):
 *   request CRC32Cs checked (a mismatch is INVALID_ARGUMENT, with a google.rpc.BadRequest
 *   detail naming the field), verified_*_crc32c and ciphertext_crc32c / plaintext_crc32c set
 *   on responses;
 * - GetCryptoKey, GetCryptoKeyVersion, CreateCryptoKey (ALREADY_EXISTS for a taken id,
 *   NOT_FOUND for a missing key ring), CreateCryptoKeyVersion, UpdateCryptoKeyPrimaryVersion
 *   (FAILED_PRECONDITION for a version that is not ENABLED), ListCryptoKeyVersions (paged),
 *   UpdateCryptoKeyVersion (state), DestroyCryptoKeyVersion;
 * - version states: a version that is not ENABLED refuses Encrypt and Decrypt with
 *   FAILED_PRECONDITION; a ciphertext that does not authenticate is INVALID_ARGUMENT;
 * - authentication: every call needs `authorization: Bearer <token>`: a self-signed
 *   service-account JWT (what google-auth-library sends for a service-account key with
 *   useJWTAccessWithScope, as the generated client sets it) signed with the key of the
 *   service-account file this fixture writes, or an unexpired access token its loopback STS
 *   stand-in issued for workload identity federation (a token exchange as
 *   https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token describes, checked
 *   against the subject token file); anything else is UNAUTHENTICATED; methods in `denied`
 *   answer PERMISSION_DENIED.
 * Faults: `fault.corrupt` falsifies one response integrity field, `fault.delayMs` delays every
 * call, `fault.code` answers every call with a status, `kill()`/`restart()` take the server off
 * its port and back with its state.
 */

const MODULES = resolve(import.meta.dirname, '../../node_modules');
const KMS_PROTOS = join(MODULES, '@google-cloud/kms/build/protos');
const GAX_PROTOS = join(MODULES, 'google-gax/build/protos');

const GCP_PROJECT = 'kleidi-test';
const GCP_LOCATION = 'global';
export const GCP_KEY_RING = `projects/${GCP_PROJECT}/locations/${GCP_LOCATION}/keyRings/kleidi`;
/** Cloud KMS limits plaintext and AAD to 64 KiB (EncryptRequest.plaintext). */
const MAX_DATA = 64 * 1024;
const CIPHERTEXT_MAGIC = 0x4b;
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

type State =
  | 'ENABLED'
  | 'DISABLED'
  | 'DESTROY_SCHEDULED'
  | 'DESTROYED'
  | 'PENDING_GENERATION'
  | 'PENDING_EXTERNAL_DESTRUCTION';

interface Version {
  id: number;
  state: State;
  material: Buffer;
  created: Date;
  destroyTime?: Date;
}

interface Key {
  name: string;
  purpose: string;
  created: Date;
  primary: number | undefined;
  nextId: number;
  versions: Map<number, Version>;
  protectionLevel: string;
}

type CorruptField =
  /** ciphertextCrc32c on Encrypt, plaintextCrc32c on Decrypt. */
  | 'checksum'
  | 'ciphertextCrc32c'
  | 'plaintextCrc32c'
  | 'verifiedPlaintextCrc32c'
  | 'verifiedAdditionalAuthenticatedDataCrc32c'
  | 'ciphertext'
  | 'plaintext';

interface GcpKmsFault {
  /** Falsify this response field of Encrypt/Decrypt (the others stay right). */
  corrupt?: CorruptField;
  /** Only this many responses are corrupted, then the fault ends; unlimited when unset. */
  corruptCount?: number;
  /** Only one Encrypt/Decrypt response in this many is corrupted; every one when unset. */
  corruptEvery?: number;
  /**
   * This many Encrypt/Decrypt requests arrive corrupted (one bit of the plaintext or ciphertext
   * flipped, as on a faulty path), so their CRC32C does not match and they are refused.
   */
  corruptRequests?: number;
  /** Every call waits this long before it is answered. */
  delayMs?: number;
  /** Every call is answered with this gRPC status. */
  code?: grpc.status;
}

export interface GcpKms {
  /** host:port for gcp.endpoint. */
  readonly endpoint: string;
  readonly port: number;
  /** The test CA that signed the server's certificate, for gcp.caFile. */
  readonly caFile: string;
  /** A service-account key file (mode 0600) whose JWTs the server accepts, for gcp.credentialsFile. */
  readonly credentialsFile: string;
  /**
   * A workload identity federation file (`external_account`, mode 0600) for gcp.credentialsFile:
   * its subject token is `subjectTokenFile`, its token_url the loopback STS stand-in, whose
   * access tokens the server accepts.
   */
  readonly externalAccountFile: string;
  readonly subjectTokenFile: string;
  /** Lifetime of the access tokens the STS stand-in issues (real STS: 1 hour). */
  accessTokenLifetimeS: number;
  /** Token exchanges the STS stand-in answered, and refused. */
  readonly stsExchanges: { issued: number; refused: number };
  readonly dir: string;
  fault: GcpKmsFault;
  /** Methods answered PERMISSION_DENIED. */
  readonly denied: Set<string>;
  /** Calls per method (answered or refused). */
  readonly calls: Map<string, number>;
  /** Requests whose bearer token was refused. */
  readonly unauthenticated: number;
  /** CRC32C mismatches found on requests. */
  readonly requestChecksumErrors: number;
  /** Name of the key ring the fixture created; make more with createKeyRing. */
  createKeyRing(name: string): void;
  setVersionState(versionName: string, state: State): void;
  /** Makes a version primary, as an operator's `gcloud kms keys set-primary-version` would. */
  setPrimary(keyName: string, versionId: number): void;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** CRC32C bit by bit, independent of kleidi's table-driven one (RFC 3720, appendix B.4). */
export function crc32cReference(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
    readonly badField?: string,
  ) {
    super(message);
  }
}

const statusTypes = (() => {
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string) => join(GAX_PROTOS, target);
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
  return { status: root.lookupType('google.rpc.Status'), badRequest: root.lookupType('google.rpc.BadRequest') };
})();

/** grpc-status-details-bin: google.rpc.Status with a BadRequest detail naming the field (AIP-193). */
function badRequestMetadata(code: number, message: string, field: string): grpc.Metadata {
  const detail = statusTypes.badRequest
    .encode(statusTypes.badRequest.create({ fieldViolations: [{ field, description: `${field} mismatch` }] }))
    .finish();
  const status = statusTypes.status
    .encode(
      statusTypes.status.create({
        code,
        message,
        details: [{ type_url: 'type.googleapis.com/google.rpc.BadRequest', value: detail }],
      }),
    )
    .finish();
  const md = new grpc.Metadata();
  md.set('grpc-status-details-bin', Buffer.from(status));
  return md;
}

function timestamp(d: Date) {
  const ms = d.getTime();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

function int64Value(v: number) {
  return { value: String(v) };
}

/** An Int64Value as proto-loader decodes it (longs: String); undefined when absent. */
function readInt64(v: { value?: string } | null | undefined): number | undefined {
  return v === null || v === undefined ? undefined : Number(v.value ?? 0);
}

function makeTls(dir: string): { caFile: string; cert: Buffer; key: Buffer; ca: Buffer } {
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.pem');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.pem');
  const ext = join(dir, 'server.ext');
  const ssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey]);
  ssl(['req', '-x509', '-new', '-key', caKey, '-subj', '/CN=kleidi gcp test CA', '-days', '2', '-out', caFile]);
  ssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  ssl(['req', '-new', '-key', key, '-subj', '/CN=localhost', '-out', csr]);
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > '${ext}'`]);
  ssl(
    ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-days', '2'].concat([
      '-extfile',
      ext,
      '-out',
      cert,
    ]),
  );
  return { caFile, cert: readFileSync(cert), key: readFileSync(key), ca: readFileSync(caFile) };
}

function loadService(): grpc.ServiceDefinition {
  const def = protoLoader.loadSync('google/cloud/kms/v1/service.proto', {
    includeDirs: [KMS_PROTOS, GAX_PROTOS],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    google: { cloud: { kms: { v1: { KeyManagementService: { service: grpc.ServiceDefinition } } } } };
  };
  return pkg.google.cloud.kms.v1.KeyManagementService.service;
}

export async function startGcpKms(opts: { port?: number } = {}): Promise<GcpKms> {
  const dir = await mkdtemp('/tmp/kleidi-gcp-kms-');
  const tls = makeTls(dir);
  const account = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const email = `kleidi@${GCP_PROJECT}.iam.gserviceaccount.com`;
  const keyId = randomBytes(20).toString('hex');
  const credentialsFile = join(dir, 'service-account.json');
  await writeFile(
    credentialsFile,
    JSON.stringify({
      type: 'service_account',
      project_id: GCP_PROJECT,
      private_key_id: keyId,
      private_key: account.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: email,
      client_id: '100000000000000000001',
      token_uri: 'https://oauth2.googleapis.com/token',
    }),
    { mode: 0o600 },
  );

  // Workload identity federation: a subject token file, the STS stand-in, the external_account file.
  const accessTokens = new Map<string, number>();
  const stsExchanges = { issued: 0, refused: 0 };
  const subjectTokenFile = join(dir, 'subject-token');
  // The token the identity provider issued; STS accepts only it (a test overwrites the file to be refused).
  const subjectToken = `subject-${randomBytes(16).toString('hex')}`;
  await writeFile(subjectTokenFile, subjectToken, { mode: 0o600 });
  const audience =
    '//iam.googleapis.com/projects/100000000001/locations/global/workloadIdentityPools/kleidi/providers/test';
  const settings = { accessTokenLifetimeS: 3600 };
  const sts = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const ok =
        req.method === 'POST' &&
        req.url === '/v1/token' &&
        form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:token-exchange' &&
        form.get('requested_token_type') === 'urn:ietf:params:oauth:token-type:access_token' &&
        form.get('subject_token_type') === 'urn:ietf:params:oauth:token-type:jwt' &&
        form.get('audience') === audience &&
        form.get('subject_token') === subjectToken;
      if (!ok) {
        stsExchanges.refused++;
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_grant', error_description: 'subject token refused' }));
        return;
      }
      stsExchanges.issued++;
      const accessToken = `ya29.test-${randomBytes(24).toString('hex')}`;
      accessTokens.set(accessToken, Date.now() + settings.accessTokenLifetimeS * 1000);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          access_token: accessToken,
          issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          token_type: 'Bearer',
          expires_in: settings.accessTokenLifetimeS,
        }),
      );
    });
  });
  const stsPort = await new Promise<number>((resolve) =>
    sts.listen(0, '127.0.0.1', () => resolve((sts.address() as { port: number }).port)),
  );
  const externalAccountFile = join(dir, 'external-account.json');
  await writeFile(
    externalAccountFile,
    JSON.stringify({
      type: 'external_account',
      audience,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: `http://127.0.0.1:${stsPort}/v1/token`,
      credential_source: { file: subjectTokenFile },
    }),
    { mode: 0o600 },
  );

  const rings = new Set<string>([GCP_KEY_RING]);
  const keys = new Map<string, Key>();
  const calls = new Map<string, number>();
  const denied = new Set<string>();
  let unauthenticated = 0;
  let requestChecksumErrors = 0;

  const authenticate = (md: grpc.Metadata): void => {
    const header = String(md.get('authorization')[0] ?? '');
    const token = /^Bearer (.+)$/.exec(header)?.[1];
    const parts = token?.split('.');
    const fail = (why: string) => {
      unauthenticated++;
      return new RpcError(grpc.status.UNAUTHENTICATED, `Request had invalid authentication credentials: ${why}`);
    };
    if (token && accessTokens.has(token)) {
      if ((accessTokens.get(token) ?? 0) < Date.now()) throw fail('access token expired');
      return;
    }
    if (parts?.length !== 3) throw fail('no bearer JWT');
    const [h, p, s] = parts as [string, string, string];
    let head: { alg?: string; kid?: string };
    let claims: { iss?: string; sub?: string; exp?: number; scope?: string; aud?: string };
    try {
      head = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    } catch {
      throw fail('malformed JWT');
    }
    if (head.alg !== 'RS256' || head.kid !== keyId) throw fail('unknown signing key');
    if (!verify('RSA-SHA256', Buffer.from(`${h}.${p}`), account.publicKey, Buffer.from(s, 'base64url'))) {
      throw fail('bad signature');
    }
    if (claims.iss !== email || claims.sub !== email) throw fail('wrong issuer');
    if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now()) throw fail('expired');
    const scoped = (claims.scope ?? '').split(' ').includes(CLOUD_PLATFORM);
    if (!scoped && !(claims.aud ?? '').startsWith('https://cloudkms.googleapis.com/')) throw fail('wrong scope');
  };

  const fault: GcpKmsFault = {};
  const server: { current: grpc.Server | undefined; port: number } = { current: undefined, port: opts.port ?? 0 };

  const keyNamed = (name: string): Key => {
    const k = keys.get(name);
    if (!k) throw new RpcError(grpc.status.NOT_FOUND, `CryptoKey ${name} not found.`);
    return k;
  };
  const versionNamed = (name: string): { key: Key; v: Version } => {
    const m = /^(.+)\/cryptoKeyVersions\/(\d+)$/.exec(name);
    if (!m) throw new RpcError(grpc.status.INVALID_ARGUMENT, `Invalid resource name ${name}.`);
    const key = keyNamed(m[1] as string);
    const v = key.versions.get(Number(m[2]));
    if (!v) throw new RpcError(grpc.status.NOT_FOUND, `CryptoKeyVersion ${name} not found.`);
    return { key, v };
  };
  const versionMessage = (key: Key, v: Version) => ({
    name: `${key.name}/cryptoKeyVersions/${v.id}`,
    state: v.state,
    protectionLevel: key.protectionLevel,
    algorithm: 'GOOGLE_SYMMETRIC_ENCRYPTION',
    createTime: timestamp(v.created),
    ...(v.destroyTime ? { destroyTime: timestamp(v.destroyTime) } : {}),
    generateTime: timestamp(v.created),
  });
  const keyMessage = (key: Key) => {
    const primary = key.primary !== undefined ? key.versions.get(key.primary) : undefined;
    return {
      name: key.name,
      purpose: key.purpose,
      createTime: timestamp(key.created),
      versionTemplate: { protectionLevel: key.protectionLevel, algorithm: 'GOOGLE_SYMMETRIC_ENCRYPTION' },
      ...(primary ? { primary: versionMessage(key, primary) } : {}),
    };
  };
  const addVersion = (key: Key): Version => {
    const v: Version = { id: key.nextId++, state: 'ENABLED', material: randomBytes(32), created: new Date() };
    key.versions.set(v.id, v);
    return v;
  };
  const checkCrc = (received: Buffer, crc: number | undefined, field: string): boolean => {
    let data = received;
    if (fault.corruptRequests && fault.corruptRequests > 0 && !field.startsWith('additional')) {
      fault.corruptRequests--;
      data = Buffer.from(received);
      data.writeUInt8(data.readUInt8(0) ^ 0x10, 0);
    }
    if (crc === undefined) return false;
    if (crc32cReference(data) !== crc) {
      requestChecksumErrors++;
      throw new RpcError(
        grpc.status.INVALID_ARGUMENT,
        `The checksum in field ${field} did not match the data in field ${field.replace(/_crc32c$/, '')}.`,
        field,
      );
    }
    return true;
  };
  let answered = 0;
  const corrupting = (): CorruptField | undefined => {
    if (!fault.corrupt) return undefined;
    if (fault.corruptEvery !== undefined && answered++ % fault.corruptEvery !== 0) return undefined;
    const field = fault.corrupt;
    if (fault.corruptCount !== undefined && --fault.corruptCount <= 0) {
      delete fault.corrupt;
      delete fault.corruptCount;
    }
    return field;
  };

  // biome-ignore lint/suspicious/noExplicitAny: proto-loader messages are plain objects
  type Req = any;
  const methods: Record<string, (req: Req) => unknown> = {
    GetCryptoKey: (req) => keyMessage(keyNamed(req.name)),
    GetCryptoKeyVersion: (req) => {
      const { key, v } = versionNamed(req.name);
      return versionMessage(key, v);
    },
    CreateCryptoKey: (req) => {
      if (!rings.has(req.parent)) throw new RpcError(grpc.status.NOT_FOUND, `KeyRing ${req.parent} not found.`);
      if (!/^[a-zA-Z0-9_-]{1,63}$/.test(req.cryptoKeyId)) {
        throw new RpcError(grpc.status.INVALID_ARGUMENT, 'crypto_key_id is invalid.');
      }
      const name = `${req.parent}/cryptoKeys/${req.cryptoKeyId}`;
      if (keys.has(name)) throw new RpcError(grpc.status.ALREADY_EXISTS, `CryptoKey ${name} already exists.`);
      const purpose = req.cryptoKey?.purpose;
      if (!purpose || purpose === 'CRYPTO_KEY_PURPOSE_UNSPECIFIED') {
        throw new RpcError(grpc.status.INVALID_ARGUMENT, 'crypto_key.purpose must be specified.');
      }
      const key: Key = {
        name,
        purpose,
        created: new Date(),
        primary: undefined,
        nextId: 1,
        versions: new Map(),
        protectionLevel: req.cryptoKey?.versionTemplate?.protectionLevel || 'SOFTWARE',
      };
      if (key.protectionLevel === 'PROTECTION_LEVEL_UNSPECIFIED') key.protectionLevel = 'SOFTWARE';
      keys.set(name, key);
      if (!req.skipInitialVersionCreation) {
        const v = addVersion(key);
        if (purpose === 'ENCRYPT_DECRYPT') key.primary = v.id;
      }
      return keyMessage(key);
    },
    CreateCryptoKeyVersion: (req) => {
      const key = keyNamed(req.parent);
      return versionMessage(key, addVersion(key));
    },
    UpdateCryptoKeyPrimaryVersion: (req) => {
      const key = keyNamed(req.name);
      const v = key.versions.get(Number(req.cryptoKeyVersionId));
      if (!v) throw new RpcError(grpc.status.NOT_FOUND, `CryptoKeyVersion ${req.cryptoKeyVersionId} not found.`);
      if (v.state !== 'ENABLED') {
        throw new RpcError(grpc.status.FAILED_PRECONDITION, `CryptoKeyVersion ${v.id} is not enabled.`);
      }
      key.primary = v.id;
      return keyMessage(key);
    },
    UpdateCryptoKeyVersion: (req) => {
      const { key, v } = versionNamed(req.cryptoKeyVersion?.name ?? '');
      const paths: string[] = req.updateMask?.paths ?? [];
      if (!paths.includes('state') || !['ENABLED', 'DISABLED'].includes(req.cryptoKeyVersion.state)) {
        throw new RpcError(grpc.status.INVALID_ARGUMENT, 'only state ENABLED or DISABLED can be updated.');
      }
      if (v.state !== 'ENABLED' && v.state !== 'DISABLED') {
        throw new RpcError(grpc.status.FAILED_PRECONDITION, `CryptoKeyVersion is ${v.state}.`);
      }
      v.state = req.cryptoKeyVersion.state;
      return versionMessage(key, v);
    },
    DestroyCryptoKeyVersion: (req) => {
      const { key, v } = versionNamed(req.name);
      if (v.state !== 'ENABLED' && v.state !== 'DISABLED') {
        throw new RpcError(grpc.status.FAILED_PRECONDITION, `CryptoKeyVersion is ${v.state}.`);
      }
      v.state = 'DESTROY_SCHEDULED';
      // The default scheduled-destruction duration is 30 days (CryptoKey.destroy_scheduled_duration).
      v.destroyTime = new Date(Date.now() + 30 * 86_400_000);
      return versionMessage(key, v);
    },
    ListCryptoKeyVersions: (req) => {
      const key = keyNamed(req.parent);
      const all = [...key.versions.values()].sort((a, b) => a.id - b.id);
      const start = req.pageToken ? Number(Buffer.from(req.pageToken, 'base64').toString()) : 0;
      if (!Number.isInteger(start) || start < 0) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'bad page_token.');
      const size = req.pageSize > 0 ? Math.min(req.pageSize, 1000) : 1000;
      const page = all.slice(start, start + size);
      const next = start + size < all.length ? Buffer.from(String(start + size)).toString('base64') : '';
      return { cryptoKeyVersions: page.map((v) => versionMessage(key, v)), nextPageToken: next, totalSize: all.length };
    },
    Encrypt: (req) => {
      const target = /\/cryptoKeyVersions\/\d+$/.test(req.name)
        ? versionNamed(req.name)
        : (() => {
            const key = keyNamed(req.name);
            const v = key.primary !== undefined ? key.versions.get(key.primary) : undefined;
            if (!v)
              throw new RpcError(grpc.status.FAILED_PRECONDITION, `CryptoKey ${req.name} has no primary version.`);
            return { key, v };
          })();
      const { key, v } = target;
      if (key.purpose !== 'ENCRYPT_DECRYPT') {
        throw new RpcError(grpc.status.FAILED_PRECONDITION, `${key.name} is not an ENCRYPT_DECRYPT key.`);
      }
      const plaintext: Buffer = req.plaintext;
      const aad: Buffer = req.additionalAuthenticatedData;
      if (plaintext.length === 0 || plaintext.length > MAX_DATA || aad.length > MAX_DATA) {
        throw new RpcError(
          grpc.status.INVALID_ARGUMENT,
          'plaintext or additional_authenticated_data has a wrong size.',
        );
      }
      const verifiedPlaintext = checkCrc(plaintext, readInt64(req.plaintextCrc32c), 'plaintext_crc32c');
      const verifiedAad = checkCrc(
        aad,
        readInt64(req.additionalAuthenticatedDataCrc32c),
        'additional_authenticated_data_crc32c',
      );
      if (v.state !== 'ENABLED') {
        throw new RpcError(
          grpc.status.FAILED_PRECONDITION,
          `${key.name}/cryptoKeyVersions/${v.id} is not enabled, current state is: ${v.state}.`,
        );
      }
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', v.material, nonce);
      cipher.setAAD(aad);
      const head = Buffer.alloc(5);
      head.writeUInt8(CIPHERTEXT_MAGIC, 0);
      head.writeUInt32BE(v.id, 1);
      let ciphertext = Buffer.concat([head, nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      const response = {
        name: `${key.name}/cryptoKeyVersions/${v.id}`,
        ciphertext,
        ciphertextCrc32c: int64Value(crc32cReference(ciphertext)),
        verifiedPlaintextCrc32c: verifiedPlaintext,
        verifiedAdditionalAuthenticatedDataCrc32c: verifiedAad,
        protectionLevel: key.protectionLevel,
      };
      const bad = corrupting();
      if (bad === 'ciphertextCrc32c' || bad === 'checksum')
        response.ciphertextCrc32c = int64Value(crc32cReference(ciphertext) ^ 1);
      if (bad === 'verifiedPlaintextCrc32c') response.verifiedPlaintextCrc32c = false;
      if (bad === 'verifiedAdditionalAuthenticatedDataCrc32c')
        response.verifiedAdditionalAuthenticatedDataCrc32c = false;
      if (bad === 'ciphertext') {
        ciphertext = Buffer.from(ciphertext);
        ciphertext.writeUInt8(ciphertext.readUInt8(ciphertext.length - 1) ^ 1, ciphertext.length - 1);
        response.ciphertext = ciphertext;
      }
      return response;
    },
    Decrypt: (req) => {
      const key = keyNamed(req.name);
      if (key.purpose !== 'ENCRYPT_DECRYPT') {
        throw new RpcError(grpc.status.FAILED_PRECONDITION, `${key.name} is not an ENCRYPT_DECRYPT key.`);
      }
      const ciphertext: Buffer = req.ciphertext;
      const aad: Buffer = req.additionalAuthenticatedData;
      if (ciphertext.length === 0 || ciphertext.length > MAX_DATA + 800 || aad.length > MAX_DATA) {
        throw new RpcError(
          grpc.status.INVALID_ARGUMENT,
          'ciphertext or additional_authenticated_data has a wrong size.',
        );
      }
      checkCrc(ciphertext, readInt64(req.ciphertextCrc32c), 'ciphertext_crc32c');
      checkCrc(aad, readInt64(req.additionalAuthenticatedDataCrc32c), 'additional_authenticated_data_crc32c');
      const invalid = () => new RpcError(grpc.status.INVALID_ARGUMENT, 'Decryption failed: the ciphertext is invalid.');
      if (ciphertext.length < 5 + 12 + 16 || ciphertext[0] !== CIPHERTEXT_MAGIC) throw invalid();
      const v = key.versions.get(ciphertext.readUInt32BE(1));
      if (!v) throw invalid();
      if (v.state !== 'ENABLED') {
        throw new RpcError(
          grpc.status.FAILED_PRECONDITION,
          `${key.name}/cryptoKeyVersions/${v.id} is not enabled, current state is: ${v.state}.`,
        );
      }
      const decipher = createDecipheriv('aes-256-gcm', v.material, ciphertext.subarray(5, 17));
      decipher.setAAD(aad);
      decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
      let plaintext: Buffer;
      try {
        plaintext = Buffer.concat([decipher.update(ciphertext.subarray(17, ciphertext.length - 16)), decipher.final()]);
      } catch {
        throw invalid();
      }
      const response = {
        plaintext,
        plaintextCrc32c: int64Value(crc32cReference(plaintext)),
        usedPrimary: key.primary === v.id,
        protectionLevel: key.protectionLevel,
      };
      const bad = corrupting();
      if (bad === 'plaintextCrc32c' || bad === 'checksum')
        response.plaintextCrc32c = int64Value(crc32cReference(plaintext) ^ 1);
      if (bad === 'plaintext') {
        response.plaintext = Buffer.from(plaintext);
        response.plaintext[0] = (response.plaintext[0] ?? 0) ^ 1;
      }
      return response;
    },
  };

  const service = loadService();
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [method, handle] of Object.entries(methods)) {
    const rpc = Object.entries(service).find(([, d]) => d.originalName === method || d.path.endsWith(`/${method}`));
    if (!rpc) throw new Error(`service.proto has no method ${method}`);
    implementation[rpc[0]] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      calls.set(method, (calls.get(method) ?? 0) + 1);
      const answer = () => {
        try {
          authenticate(call.metadata);
          if (fault.code !== undefined) throw new RpcError(fault.code, `injected ${grpc.status[fault.code]}`);
          if (denied.has(method)) {
            throw new RpcError(grpc.status.PERMISSION_DENIED, `Permission denied on resource (or it may not exist).`);
          }
          callback(null, handle(call.request));
        } catch (err) {
          if (!(err instanceof RpcError)) {
            callback({ code: grpc.status.INTERNAL, details: String(err) });
            return;
          }
          callback({
            code: err.code,
            details: err.message,
            ...(err.badField ? { metadata: badRequestMetadata(err.code, err.message, err.badField) } : {}),
          });
        }
      };
      if (fault.delayMs) setTimeout(answer, fault.delayMs);
      else answer();
    };
  }

  const credentials = grpc.ServerCredentials.createSsl(null, [{ private_key: tls.key, cert_chain: tls.cert }], false);
  const listen = async () => {
    const s = new grpc.Server();
    s.addService(service, implementation);
    server.port = await new Promise<number>((resolve, reject) =>
      s.bindAsync(`127.0.0.1:${server.port}`, credentials, (err, port) => (err ? reject(err) : resolve(port))),
    );
    server.current = s;
  };
  await listen();
  const kill = async () => {
    server.current?.forceShutdown();
    server.current = undefined;
  };

  return {
    get endpoint() {
      return `127.0.0.1:${server.port}`;
    },
    get port() {
      return server.port;
    },
    caFile: tls.caFile,
    credentialsFile,
    externalAccountFile,
    subjectTokenFile,
    get accessTokenLifetimeS() {
      return settings.accessTokenLifetimeS;
    },
    set accessTokenLifetimeS(s: number) {
      settings.accessTokenLifetimeS = s;
    },
    stsExchanges,
    dir,
    fault,
    denied,
    calls,
    get unauthenticated() {
      return unauthenticated;
    },
    get requestChecksumErrors() {
      return requestChecksumErrors;
    },
    createKeyRing: (name) => void rings.add(`projects/${GCP_PROJECT}/locations/${GCP_LOCATION}/keyRings/${name}`),
    setVersionState(name, state) {
      versionNamed(name).v.state = state;
    },
    setPrimary(name, versionId) {
      keyNamed(name).primary = versionNamed(`${name}/cryptoKeyVersions/${versionId}`).v.id;
    },
    kill,
    restart: async () => {
      if (!server.current) await listen();
    },
    stop: async () => {
      await kill();
      await new Promise((resolve) => sts.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
