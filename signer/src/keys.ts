// What the checks know about a key: owner, tier and public key. Built from the HSM enumeration
// joined with the key registry; a key without a registry record cannot sign (fail closed).
import type { Location } from './key-backend.ts';

export interface SignerKey {
  id: string;
  label: string;
  /** The token the key lives in. */
  tier: Location;
  clientId: string;
  created: string;
  backup: boolean;
  publicKey: Uint8Array;
  publicKeyCompressed: Uint8Array;
  ethereumAddress: string;
  /** 'report': signs report manifests only (POST /reports/sign); never a source, input or destination of a transaction. */
  usage: 'wallet' | 'report';
}

export type KeyLookup = (keyId: string) => SignerKey | undefined;

export const HOUSE_CLIENT_ID = 'house';
