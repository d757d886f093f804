// SEG-11 / TR-06: Travel Rule PII is encrypted at rest with AES-256-GCM envelopes bound to a row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { decryptJson, encryptJson, keyringFromHex, loadKeyring, PiiCryptoError, type PiiEnvelope } from '../../src/travel-rule/index.ts';

const dir = mkdtempSync(path.join(process.env.AMANAT_TEST_TMP ?? tmpdir(), 'amanat-pii-'));
const keyHex = { 'k-2026-01': randomBytes(32).toString('hex'), 'k-2025-07': randomBytes(32).toString('hex') };
const keyringPath = path.join(dir, 'keyring.json');
writeFileSync(keyringPath, JSON.stringify(keyHex), { mode: 0o600 });
const keyring = loadKeyring(keyringPath);
const value = { originator: { name: 'Nurlanov Aigerim', nationalId: '900101400123' }, amount: '1000.00' };
const context = 'withdrawal:5b0e2c1e-1111-4a4a-9999-000000000001';

const isCode = (code: PiiCryptoError['code']) => (error: unknown): boolean => error instanceof PiiCryptoError && error.code === code;

function flipBase64(text: string, index = 0): string {
  const bytes = Buffer.from(text, 'base64');
  bytes[index] = bytes[index]! ^ 0x01;
  return bytes.toString('base64');
}

test('SEG-11 round trip: what is encrypted under a context decrypts under the same context', () => {
  const envelope = encryptJson(keyring, 'k-2026-01', value, context);
  assert.equal(envelope.v, 1);
  assert.equal(envelope.kid, 'k-2026-01');
  assert.equal(Buffer.from(envelope.iv, 'base64').length, 12);
  assert.equal(Buffer.from(envelope.tag, 'base64').length, 16);
  assert.deepEqual(decryptJson(keyring, envelope, context), value);
});

test('SEG-11 a raw dump shows ciphertext only: no PII in the envelope, and a fresh IV each time', () => {
  const a = encryptJson(keyring, 'k-2026-01', value, context);
  const b = encryptJson(keyring, 'k-2026-01', value, context);
  const dump = JSON.stringify(a);
  assert.ok(!dump.includes('Nurlanov') && !dump.includes('900101400123'), dump);
  assert.notEqual(a.iv, b.iv);
  assert.notEqual(a.ct, b.ct);
});

test('SEG-11 a ciphertext moved to another row (another context) does not decrypt', () => {
  const envelope = encryptJson(keyring, 'k-2026-01', value, context);
  assert.throws(() => decryptJson(keyring, envelope, 'withdrawal:5b0e2c1e-1111-4a4a-9999-000000000002'), isCode('DECRYPT_FAILED'));
});

test('SEG-11 tampered ciphertext, tag or iv fails', () => {
  const envelope = encryptJson(keyring, 'k-2026-01', value, context);
  assert.throws(() => decryptJson(keyring, { ...envelope, ct: flipBase64(envelope.ct, 5) }, context), isCode('DECRYPT_FAILED'));
  assert.throws(() => decryptJson(keyring, { ...envelope, tag: flipBase64(envelope.tag) }, context), isCode('DECRYPT_FAILED'));
  assert.throws(() => decryptJson(keyring, { ...envelope, iv: flipBase64(envelope.iv) }, context), isCode('DECRYPT_FAILED'));
  assert.throws(() => decryptJson(keyring, { ...envelope, tag: envelope.tag.slice(0, 8) }, context), isCode('ENVELOPE_INVALID'));
});

test('SEG-11 an unknown kid fails, and relabelling the kid to another known key fails too', () => {
  const envelope = encryptJson(keyring, 'k-2026-01', value, context);
  assert.throws(() => decryptJson(keyring, { ...envelope, kid: 'k-1999-01' }, context), isCode('KEY_UNKNOWN'));
  assert.throws(() => decryptJson(keyring, { ...envelope, kid: 'k-2025-07' }, context), isCode('DECRYPT_FAILED'));
  assert.throws(() => encryptJson(keyring, 'k-1999-01', value, context), isCode('KEY_UNKNOWN'));
});

test('SEG-11 key rotation: envelopes under the old kid still decrypt while the new kid encrypts', () => {
  const old = encryptJson(keyring, 'k-2025-07', value, context);
  const fresh = encryptJson(keyring, 'k-2026-01', value, context);
  assert.deepEqual(decryptJson(keyring, old, context), value);
  assert.deepEqual(decryptJson(keyring, fresh, context), value);
  const onlyNew = keyringFromHex({ 'k-2026-01': keyHex['k-2026-01'] });
  assert.throws(() => decryptJson(onlyNew, old, context), isCode('KEY_UNKNOWN'));
});

test('SEG-11 malformed keyrings are refused naming the file but never the key bytes', () => {
  const short = path.join(dir, 'short.json');
  writeFileSync(short, JSON.stringify({ k1: 'abcd' }));
  assert.throws(() => loadKeyring(short), (e: unknown) => isCode('KEYRING_INVALID')(e) && (e as Error).message.includes(short) && !(e as Error).message.includes('abcd'));
  assert.throws(() => loadKeyring(path.join(dir, 'missing.json')), isCode('KEYRING_INVALID'));
  assert.throws(() => keyringFromHex({}), isCode('KEYRING_INVALID'));
  assert.throws(() => keyringFromHex({ 'bad kid!': keyHex['k-2026-01'] }), isCode('KEYRING_INVALID'));
  assert.throws(() => encryptJson(keyring, 'k-2026-01', value, ''), isCode('CONTEXT_INVALID'));
  assert.throws(() => decryptJson(keyring, { v: 2 } as unknown as PiiEnvelope, context), isCode('ENVELOPE_INVALID'));
});
