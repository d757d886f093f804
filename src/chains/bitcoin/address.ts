// Bitcoin addresses: P2WPKH from a compressed public key, and address → output script per
// network with a typed error for an address of another network. Pure; no I/O.
import { address as bitcoinAddress, payments } from 'bitcoinjs-lib';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ChainError } from '../errors.ts';
import { BITCOIN_NETWORKS, bitcoinNetwork, type BitcoinNetworkName } from './networks.ts';

export type OutputKind = 'p2wpkh' | 'p2wsh' | 'p2tr' | 'p2pkh' | 'p2sh' | 'witness-unknown';

export interface DecodedAddress {
  /** Canonical form: bech32 in lower case, base58 unchanged. */
  readonly address: string;
  readonly network: BitcoinNetworkName;
  readonly kind: OutputKind;
  readonly script: Uint8Array;
  readonly scriptHex: string;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

/** P2WPKH address and output script for a 33-byte compressed secp256k1 public key. */
export function p2wpkhFromPublicKey(publicKey: Uint8Array, network: BitcoinNetworkName): DecodedAddress {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 33 || (publicKey[0] !== 0x02 && publicKey[0] !== 0x03)) {
    throw new ChainError('PUBKEY_INVALID', 'P2WPKH needs a 33-byte compressed public key (BIP-143 policy)', { length: publicKey?.length });
  }
  try {
    secp256k1.Point.fromBytes(publicKey);
  } catch (cause) {
    throw new ChainError('PUBKEY_INVALID', 'public key is not a point on secp256k1', {}, { cause });
  }
  const payment = payments.p2wpkh({ pubkey: publicKey, network: bitcoinNetwork(network) });
  const script = payment.output!;
  return { address: payment.address!, network, kind: 'p2wpkh', script, scriptHex: hex(script) };
}

/** Classifies an output script; undefined for scripts that have no address (OP_RETURN, bare multisig …). */
export function outputKind(script: Uint8Array): OutputKind | undefined {
  const n = script.length;
  if (n === 22 && script[0] === 0x00 && script[1] === 0x14) return 'p2wpkh';
  if (n === 34 && script[0] === 0x00 && script[1] === 0x20) return 'p2wsh';
  if (n === 34 && script[0] === 0x51 && script[1] === 0x20) return 'p2tr';
  if (n === 25 && script[0] === 0x76 && script[1] === 0xa9 && script[2] === 0x14 && script[23] === 0x88 && script[24] === 0xac) return 'p2pkh';
  if (n === 23 && script[0] === 0xa9 && script[1] === 0x14 && script[22] === 0x87) return 'p2sh';
  // BIP-141 witness program: version opcode (OP_0, OP_1..OP_16), then a 2..40-byte push.
  const version = script[0];
  if (n >= 4 && n <= 42 && version !== undefined && (version === 0x00 || (version >= 0x51 && version <= 0x60)) && script[1] === n - 2) {
    return 'witness-unknown';
  }
  return undefined;
}

/**
 * Decodes `text` as an address of `network` and returns its output script. An address that is
 * valid on another known network raises ADDRESS_WRONG_NETWORK; anything else ADDRESS_INVALID.
 * Witness versions 1..16 decode as BIP-350 says (kind 'witness-unknown' unless P2TR); whether to
 * pay to them is the builder's policy, not the decoder's.
 */
export function decodeAddress(text: string, network: BitcoinNetworkName): DecodedAddress {
  if (typeof text !== 'string' || text.length === 0 || text.length > 90) {
    throw new ChainError('ADDRESS_INVALID', 'address must be a string of 1..90 characters', { network });
  }
  const decoded = tryDecode(text, network);
  if (decoded) {
    const kind = outputKind(decoded.script);
    if (!kind) throw new ChainError('ADDRESS_UNSUPPORTED', 'address decodes to a script we cannot pay to', { network });
    return { address: decoded.canonical, network, kind, script: decoded.script, scriptHex: hex(decoded.script) };
  }
  for (const other of Object.keys(BITCOIN_NETWORKS) as BitcoinNetworkName[]) {
    if (other === network) continue;
    // testnet and Core regtest share base58 prefixes: only call it "wrong network" when the
    // address does not also decode on the requested one (checked above).
    if (tryDecode(text, other)) {
      throw new ChainError('ADDRESS_WRONG_NETWORK', `address belongs to ${other}, not ${network}`, { network, addressNetwork: other });
    }
  }
  throw new ChainError('ADDRESS_INVALID', 'not a valid bitcoin address', { network });
}

function tryDecode(text: string, networkName: BitcoinNetworkName): { script: Uint8Array; canonical: string } | undefined {
  const network = bitcoinNetwork(networkName);
  if (text.toLowerCase().startsWith(`${network.bech32}1`)) {
    let result: bitcoinAddress.Bech32Result;
    try {
      result = bitcoinAddress.fromBech32(text); // checks bech32 for v0, bech32m for v1+, case, padding
    } catch {
      return undefined;
    }
    const { version, data } = result;
    if (result.prefix !== network.bech32 || version > 16 || data.length < 2 || data.length > 40) return undefined;
    if (version === 0 && data.length !== 20 && data.length !== 32) return undefined;
    const script = Uint8Array.from([version === 0 ? 0x00 : 0x50 + version, data.length, ...data]);
    return { script, canonical: text.toLowerCase() };
  }
  let base58: bitcoinAddress.Base58CheckResult;
  try {
    base58 = bitcoinAddress.fromBase58Check(text);
  } catch {
    return undefined;
  }
  if (base58.hash.length !== 20) return undefined;
  if (base58.version === network.pubKeyHash) {
    return { script: Uint8Array.from([0x76, 0xa9, 0x14, ...base58.hash, 0x88, 0xac]), canonical: text };
  }
  if (base58.version === network.scriptHash) {
    return { script: Uint8Array.from([0xa9, 0x14, ...base58.hash, 0x87]), canonical: text };
  }
  return undefined;
}

/** The address of an output script on `network`, or undefined when the script has none. */
export function scriptToAddress(script: Uint8Array, network: BitcoinNetworkName): string | undefined {
  const kind = outputKind(script);
  if (!kind) return undefined;
  const params = bitcoinNetwork(network);
  if (kind === 'p2pkh') return bitcoinAddress.toBase58Check(script.subarray(3, 23), params.pubKeyHash);
  if (kind === 'p2sh') return bitcoinAddress.toBase58Check(script.subarray(2, 22), params.scriptHash);
  const version = script[0] === 0x00 ? 0 : script[0]! - 0x50;
  return bitcoinAddress.toBech32(script.subarray(2), version, params.bech32);
}

export function toHex(bytes: Uint8Array): string {
  return hex(bytes);
}
