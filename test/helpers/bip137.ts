// A BIP-137 signer for tests: compact recoverable signature with the header for the address type.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bitcoinMessageHash, type BitcoinMessageAddressType } from '../../src/travel-rule/index.ts';

export const HEADER_BASE: Record<BitcoinMessageAddressType, number> = { 'p2pkh-uncompressed': 27, p2pkh: 31, 'p2sh-p2wpkh': 35, p2wpkh: 39 };

export function signBip137(privateKey: Uint8Array, message: string, type: BitcoinMessageAddressType): string {
  const recovered = secp256k1.sign(bitcoinMessageHash(message), privateKey, { prehash: false, format: 'recovered' });
  const out = new Uint8Array(65);
  out[0] = HEADER_BASE[type] + recovered[0]!;
  out.set(recovered.subarray(1), 1);
  return Buffer.from(out).toString('base64');
}
