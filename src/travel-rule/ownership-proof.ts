// Proof that a client controls a self-hosted destination (DEP-05, outgoing side): the client signs
// a server-issued challenge with the destination's key. Bitcoin: BIP-137 signed messages (the
// "Bitcoin Signed Message" format of Bitcoin Core, Electrum, Trezor). Ethereum: EIP-191
// personal_sign. Pure: the pipeline issues and stores the nonce and the proof.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { payments } from 'bitcoinjs-lib';
import { getAddress, verifyMessage } from 'ethers';
import { BITCOIN_NETWORKS, bitcoinNetwork, decodeAddress, type BitcoinNetworkName } from '../chains/bitcoin/index.ts';

export const OWNERSHIP_NONCE_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;
/** Messages longer than this are not ours (the challenge is ~200 bytes). */
export const OWNERSHIP_MESSAGE_BYTES_MAX = 1024;
const ADDRESS_CHARS_MAX = 100;

export type OwnershipProofMethod = 'bip137' | 'eip191' | 'none';
export type OwnershipProofReason =
  | 'CHALLENGE_MISMATCH' | 'ADDRESS_INVALID' | 'NETWORK_UNKNOWN' | 'UNSUPPORTED_CHAIN'
  | 'SIGNATURE_MALFORMED' | 'SIGNATURE_INVALID' | 'ADDRESS_MISMATCH';

export interface OwnershipProofInput {
  chain: 'bitcoin' | 'ethereum';
  /** Bitcoin: mainnet | testnet | regtest | bcoin-regtest. Ethereum: informational (EIP-191 has no chain id). */
  network: string;
  address: string;
  message: string;
  /** Bitcoin: 65-byte compact signature, base64. Ethereum: 65-byte r‖s‖v, 0x-hex. */
  signature: string;
  /** The server-issued challenge nonce; the message must be exactly ownershipChallenge(address, nonce). */
  nonce: string;
}

export interface OwnershipProofResult {
  ok: boolean;
  method: OwnershipProofMethod;
  reason?: OwnershipProofReason;
  /** Bitcoin: the address type the recovered key matched. */
  addressType?: BitcoinMessageAddressType;
}

/**
 * The exact text the client signs. It names the address and the nonce, so a proof made for one
 * address or one challenge cannot be replayed for another.
 */
export function ownershipChallenge(address: string, nonce: string): string {
  if (typeof address !== 'string' || address.length === 0 || address.length > ADDRESS_CHARS_MAX || /\s/.test(address)) {
    throw new TypeError(`address must be 1..${ADDRESS_CHARS_MAX} characters without whitespace`);
  }
  if (typeof nonce !== 'string' || !OWNERSHIP_NONCE_PATTERN.test(nonce)) {
    throw new TypeError('nonce must be 16..128 characters of A-Z a-z 0-9 _ -');
  }
  return `Amanat withdrawal address ownership proof\nAddress: ${address}\nChallenge: ${nonce}`;
}

export function verifyOwnershipProof(input: OwnershipProofInput): OwnershipProofResult {
  let expected: string;
  try {
    expected = ownershipChallenge(input.address, input.nonce);
  } catch {
    return { ok: false, method: 'none', reason: 'CHALLENGE_MISMATCH' };
  }
  if (input.message !== expected) return { ok: false, method: 'none', reason: 'CHALLENGE_MISMATCH' };
  if (input.chain === 'bitcoin') {
    if (!Object.hasOwn(BITCOIN_NETWORKS, input.network)) return { ok: false, method: 'bip137', reason: 'NETWORK_UNKNOWN' };
    const result = verifyBitcoinSignedMessage(input.address, input.message, input.signature, input.network as BitcoinNetworkName);
    return { method: 'bip137', ...result };
  }
  if (input.chain === 'ethereum') return { method: 'eip191', ...verifyEthereumSignedMessage(input.address, input.message, input.signature) };
  return { ok: false, method: 'none', reason: 'UNSUPPORTED_CHAIN' };
}

// ---------------------------------------------------------------------------------------------
// Ethereum: EIP-191 version 0x45 ("\x19Ethereum Signed Message:\n" + length + message).

export function verifyEthereumSignedMessage(address: string, message: string, signature: string): Omit<OwnershipProofResult, 'method'> {
  let claimed: string;
  try {
    claimed = getAddress(address); // refuses a mixed-case address with a wrong EIP-55 checksum
  } catch {
    return { ok: false, reason: 'ADDRESS_INVALID' };
  }
  if (typeof signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(signature)) return { ok: false, reason: 'SIGNATURE_MALFORMED' };
  let recovered: string;
  try {
    recovered = verifyMessage(message, signature);
  } catch {
    return { ok: false, reason: 'SIGNATURE_INVALID' };
  }
  return recovered === claimed ? { ok: true } : { ok: false, reason: 'ADDRESS_MISMATCH' };
}

// ---------------------------------------------------------------------------------------------
// Bitcoin: BIP-137. Header byte = 27 + recovery id (0..3) + 4 × type, type 0 = P2PKH with an
// uncompressed key, 1 = P2PKH compressed, 2 = P2SH-P2WPKH, 3 = P2WPKH (BIP-137 table).

export type BitcoinMessageAddressType = 'p2pkh-uncompressed' | 'p2pkh' | 'p2sh-p2wpkh' | 'p2wpkh';
const HEADER_TYPES: readonly BitcoinMessageAddressType[] = ['p2pkh-uncompressed', 'p2pkh', 'p2sh-p2wpkh', 'p2wpkh'];
const BITCOIN_MESSAGE_PREFIX = '\x18Bitcoin Signed Message:\n';

function varint(n: number): Uint8Array {
  if (n < 0xfd) return Uint8Array.of(n);
  if (n <= 0xffff) return Uint8Array.of(0xfd, n & 0xff, n >>> 8);
  return Uint8Array.of(0xfe, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
}

/** double-SHA256(varint(len(prefix-body)) ‖ "Bitcoin Signed Message:\n" ‖ varint(len(message)) ‖ message). */
export function bitcoinMessageHash(message: string): Uint8Array {
  const body = new TextEncoder().encode(message);
  if (body.length > OWNERSHIP_MESSAGE_BYTES_MAX) throw new RangeError(`message is longer than ${OWNERSHIP_MESSAGE_BYTES_MAX} bytes`);
  // The prefix constant already starts with its own length byte (0x18 = 24).
  const prefix = new TextEncoder().encode(BITCOIN_MESSAGE_PREFIX);
  const length = varint(body.length);
  const data = new Uint8Array(prefix.length + length.length + body.length);
  data.set(prefix, 0);
  data.set(length, prefix.length);
  data.set(body, prefix.length + length.length);
  return sha256(sha256(data));
}

function decodeBase64Strict(text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? new Uint8Array(bytes) : undefined;
}

function scriptsEqual(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function scriptFor(type: BitcoinMessageAddressType, publicKey: Uint8Array, networkName: BitcoinNetworkName): Uint8Array | undefined {
  const network = bitcoinNetwork(networkName);
  switch (type) {
    case 'p2pkh-uncompressed':
    case 'p2pkh':
      return payments.p2pkh({ pubkey: publicKey, network }).output;
    case 'p2sh-p2wpkh':
      return payments.p2sh({ redeem: payments.p2wpkh({ pubkey: publicKey, network }), network }).output;
    case 'p2wpkh':
      return payments.p2wpkh({ pubkey: publicKey, network }).output;
  }
}

/**
 * Verifies a BIP-137 signature over `message` by the key behind `address` on `network`. The key's
 * compression must match the header (an uncompressed-key signature never verifies for a
 * compressed-key address and vice versa). With a compressed key, the three single-key address
 * types are all accepted whatever the header says, because Electrum and Trezor sign segwit
 * addresses with the P2PKH header; the recovered key controls the address either way.
 */
export function verifyBitcoinSignedMessage(
  address: string, message: string, signatureBase64: string, network: BitcoinNetworkName,
): Omit<OwnershipProofResult, 'method'> {
  let claimedScript: Uint8Array;
  try {
    claimedScript = decodeAddress(address, network).script;
  } catch {
    return { ok: false, reason: 'ADDRESS_INVALID' };
  }
  const signature = decodeBase64Strict(signatureBase64);
  if (!signature || signature.length !== 65) return { ok: false, reason: 'SIGNATURE_MALFORMED' };
  const header = signature[0]!;
  if (header < 27 || header > 42) return { ok: false, reason: 'SIGNATURE_MALFORMED' };
  const recovery = (header - 27) & 3;
  const headerType = HEADER_TYPES[(header - 27) >> 2]!;
  let hash: Uint8Array;
  try {
    hash = bitcoinMessageHash(message);
  } catch {
    return { ok: false, reason: 'SIGNATURE_INVALID' };
  }
  let publicKey: Uint8Array;
  try {
    const recovered = new Uint8Array(65);
    recovered[0] = recovery;
    recovered.set(signature.subarray(1), 1);
    const compressed = secp256k1.recoverPublicKey(recovered, hash, { prehash: false });
    publicKey = headerType === 'p2pkh-uncompressed' ? secp256k1.Point.fromBytes(compressed).toBytes(false) : compressed;
  } catch {
    return { ok: false, reason: 'SIGNATURE_INVALID' };
  }
  const candidates: BitcoinMessageAddressType[] = headerType === 'p2pkh-uncompressed'
    ? ['p2pkh-uncompressed']
    : [headerType, ...HEADER_TYPES.filter((t) => t !== headerType && t !== 'p2pkh-uncompressed')];
  for (const type of candidates) {
    if (scriptsEqual(scriptFor(type, publicKey, network), claimedScript)) return { ok: true, addressType: type };
  }
  return { ok: false, reason: 'ADDRESS_MISMATCH' };
}
