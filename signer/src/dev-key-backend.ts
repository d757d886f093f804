// DEVELOPMENT ONLY key backend: private keys live in an AES-256-GCM encrypted file and in this
// process's memory. It exists so `npm start` works where SoftHSM2 is absent. Tests never use it,
// and the signer logs a loud warning whenever it is selected.
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { readSecretFile, type DevFileConfig } from './config.ts';
import { SignerError } from './errors.ts';
import type { BackendKey, KeyBackend, Location, Tier } from './key-backend.ts';

interface StoredKey { id: string; label: string; location: Location; privateKey: string; extractable: boolean }
const MAX_DEV_KEYS = 10_000;
const KW_IV = Buffer.from('a65959a6', 'hex');

export class DevFileBackend implements KeyBackend {
  readonly kind = 'dev-file' as const;
  readonly description = 'DEVELOPMENT ONLY encrypted key file (not an HSM)';
  private readonly keys = new Map<string, StoredKey>();
  private readonly fileKey: Buffer;
  private readonly salt: Buffer;

  private constructor(private readonly config: DevFileConfig) {
    const passphrase = readSecretFile(config.passphraseFile);
    if (passphrase.length < 12) throw new Error('dev-file passphrase must be at least 12 characters');
    if (existsSync(config.keyFile)) {
      const file = JSON.parse(readFileSync(config.keyFile, 'utf8')) as { salt: string; iv: string; tag: string; data: string };
      this.salt = Buffer.from(file.salt, 'hex');
      this.fileKey = scryptSync(passphrase, this.salt, 32);
      const decipher = createDecipheriv('aes-256-gcm', this.fileKey, Buffer.from(file.iv, 'hex'));
      decipher.setAuthTag(Buffer.from(file.tag, 'hex'));
      const plain = Buffer.concat([decipher.update(Buffer.from(file.data, 'base64')), decipher.final()]);
      for (const key of JSON.parse(plain.toString('utf8')) as StoredKey[]) this.keys.set(key.id, key);
    } else {
      this.salt = randomBytes(16);
      this.fileKey = scryptSync(passphrase, this.salt, 32);
      this.save();
    }
  }

  static open(config: DevFileConfig): Promise<DevFileBackend> {
    return Promise.resolve(new DevFileBackend(config));
  }

  private save(): void {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.fileKey, iv);
    const data = Buffer.concat([cipher.update(JSON.stringify([...this.keys.values()]), 'utf8'), cipher.final()]);
    const tmp = `${this.config.keyFile}.tmp`;
    writeFileSync(tmp, JSON.stringify({ warning: 'DEVELOPMENT ONLY', salt: this.salt.toString('hex'), iv: iv.toString('hex'), tag: cipher.getAuthTag().toString('hex'), data: data.toString('base64') }), { mode: 0o600 });
    renameSync(tmp, this.config.keyFile);
  }

  private toBackendKey(key: StoredKey): BackendKey {
    return { id: key.id, label: key.label, location: key.location, publicKey: secp256k1.getPublicKey(Buffer.from(key.privateKey, 'hex'), false), extractable: key.extractable, sensitive: true };
  }

  createKey(options: { label: string; tier: Tier; backup: boolean }): Promise<BackendKey> {
    if (this.keys.size >= MAX_DEV_KEYS) throw new SignerError('KEY_LIMIT', `the dev key file holds at most ${MAX_DEV_KEYS} keys`);
    const key: StoredKey = { id: randomBytes(16).toString('hex'), label: options.label, location: options.tier, privateKey: Buffer.from(secp256k1.utils.randomSecretKey()).toString('hex'), extractable: options.backup };
    this.keys.set(key.id, key);
    this.save();
    return Promise.resolve(this.toBackendKey(key));
  }

  enumerateKeys(): Promise<BackendKey[]> {
    return Promise.resolve([...this.keys.values()].map((key) => this.toBackendKey(key)));
  }

  signDigest(keyId: string, digest: Uint8Array): Promise<Uint8Array> {
    const key = this.keys.get(keyId);
    if (!key) throw new SignerError('KEY_UNKNOWN', `no key ${keyId}`);
    return Promise.resolve(secp256k1.sign(digest, Buffer.from(key.privateKey, 'hex'), { prehash: false }));
  }

  wrapKey(keyId: string, kek: Buffer): Promise<Buffer> {
    const key = this.keys.get(keyId);
    if (!key) throw new SignerError('KEY_UNKNOWN', `no key ${keyId}`);
    if (!key.extractable) throw new SignerError('KEY_NOT_EXTRACTABLE', 'the key was not created under the backup ceremony');
    const cipher = createCipheriv('id-aes256-wrap-pad', kek, KW_IV);
    return Promise.resolve(Buffer.concat([cipher.update(Buffer.from(key.privateKey, 'hex')), cipher.final()]));
  }

  restoreKey(blob: Buffer, kek: Buffer, options: { label: string; publicKey: Uint8Array }): Promise<BackendKey> {
    const decipher = createDecipheriv('id-aes256-wrap-pad', kek, KW_IV);
    const privateKey = Buffer.concat([decipher.update(blob), decipher.final()]);
    if (!Buffer.from(secp256k1.getPublicKey(privateKey, false)).equals(Buffer.from(options.publicKey))) {
      throw new SignerError('RESTORE_MISMATCH', 'the restored key does not match the recorded public key');
    }
    const key: StoredKey = { id: randomBytes(16).toString('hex'), label: options.label, location: 'backup', privateKey: privateKey.toString('hex'), extractable: false };
    this.keys.set(key.id, key);
    this.save();
    return Promise.resolve(this.toBackendKey(key));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
