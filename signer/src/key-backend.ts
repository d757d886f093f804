// Pluggable key backends chosen by config `type` (web3signer style): `pkcs11` (any PKCS#11 HSM,
// SoftHSM2 in development and tests) and `dev-file` (DEVELOPMENT ONLY, keys in an encrypted file).
export type Tier = 'hot' | 'cold';
export type Location = Tier | 'backup';

export interface BackendKey {
  id: string;
  label: string;
  /** Which token the key object lives in: this IS the tier (HOT-05). */
  location: Location;
  /** 65-byte uncompressed SEC1 point. */
  publicKey: Uint8Array;
  /** Created under the backup ceremony (CKA_EXTRACTABLE=true, still sensitive). */
  extractable: boolean;
  sensitive: boolean;
}

export interface KeyBackend {
  readonly kind: 'pkcs11' | 'dev-file';
  readonly description: string;
  createKey(options: { label: string; tier: Tier; backup: boolean }): Promise<BackendKey>;
  /** Live enumeration of the key objects in the store (used for the count report). */
  enumerateKeys(): Promise<BackendKey[]>;
  /** Raw ECDSA over a 32-byte digest: 64 bytes r||s, S not yet normalised. */
  signDigest(keyId: string, digest: Uint8Array): Promise<Uint8Array>;
  /** Backup ceremony: wrap the key's private part under a KEK (AES key wrap, pad). */
  wrapKey(keyId: string, kek: Buffer): Promise<Buffer>;
  /** Backup ceremony: unwrap into the backup token as a sensitive, non-extractable key. */
  restoreKey(blob: Buffer, kek: Buffer, options: { label: string; publicKey: Uint8Array }): Promise<BackendKey>;
  close(): Promise<void>;
}
