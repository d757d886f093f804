// PSBT construction from P2WPKH UTXOs: deterministic largest-first coin selection with a named
// input limit, vsize-based fees in sat/vB, dust-aware change. Pure: no keys, no I/O. The result
// is unsigned; the signer parses it again before signing (STYLE 7).
import { Psbt } from 'bitcoinjs-lib';
import { ChainError } from '../errors.ts';
import { decodeAddress, outputKind } from './address.ts';
import { bitcoinNetwork, type BitcoinNetworkName } from './networks.ts';
import { assertFeeRate, dustThreshold, feeForVsize, p2wpkhSpendVsize } from './fees.ts';

/** Most inputs one withdrawal may spend; more means consolidate first. */
export const MAX_INPUTS_PER_TX = 250;
/** Most recipient outputs one transaction may pay (change comes on top). */
export const MAX_OUTPUTS_PER_TX = 2_500;
/** Largest UTXO set a single selection looks at. */
export const MAX_CANDIDATE_UTXOS = 100_000;
/** 21 million BTC in satoshis. */
export const MAX_MONEY_SAT = 2_100_000_000_000_000n;
/** nSequence that signals replaceability (BIP-125) and allows nLockTime. */
export const SEQUENCE_RBF = 0xfffffffd;

export interface Utxo {
  /** Funding transaction id, display (big-endian) hex. */
  readonly txid: string;
  readonly vout: number;
  readonly value: bigint;
  /** Output script of the UTXO; must be P2WPKH. */
  readonly script: Uint8Array;
}

export interface PaymentOutput {
  readonly address: string;
  readonly value: bigint;
}

export interface BuildPsbtRequest {
  readonly network: BitcoinNetworkName;
  readonly utxos: readonly Utxo[];
  readonly outputs: readonly PaymentOutput[];
  readonly changeAddress: string;
  readonly feeRateSatPerVbyte: bigint;
  /** Refuse to build when the fee would exceed this; required, so nobody forgets a cap. */
  readonly feeMaxSat: bigint;
  readonly maxInputs?: number;
  readonly locktime?: number;
  /**
   * Spend every UTXO given, no selection: a replacement (BIP-125) must conflict with the
   * transaction it replaces on all of its inputs, so that at most one of them can ever confirm.
   */
  readonly spendAll?: boolean;
}

export interface CoinSelection {
  readonly inputs: readonly Utxo[];
  readonly fee: bigint;
  /** 0n when the remainder was dust and went to the fee. */
  readonly change: bigint;
  /** Estimated vsize (worst-case 72-byte signatures). */
  readonly vsize: number;
}

export interface BuiltPsbt extends CoinSelection {
  readonly psbt: Psbt;
  readonly psbtBase64: string;
  /** Index of the change output, or -1 without change. */
  readonly changeIndex: number;
}

function assertAmount(value: bigint, field: string): void {
  if (typeof value !== 'bigint' || value <= 0n || value > MAX_MONEY_SAT) {
    throw new ChainError('AMOUNT_INVALID', `${field} must be a bigint of 1..${MAX_MONEY_SAT} satoshi`, { field });
  }
}

/** Deterministic order: value descending, then txid, then vout. */
export function compareUtxosLargestFirst(a: Utxo, b: Utxo): number {
  if (a.value !== b.value) return a.value > b.value ? -1 : 1;
  if (a.txid !== b.txid) return a.txid < b.txid ? -1 : 1;
  return a.vout - b.vout;
}

/**
 * Largest-first selection. Adds the largest coins until they pay the outputs plus the fee for a
 * transaction with change; if the change would be dust it is dropped and goes to the fee.
 */
export function selectCoins(request: {
  utxos: readonly Utxo[];
  outputScriptLengths: readonly number[];
  amount: bigint;
  changeScriptLength: number;
  feeRateSatPerVbyte: bigint;
  maxInputs?: number;
  spendAll?: boolean;
}): CoinSelection {
  const maxInputs = request.maxInputs ?? MAX_INPUTS_PER_TX;
  if (!Number.isSafeInteger(maxInputs) || maxInputs < 1 || maxInputs > MAX_INPUTS_PER_TX) {
    throw new RangeError(`maxInputs must be 1..${MAX_INPUTS_PER_TX}`);
  }
  assertFeeRate(request.feeRateSatPerVbyte);
  if (request.utxos.length > MAX_CANDIDATE_UTXOS) throw new RangeError(`at most ${MAX_CANDIDATE_UTXOS} candidate UTXOs`);
  const changeDust = dustThreshold(request.changeScriptLength, true);
  const sorted = [...request.utxos].sort(compareUtxosLargestFirst);
  if (request.spendAll && sorted.length > maxInputs) {
    throw new ChainError('TOO_MANY_INPUTS', `spending all ${sorted.length} UTXOs needs more than ${maxInputs} inputs`, { maxInputs });
  }
  const selected: Utxo[] = [];
  let total = 0n;
  for (const [i, utxo] of sorted.entries()) {
    if (selected.length === maxInputs) break;
    selected.push(utxo);
    total += utxo.value;
    if (request.spendAll && i < sorted.length - 1) continue;
    const vsizeWithChange = p2wpkhSpendVsize(selected.length, [...request.outputScriptLengths, request.changeScriptLength]);
    const feeWithChange = feeForVsize(vsizeWithChange, request.feeRateSatPerVbyte);
    const change = total - request.amount - feeWithChange;
    if (change >= changeDust) {
      return { inputs: selected, fee: feeWithChange, change, vsize: vsizeWithChange };
    }
    const vsizeNoChange = p2wpkhSpendVsize(selected.length, request.outputScriptLengths);
    const feeNoChange = feeForVsize(vsizeNoChange, request.feeRateSatPerVbyte);
    if (total >= request.amount + feeNoChange) {
      // The remainder is below dust: it becomes fee rather than an unspendable output.
      return { inputs: selected, fee: total - request.amount, change: 0n, vsize: vsizeNoChange };
    }
  }
  const available = sorted.slice(0, maxInputs).reduce((sum, u) => sum + u.value, 0n);
  if (sorted.length > maxInputs && sorted.reduce((sum, u) => sum + u.value, 0n) >= request.amount) {
    throw new ChainError('TOO_MANY_INPUTS', `paying this needs more than ${maxInputs} inputs; consolidate first`, { maxInputs, available: String(available) });
  }
  throw new ChainError('INSUFFICIENT_FUNDS', 'UTXOs do not cover the amount plus fee', { amount: String(request.amount), available: String(available) });
}

/** Builds an unsigned PSBT (version 2, RBF sequences, witnessUtxo on every input). */
export function buildPsbt(request: BuildPsbtRequest): BuiltPsbt {
  const network = bitcoinNetwork(request.network);
  if (request.outputs.length === 0 || request.outputs.length > MAX_OUTPUTS_PER_TX) {
    throw new ChainError('TX_INVALID', `a transaction pays 1..${MAX_OUTPUTS_PER_TX} outputs`, { outputs: request.outputs.length });
  }
  assertAmount(request.feeMaxSat, 'feeMaxSat');
  const outputs = request.outputs.map((o, i) => {
    assertAmount(o.value, `outputs[${i}].value`);
    const decoded = decodeAddress(o.address, request.network);
    if (decoded.kind === 'witness-unknown') {
      // BIP-350: valid, but no soft fork defines these yet; coins sent there may be lost.
      throw new ChainError('ADDRESS_UNSUPPORTED', `outputs[${i}] pays an undefined segwit version`, { address: decoded.address });
    }
    const dust = dustThreshold(decoded.script.length, decoded.kind !== 'p2pkh' && decoded.kind !== 'p2sh');
    if (o.value < dust) throw new ChainError('AMOUNT_INVALID', `outputs[${i}] is below the dust threshold of ${dust} sat`, { dust: String(dust) });
    return { script: decoded.script, value: o.value };
  });
  const amount = outputs.reduce((sum, o) => sum + o.value, 0n);
  assertAmount(amount, 'total');
  const change = decodeAddress(request.changeAddress, request.network);
  if (change.kind !== 'p2wpkh') throw new ChainError('ADDRESS_UNSUPPORTED', 'change must go to a P2WPKH address', { kind: change.kind });
  const seen = new Set<string>();
  for (const utxo of request.utxos) {
    if (outputKind(utxo.script) !== 'p2wpkh') throw new ChainError('ADDRESS_UNSUPPORTED', 'only P2WPKH UTXOs can be spent', { txid: utxo.txid, vout: utxo.vout });
    if (!/^[0-9a-f]{64}$/.test(utxo.txid) || !Number.isSafeInteger(utxo.vout) || utxo.vout < 0) {
      throw new ChainError('TX_INVALID', 'UTXO outpoint is malformed', { txid: utxo.txid, vout: utxo.vout });
    }
    assertAmount(utxo.value, 'utxo.value');
    const key = `${utxo.txid}:${utxo.vout}`;
    if (seen.has(key)) throw new ChainError('TX_INVALID', 'the same UTXO is listed twice', { outpoint: key });
    seen.add(key);
  }
  const selection = selectCoins({
    utxos: request.utxos,
    outputScriptLengths: outputs.map((o) => o.script.length),
    amount,
    changeScriptLength: change.script.length,
    feeRateSatPerVbyte: request.feeRateSatPerVbyte,
    maxInputs: request.maxInputs,
    spendAll: request.spendAll,
  });
  if (selection.fee > request.feeMaxSat) {
    throw new ChainError('FEE_TOO_HIGH', `fee ${selection.fee} sat exceeds the cap of ${request.feeMaxSat} sat`, { fee: String(selection.fee), feeMaxSat: String(request.feeMaxSat) });
  }
  const psbt = new Psbt({ network });
  psbt.setVersion(2);
  psbt.setLocktime(request.locktime ?? 0);
  for (const utxo of selection.inputs) {
    psbt.addInput({
      hash: utxo.txid, // display hex; bitcoinjs reverses it
      index: utxo.vout,
      sequence: SEQUENCE_RBF,
      witnessUtxo: { script: utxo.script, value: utxo.value },
    });
  }
  for (const o of outputs) psbt.addOutput({ script: o.script, value: o.value });
  let changeIndex = -1;
  if (selection.change > 0n) {
    changeIndex = outputs.length;
    psbt.addOutput({ script: change.script, value: selection.change });
  }
  return { ...selection, psbt, psbtBase64: psbt.toBase64(), changeIndex };
}

