import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';

/**
 * A loopback stand-in for AWS STS answering AssumeRoleWithWebIdentity, the
 * call behind IRSA-style web identity credentials
 * (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html):
 * it checks the token against the token file's current content and issues
 * credentials that expire after `lifetimeMs` (real STS: 15 minutes at
 * least). local-kms has no STS, and the proxy in front of it (kms-proxy.ts)
 * uses `verdict` to refuse expired or unknown credentials as AWS would.
 */
export interface StsStandIn {
  readonly endpoint: string;
  /** Every credential issued, in order. */
  readonly issued: ReadonlyArray<{ accessKeyId: string; expiresAt: number }>;
  /** Requests refused (wrong token, wrong action). */
  readonly refused: number;
  verdict(accessKeyId: string, sessionToken: string | undefined): 'ok' | 'expired' | 'unknown';
  stop(): Promise<void>;
}

export async function startStsStandIn(opts: { tokenFile: string; lifetimeMs: number }): Promise<StsStandIn> {
  const issued: Array<{ accessKeyId: string; sessionToken: string; expiresAt: number }> = [];
  let refused = 0;
  let n = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const expected = readFileSync(opts.tokenFile, 'utf8').trim();
      if (form.get('Action') !== 'AssumeRoleWithWebIdentity' || form.get('WebIdentityToken') !== expected) {
        refused++;
        res.writeHead(400, { 'content-type': 'text/xml' });
        res.end(
          '<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>' +
            '<Message>token rejected</Message></Error><RequestId>0</RequestId></ErrorResponse>',
        );
        return;
      }
      const cred = {
        accessKeyId: `ASIASTANDIN${String(++n).padStart(6, '0')}`,
        secretAccessKey: randomBytes(20).toString('hex'),
        sessionToken: randomBytes(32).toString('base64'),
        expiresAt: Date.now() + opts.lifetimeMs,
      };
      issued.push(cred);
      const role = form.get('RoleArn') ?? '';
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(`<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:kube-system:kleidi</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>${role.replace(':role/', ':assumed-role/')}/${form.get('RoleSessionName') ?? 'kleidi'}</Arn>
      <AssumedRoleId>AROASTANDIN:kleidi</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${cred.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${cred.secretAccessKey}</SecretAccessKey>
      <SessionToken>${cred.sessionToken}</SessionToken>
      <Expiration>${new Date(cred.expiresAt).toISOString()}</Expiration>
    </Credentials>
    <Provider>oidc.kleidi.test</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>${randomBytes(8).toString('hex')}</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`);
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get issued() {
      return issued.map(({ accessKeyId, expiresAt }) => ({ accessKeyId, expiresAt }));
    },
    get refused() {
      return refused;
    },
    verdict(accessKeyId, sessionToken) {
      const c = issued.find((i) => i.accessKeyId === accessKeyId);
      if (!c || c.sessionToken !== sessionToken) return 'unknown';
      return Date.now() >= c.expiresAt ? 'expired' : 'ok';
    },
    stop: () => new Promise((ok) => server.close(() => ok())),
  };
}
