// Size and fee math for transactions that spend P2WPKH outputs. Weights follow BIP-141
// (weight = 4 × non-witness bytes + witness bytes; vsize = ceil(weight / 4)). Fee rates are
// integers in sat/vB; amounts are bigint satoshis. Pure.
import { ChainError } from '../errors.ts';

/** Non-witness part of a P2WPKH input: outpoint 36 + empty scriptSig length 1 + sequence 4. */
const P2WPKH_INPUT_BASE_BYTES = 41;
/** Witness of a P2WPKH input, worst case: item count 1 + (1 + 72-byte DER sig with sighash) + (1 + 33-byte key). */
const P2WPKH_INPUT_WITNESS_BYTES = 108;
/** version 4 + locktime 4. */
const TX_FIXED_BYTES = 8;
/** segwit marker + flag, witness bytes. */
const SEGWIT_MARKER_WEIGHT = 2;

/** Bitcoin Core's default -dustrelayfee: 3,000 sat/kvB. */
export const DUST_RELAY_FEE_SAT_PER_KVB = 3000n;
/** Largest fee rate we will ever build with; anything above is a bug or an attack. */
export const FEE_RATE_MAX_SAT_PER_VBYTE = 2_000n;
/** Bitcoin Core's default minimum relay fee rate (1,000 sat/kvB). */
export const FEE_RATE_MIN_SAT_PER_VBYTE = 1n;

export function varIntSize(n: number): number {
  if (n < 0xfd) return 1;
  if (n <= 0xffff) return 3;
  if (n <= 0xffffffff) return 5;
  return 9;
}

/** Serialized size of an output with this script: value 8 + script length varint + script. */
export function outputBytes(scriptLength: number): number {
  return 8 + varIntSize(scriptLength) + scriptLength;
}

/** Weight of a transaction spending `inputCount` P2WPKH inputs to outputs with these script lengths. */
export function p2wpkhSpendWeight(inputCount: number, outputScriptLengths: readonly number[]): number {
  if (!Number.isSafeInteger(inputCount) || inputCount < 1) throw new RangeError('inputCount must be a positive integer');
  const base = TX_FIXED_BYTES + varIntSize(inputCount) + inputCount * P2WPKH_INPUT_BASE_BYTES
    + varIntSize(outputScriptLengths.length) + outputScriptLengths.reduce((sum, len) => sum + outputBytes(len), 0);
  return base * 4 + SEGWIT_MARKER_WEIGHT + inputCount * P2WPKH_INPUT_WITNESS_BYTES;
}

export function vsizeFromWeight(weight: number): number {
  return Math.ceil(weight / 4);
}

export function p2wpkhSpendVsize(inputCount: number, outputScriptLengths: readonly number[]): number {
  return vsizeFromWeight(p2wpkhSpendWeight(inputCount, outputScriptLengths));
}

export function assertFeeRate(feeRateSatPerVbyte: bigint): void {
  if (typeof feeRateSatPerVbyte !== 'bigint' || feeRateSatPerVbyte < FEE_RATE_MIN_SAT_PER_VBYTE || feeRateSatPerVbyte > FEE_RATE_MAX_SAT_PER_VBYTE) {
    throw new ChainError('FEE_RATE_INVALID', `fee rate must be ${FEE_RATE_MIN_SAT_PER_VBYTE}..${FEE_RATE_MAX_SAT_PER_VBYTE} sat/vB`, { feeRateSatPerVbyte: String(feeRateSatPerVbyte) });
  }
}

export function feeForVsize(vsize: number, feeRateSatPerVbyte: bigint): bigint {
  return BigInt(vsize) * feeRateSatPerVbyte;
}

/**
 * Bitcoin Core's GetDustThreshold: the value below which spending an output costs more than it
 * is worth at the dust relay fee (294 sat for P2WPKH, 546 for P2PKH at 3 sat/vB).
 */
export function dustThreshold(scriptLength: number, isWitnessProgram: boolean, dustRelayFeeSatPerKvb = DUST_RELAY_FEE_SAT_PER_KVB): bigint {
  // Spending input: outpoint 32+4, scriptSig length 1, sequence 4, plus the signature data
  // (107 bytes, discounted to 107/4 for witness programs, integer division as in Core).
  const spendBytes = 32 + 4 + 1 + (isWitnessProgram ? Math.floor(107 / 4) : 107) + 4;
  return (BigInt(outputBytes(scriptLength) + spendBytes) * dustRelayFeeSatPerKvb) / 1000n;
}

/**
 * Converts a BTC/kvB decimal as Bitcoin Core's estimatesmartfee returns it (a JSON number such
 * as 0.00012 or 1e-05) to sat/vB, rounding up. Works on the decimal text, never on floats.
 */
export function btcPerKvbToSatPerVbyte(feeRate: number | string): bigint {
  const sats = btcDecimalToSats(feeRate); // sat per kvB
  return (sats + 999n) / 1000n;
}

/** "0.00012" / 1e-5 / "12.5" → satoshis; rejects more than 8 decimals and negatives. */
export function btcDecimalToSats(value: number | string): bigint {
  let text = typeof value === 'number' ? String(value) : value;
  const exp = /^(\d+)(?:\.(\d+))?e([+-]\d+)$/i.exec(text);
  if (exp) text = shiftDecimal(exp[1]!, exp[2] ?? '', Number.parseInt(exp[3]!, 10));
  const match = /^(\d+)(?:\.(\d{1,8}))?$/.exec(text);
  if (!match) throw new ChainError('AMOUNT_INVALID', 'not a BTC amount with at most 8 decimals', { value: String(value) });
  return BigInt(match[1]! + (match[2] ?? '').padEnd(8, '0'));
}

function shiftDecimal(intPart: string, fraction: string, exponent: number): string {
  const digits = intPart + fraction;
  const point = intPart.length + exponent;
  if (point <= 0) return `0.${'0'.repeat(-point)}${digits}`.replace(/0+$/, '').replace(/\.$/, '');
  if (point >= digits.length) return digits + '0'.repeat(point - digits.length);
  return `${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** Bitcoin Core's default incremental relay fee: what a replacement pays on top, per vbyte. */
export const INCREMENTAL_RELAY_SAT_PER_VBYTE = 1n;

/**
 * The fee rate for a BIP-125 replacement of a transaction that paid `previousFeeSat` at `vsize`:
 * at least 25 % and at least the incremental relay fee above the previous rate (rules 3, 4 and 6
 * then hold for a replacement of the same size), and at least what the node now estimates.
 * Undefined when that is above `capSatPerVbyte`: the transaction cannot be bumped within policy.
 */
export function replacementFeeRate(previousFeeSat: bigint, vsize: number, estimateSatPerVbyte: bigint, capSatPerVbyte: bigint): bigint | undefined {
  if (!Number.isSafeInteger(vsize) || vsize <= 0) throw new RangeError('vsize must be a positive integer');
  const size = BigInt(vsize);
  const previousRate = (previousFeeSat + size - 1n) / size;
  const quarter = previousRate / 4n;
  let rate = previousRate + (quarter > INCREMENTAL_RELAY_SAT_PER_VBYTE ? quarter : INCREMENTAL_RELAY_SAT_PER_VBYTE);
  if (estimateSatPerVbyte > rate) rate = estimateSatPerVbyte;
  return rate > capSatPerVbyte ? undefined : rate;
}
