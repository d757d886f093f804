// Field-level encryption of Travel Rule PII at rest (SEG-11, TR-06): AES-256-GCM envelopes with a
// key id, so keys rotate by adding a kid and re-encrypting at leisure. The associated data binds
// the envelope to its key id and to a caller-chosen context (e.g. "withdrawal:<id>"), so a
// ciphertext copied to another row does not decrypt there.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const PII_ENVELOPE_VERSION = 1;
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const PII_KEYRING_KEYS_MAX = 100;
export const PII_PLAINTEXT_BYTES_MAX = 1024 * 1024;
const KID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const CONTEXT_CHARS_MAX = 256;

export type Keyring = ReadonlyMap<string, Uint8Array>;

export interface PiiEnvelope {
  v: 1;
  kid: string;
  /** base64 */
  iv: string;
  ct: string;
  tag: string;
}

export class PiiCryptoError extends Error {
  readonly code: 'KEYRING_INVALID' | 'KEY_UNKNOWN' | 'ENVELOPE_INVALID' | 'DECRYPT_FAILED' | 'CONTEXT_INVALID';
  constructor(code: PiiCryptoError['code'], message: string) {
    super(message);
    this.name = 'PiiCryptoError';
    this.code = code;
  }
}

/** Builds a keyring from { kid: 64 hex characters }. Key bytes never appear in errors. */
export function keyringFromHex(entries: Record<string, unknown>, source = 'keyring'): Keyring {
  if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) {
    throw new PiiCryptoError('KEYRING_INVALID', `${source}: must be a JSON object { "kid": "<64 hex>" }`);
  }
  const keys = Object.entries(entries);
  if (keys.length === 0 || keys.length > PII_KEYRING_KEYS_MAX) {
    throw new PiiCryptoError('KEYRING_INVALID', `${source}: must hold 1..${PII_KEYRING_KEYS_MAX} keys`);
  }
  const ring = new Map<string, Uint8Array>();
  for (const [kid, hex] of keys) {
    if (!KID_PATTERN.test(kid)) throw new PiiCryptoError('KEYRING_INVALID', `${source}: key id ${JSON.stringify(kid)} must match ${KID_PATTERN}`);
    if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex)) {
      throw new PiiCryptoError('KEYRING_INVALID', `${source}: key ${kid} must be ${KEY_BYTES} bytes as 64 hex characters`);
    }
    ring.set(kid, new Uint8Array(Buffer.from(hex, 'hex')));
  }
  return ring;
}

/** Reads a keyring file (JSON { kid: hex }). The file is a secret; only its path is ever logged. */
export function loadKeyring(path: string): Keyring {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new PiiCryptoError('KEYRING_INVALID', `keyring ${path} cannot be read: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PiiCryptoError('KEYRING_INVALID', `keyring ${path} is not JSON`);
  }
  return keyringFromHex(json as Record<string, unknown>, `keyring ${path}`);
}

function associatedData(kid: string, context: string): Buffer {
  if (typeof context !== 'string' || context.length === 0 || context.length > CONTEXT_CHARS_MAX) {
    throw new PiiCryptoError('CONTEXT_INVALID', `context must be 1..${CONTEXT_CHARS_MAX} characters`);
  }
  return Buffer.from(`amanat/pii/v${PII_ENVELOPE_VERSION}\n${kid}\n${context}`, 'utf8');
}

function keyFor(keyring: Keyring, kid: string): Uint8Array {
  const key = keyring.get(kid);
  if (!key || key.length !== KEY_BYTES) throw new PiiCryptoError('KEY_UNKNOWN', `no key ${kid} in the keyring`);
  return key;
}

/** Encrypts JSON-serialisable `value` under the active key, bound to `context`. */
export function encryptJson(keyring: Keyring, activeKid: string, value: unknown, context: string): PiiEnvelope {
  const key = keyFor(keyring, activeKid);
  const plaintext = Buffer.from(JSON.stringify(value) ?? 'null', 'utf8');
  if (plaintext.length > PII_PLAINTEXT_BYTES_MAX) throw new PiiCryptoError('ENVELOPE_INVALID', `plaintext is larger than ${PII_PLAINTEXT_BYTES_MAX} bytes`);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(activeKid, context));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { v: 1, kid: activeKid, iv: iv.toString('base64'), ct: ct.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
}

function base64Field(envelope: Record<string, unknown>, field: 'iv' | 'ct' | 'tag', length?: number): Buffer {
  const text = envelope[field];
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new PiiCryptoError('ENVELOPE_INVALID', `envelope ${field} must be base64`);
  const bytes = Buffer.from(text, 'base64');
  if (length !== undefined && bytes.length !== length) throw new PiiCryptoError('ENVELOPE_INVALID', `envelope ${field} must be ${length} bytes`);
  return bytes;
}

/** Decrypts an envelope made for the same `context`; any tampering fails with DECRYPT_FAILED. */
export function decryptJson(keyring: Keyring, envelope: PiiEnvelope, context: string): unknown {
  if (typeof envelope !== 'object' || envelope === null) throw new PiiCryptoError('ENVELOPE_INVALID', 'envelope must be an object');
  const raw = envelope as unknown as Record<string, unknown>;
  if (raw.v !== PII_ENVELOPE_VERSION) throw new PiiCryptoError('ENVELOPE_INVALID', `envelope version must be ${PII_ENVELOPE_VERSION}`);
  if (typeof raw.kid !== 'string' || !KID_PATTERN.test(raw.kid)) throw new PiiCryptoError('ENVELOPE_INVALID', 'envelope kid is invalid');
  const key = keyFor(keyring, raw.kid);
  const iv = base64Field(raw, 'iv', IV_BYTES);
  const tag = base64Field(raw, 'tag', TAG_BYTES);
  const ct = base64Field(raw, 'ct');
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(associatedData(raw.kid, context));
  decipher.setAuthTag(tag);
  let plaintext: Buffer;
  try {
    plaintext = Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch {
    throw new PiiCryptoError('DECRYPT_FAILED', 'envelope does not authenticate (wrong key, context, or tampered)');
  }
  return JSON.parse(plaintext.toString('utf8')) as unknown;
}
