// Rebuilds the meaning of a transaction or PSBT from its bytes: outpoints and values in, addresses,
// scripts and values out, fee and vsize. The signer and the withdrawal pipeline diff this against
// the approved intent (STYLE 7). Pure.
import { Psbt, Transaction } from 'bitcoinjs-lib';
import { ChainError } from '../errors.ts';
import { outputKind, scriptToAddress, toHex, type OutputKind } from './address.ts';
import { bitcoinNetwork, type BitcoinNetworkName } from './networks.ts';
import { p2wpkhSpendVsize } from './fees.ts';

export interface ParsedInput {
  readonly txid: string;
  readonly vout: number;
  readonly sequence: number;
  /** Value of the spent output when known (PSBT witnessUtxo or supplied prevouts). */
  readonly value?: bigint;
  readonly script?: string;
}

export interface ParsedOutput {
  readonly vout: number;
  /** undefined for scripts without an address (OP_RETURN …). */
  readonly address?: string;
  readonly kind?: OutputKind;
  readonly scriptHex: string;
  readonly value: bigint;
}

export interface ParsedTransaction {
  readonly txid: string;
  readonly version: number;
  readonly locktime: number;
  readonly inputs: readonly ParsedInput[];
  readonly outputs: readonly ParsedOutput[];
  readonly outputTotal: bigint;
  /** Known only when every input's value is known. */
  readonly inputTotal?: bigint;
  readonly fee?: bigint;
  readonly vsize: number;
  readonly weight: number;
  /** True when vsize is an estimate (unsigned PSBT: worst-case P2WPKH witnesses). */
  readonly vsizeIsEstimate: boolean;
}

/** Display txid (big-endian hex) of an input's outpoint hash (little-endian bytes). */
export function outpointTxid(hash: Uint8Array): string {
  return Buffer.from(hash).reverse().toString('hex');
}

function parseOutputs(tx: Transaction, network: BitcoinNetworkName): ParsedOutput[] {
  return tx.outs.map((out, vout) => ({
    vout,
    address: scriptToAddress(out.script, network),
    kind: outputKind(out.script),
    scriptHex: toHex(out.script),
    value: out.value,
  }));
}

function summarize(
  tx: Transaction, network: BitcoinNetworkName, inputs: ParsedInput[], vsize: number, weight: number, vsizeIsEstimate: boolean,
): ParsedTransaction {
  const outputs = parseOutputs(tx, network);
  const outputTotal = outputs.reduce((sum, o) => sum + o.value, 0n);
  const known = inputs.every((i) => i.value !== undefined);
  const inputTotal = known ? inputs.reduce((sum, i) => sum + i.value!, 0n) : undefined;
  const fee = inputTotal === undefined ? undefined : inputTotal - outputTotal;
  if (fee !== undefined && fee < 0n) throw new ChainError('TX_INVALID', 'outputs exceed inputs', { fee: String(fee) });
  return {
    txid: tx.getId(), version: tx.version, locktime: tx.locktime, inputs, outputs, outputTotal, inputTotal, fee,
    vsize, weight, vsizeIsEstimate,
  };
}

/**
 * Parses a raw transaction. `prevouts` maps "txid:vout" to the spent output's value (and script)
 * so the fee can be computed; the transaction itself does not carry input values.
 */
export function parseTransaction(
  raw: string | Uint8Array,
  network: BitcoinNetworkName,
  prevouts?: ReadonlyMap<string, { value: bigint; script?: Uint8Array }>,
): ParsedTransaction {
  let tx: Transaction;
  try {
    tx = typeof raw === 'string' ? Transaction.fromHex(raw) : Transaction.fromBuffer(raw);
  } catch (cause) {
    throw new ChainError('TX_INVALID', 'bytes are not a bitcoin transaction', {}, { cause });
  }
  bitcoinNetwork(network);
  const inputs = tx.ins.map((input): ParsedInput => {
    const txid = outpointTxid(input.hash);
    const prevout = prevouts?.get(`${txid}:${input.index}`);
    return {
      txid, vout: input.index, sequence: input.sequence, value: prevout?.value,
      script: prevout?.script ? toHex(prevout.script) : undefined,
    };
  });
  return summarize(tx, network, inputs, tx.virtualSize(), tx.weight(), false);
}

/** Parses a PSBT (base64 or hex). Input values come from witnessUtxo; unsigned PSBTs get an estimated vsize. */
export function parsePsbt(encoded: string, network: BitcoinNetworkName): ParsedTransaction {
  let psbt: Psbt;
  try {
    psbt = /^[0-9a-f]+$/i.test(encoded)
      ? Psbt.fromHex(encoded, { network: bitcoinNetwork(network) })
      : Psbt.fromBase64(encoded, { network: bitcoinNetwork(network) });
  } catch (cause) {
    throw new ChainError('TX_INVALID', 'not a valid PSBT', {}, { cause });
  }
  const unsigned = Transaction.fromBuffer(psbt.data.getTransaction());
  const inputs = unsigned.ins.map((input, i): ParsedInput => {
    const witnessUtxo = psbt.data.inputs[i]?.witnessUtxo;
    return {
      txid: outpointTxid(input.hash), vout: input.index, sequence: input.sequence,
      value: witnessUtxo?.value, script: witnessUtxo ? toHex(witnessUtxo.script) : undefined,
    };
  });
  const finalized = psbt.data.inputs.length > 0 && psbt.data.inputs.every((inp) => inp.finalScriptWitness !== undefined || inp.finalScriptSig !== undefined);
  if (finalized) {
    const tx = psbt.extractTransaction(true);
    return summarize(tx, network, inputs, tx.virtualSize(), tx.weight(), false);
  }
  const allP2wpkh = inputs.every((inp) => inp.script !== undefined && inp.script.length === 44 && inp.script.startsWith('0014'));
  if (!allP2wpkh) throw new ChainError('TX_INVALID', 'PSBT inputs must all carry a P2WPKH witnessUtxo', {});
  const vsize = p2wpkhSpendVsize(inputs.length, unsigned.outs.map((o) => o.script.length));
  return summarize(unsigned, network, inputs, vsize, vsize * 4, true);
}
