import { describe, expect, it } from 'vitest';
import {
  arnForKeyId,
  awsKeyVersion,
  encryptionContext,
  parseAwsKeyId,
  parseKeyArn,
} from '#src/adapters/outbound/aws/aws-kms.key-id.js';
import { parseKeyReference } from '#src/adapters/outbound/aws/aws-kms.keys.js';
import { parseKeyId } from '#src/domain/model/key-id.js';

const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';
const ARN = `arn:aws:kms:eu-west-1:111122223333:key/${KEY}`;
const MATERIAL = 'a'.repeat(64);
const created = new Date('2026-03-01T10:00:00Z');

describe('aws key_id', () => {
  it('names partition, Region, account, key and current key material; version orders keys by creation', () => {
    const v = awsKeyVersion({ arn: ARN, multiRegion: false, createdAt: created, materialId: MATERIAL });
    expect(v).toEqual({
      keyId: `aws:aws:eu-west-1:111122223333:${KEY}:${MATERIAL}`,
      version: created.getTime() / 1000,
      createdAt: '2026-03-01T10:00:00.000Z',
    });
  });

  it('has no material part when KMS reports none', () => {
    expect(awsKeyVersion({ arn: ARN, multiRegion: false, createdAt: created }).keyId).toBe(
      `aws:aws:eu-west-1:111122223333:${KEY}`,
    );
  });

  it('leaves the Region out for a multi-Region key: replicas in every Region report the same key_id', () => {
    const mrk = 'mrk-1234abcd12ab34cd56ef1234567890ab';
    const east = awsKeyVersion({
      arn: `arn:aws:kms:us-east-1:111122223333:key/${mrk}`,
      multiRegion: true,
      createdAt: created,
    });
    const west = awsKeyVersion({
      arn: `arn:aws:kms:us-west-2:111122223333:key/${mrk}`,
      multiRegion: true,
      createdAt: created,
    });
    expect(east.keyId).toBe(west.keyId);
    const parsed = parseAwsKeyId(east.keyId);
    expect(parsed?.region).toBeUndefined();
    expect(parsed && arnForKeyId(parsed, 'eu-central-1')).toBe(`arn:aws:kms:eu-central-1:111122223333:key/${mrk}`);
  });

  it('parses back to the ARN Decrypt must name', () => {
    const v = awsKeyVersion({ arn: ARN, multiRegion: false, createdAt: created, materialId: MATERIAL });
    const p = parseAwsKeyId(v.keyId);
    expect(p).toEqual({
      partition: 'aws',
      region: 'eu-west-1',
      account: '111122223333',
      keyId: KEY,
      materialId: MATERIAL,
    });
    expect(p && arnForKeyId(p, 'ignored-for-single-region')).toBe(ARN);
  });

  it.each([
    'local:v1:abcd',
    'aws:other:v999999',
    `aws:aws:eu-west-1:1111:${KEY}`,
    `aws:aws:eu-west-1:111122223333:${KEY}:${MATERIAL}:extra`,
    `aws:aws:any-region:111122223333:${KEY}`, // any-region is only for multi-Region keys
    `aws:aws:eu-west-1:111122223333:${KEY}:not-hex!`,
  ])('refuses %s', (id) => {
    expect(parseAwsKeyId(parseKeyId(id))).toBeUndefined();
  });

  it('binds format and key_id as encryption context', () => {
    const id = parseKeyId(`aws:aws:eu-west-1:111122223333:${KEY}`);
    expect(encryptionContext(id)).toEqual({ 'kleidi-format': '1', 'kleidi-key-id': id });
  });

  it('parses key ARNs, including GovCloud and China partitions', () => {
    expect(parseKeyArn(ARN)).toEqual({ partition: 'aws', region: 'eu-west-1', account: '111122223333', keyId: KEY });
    expect(parseKeyArn(`arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/${KEY}`)?.partition).toBe('aws-us-gov');
    expect(parseKeyArn(`arn:aws-cn:kms:cn-north-1:111122223333:key/${KEY}`)?.region).toBe('cn-north-1');
    expect(parseKeyArn('arn:aws:kms:eu-west-1:111122223333:alias/kleidi')).toBeUndefined();
  });
});

describe('aws.key setting', () => {
  it.each([
    ['alias/kleidi', 'alias', 'alias/kleidi'],
    ['alias/team_a/kleidi-prod', 'alias', 'alias/team_a/kleidi-prod'],
    ['arn:aws:kms:eu-west-1:111122223333:alias/kleidi', 'alias', 'alias/kleidi'],
    [ARN, 'key', undefined],
    [KEY, 'key', undefined],
    ['mrk-1234abcd12ab34cd56ef1234567890ab', 'key', undefined],
  ])('%s is a %s', (input, kind, name) => {
    const ref = parseKeyReference(input);
    expect(ref?.kind).toBe(kind);
    if (name) expect(ref).toMatchObject({ name });
  });

  it.each(['kleidi', 'alias/', 'alias/aws/ebs', 'alias/a b', `alias/${'x'.repeat(191)}`, 'key/1234'])(
    'refuses %s',
    (input) => {
      expect(parseKeyReference(input)).toBeUndefined();
    },
  );
});
