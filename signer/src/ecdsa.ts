// secp256k1 helpers around the HSM's raw signatures: low-S, recovery id, verification.
// tiny-secp256k1 (wasm) verifies about 6x faster than pure JS, which matters for throughput.
import * as ecc from 'tiny-secp256k1';

const CURVE_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = CURVE_N >> 1n;

function toBigint(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);
}

function to32(value: bigint): Buffer {
  return Buffer.from(value.toString(16).padStart(64, '0'), 'hex');
}

export interface LowSSignature {
  r: bigint;
  s: bigint;
  /** 64 bytes r||s with s <= n/2. */
  compact: Uint8Array;
}

export function normaliseLowS(raw: Uint8Array): LowSSignature {
  if (raw.length !== 64) throw new Error(`HSM returned a ${raw.length}-byte ECDSA signature, expected 64`);
  const r = toBigint(raw.subarray(0, 32));
  let s = toBigint(raw.subarray(32, 64));
  if (r <= 0n || r >= CURVE_N || s <= 0n || s >= CURVE_N) throw new Error('HSM returned an out-of-range signature');
  if (s > HALF_N) s = CURVE_N - s;
  return { r, s, compact: Buffer.concat([to32(r), to32(s)]) };
}

export function compressPublicKey(uncompressed: Uint8Array): Uint8Array {
  const compressed = ecc.pointCompress(uncompressed, true);
  return compressed;
}

/** Strict verification (low-S required) against the key's public point. */
export function verifyLowS(digest: Uint8Array, compact: Uint8Array, publicKey: Uint8Array): boolean {
  return ecc.verify(digest, publicKey, compact, true);
}

/** The recovery id (Ethereum y-parity) that recovers `publicKey`; throws if neither does. */
export function recoveryId(digest: Uint8Array, compact: Uint8Array, publicKey: Uint8Array): 0 | 1 {
  const expected = Buffer.from(ecc.pointCompress(publicKey, false));
  for (const candidate of [0, 1] as const) {
    const recovered = ecc.recover(digest, compact, candidate, false);
    if (recovered && expected.equals(Buffer.from(recovered))) return candidate;
  }
  throw new Error('signature does not recover to the key: refusing to release it');
}

/** DER encoding (BIP-66) of a low-S signature, without sighash byte. */
export function derEncode(r: bigint, s: bigint): Buffer {
  const encodeInt = (value: bigint): Buffer => {
    let bytes = to32(value);
    let start = 0;
    while (start < 31 && bytes[start] === 0) start += 1;
    bytes = bytes.subarray(start);
    if ((bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
  };
  const body = Buffer.concat([encodeInt(r), encodeInt(s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}
