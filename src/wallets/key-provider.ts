// What the wallet layer needs from the signer: keys generated inside the HSM, public halves only.
export type KeyTier = 'hot' | 'cold';

export interface CreatedKey {
  keyId: string;
  /** Compressed secp256k1 public key, hex (33 bytes). */
  publicKey: string;
  tier: KeyTier;
}

export interface KeyProvider {
  /** clientId: the owner the signer records for the key (change may only return to the same owner: HOT-03). */
  createKey(input: { label: string; tier: KeyTier; clientId?: string }): Promise<CreatedKey>;
}
