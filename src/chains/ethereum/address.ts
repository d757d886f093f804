// Ethereum addresses: from an uncompressed secp256k1 public key, and EIP-55 validation. Pure.
import { computeAddress, getAddress, hexlify } from 'ethers';
import { ChainError } from '../errors.ts';

/** EIP-55 checksummed address of a 65-byte uncompressed (0x04 ‖ X ‖ Y) or 33-byte compressed public key. */
export function ethereumAddressFromPublicKey(publicKey: Uint8Array): string {
  const ok = (publicKey.length === 65 && publicKey[0] === 0x04) || (publicKey.length === 33 && (publicKey[0] === 0x02 || publicKey[0] === 0x03));
  if (!ok) throw new ChainError('PUBKEY_INVALID', 'expected a 65-byte uncompressed or 33-byte compressed secp256k1 key', { length: publicKey.length });
  try {
    return computeAddress(hexlify(publicKey));
  } catch (cause) {
    throw new ChainError('PUBKEY_INVALID', 'public key is not a point on secp256k1', {}, { cause });
  }
}

export interface ParseAddressOptions {
  /**
   * Refuse all-lower or all-upper case input, which carries no checksum (EIP-55). Off by default
   * because many wallets print lower case; mixed case is always checked.
   */
  readonly requireChecksum?: boolean;
}

/** Parses and returns the EIP-55 form; a mixed-case address with a wrong checksum is refused. */
export function parseEthereumAddress(text: string, options: ParseAddressOptions = {}): string {
  if (typeof text !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(text)) {
    throw new ChainError('ADDRESS_INVALID', 'an Ethereum address is 0x followed by 40 hex digits');
  }
  const body = text.slice(2);
  const singleCase = body === body.toLowerCase() || body === body.toUpperCase();
  if (singleCase && options.requireChecksum) {
    throw new ChainError('ADDRESS_INVALID', 'address has no EIP-55 checksum (single case)');
  }
  const checksummed = getAddress(`0x${body.toLowerCase()}`);
  if (!singleCase && checksummed !== text) throw new ChainError('ADDRESS_INVALID', 'EIP-55 checksum mismatch');
  return checksummed;
}

export function isValidEthereumAddress(text: string, options: ParseAddressOptions = {}): boolean {
  try {
    parseEthereumAddress(text, options);
    return true;
  } catch {
    return false;
  }
}
