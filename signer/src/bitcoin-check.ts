// Rebuild the meaning of a PSBT from its bytes and diff it against the approved intent (STYLE 7).
// Addresses are compared as output scripts for the intent's network; the fee is computed from the
// witness UTXOs. BIP-143 commits each input's signature to that input's own value only, so a lie
// about one input still yields valid signatures for the others: the replay log keeps the value
// and script each outpoint was first signed with and refuses any other (replay-log.ts).
import * as bitcoin from 'bitcoinjs-lib';
import { refuse } from './errors.ts';
import type { Intent } from './intent.ts';
import type { KeyLookup, SignerKey } from './keys.ts';
import type { Policy } from './policy.ts';
import type { SignedInput } from './replay-log.ts';

export const bcoinRegtest: bitcoin.networks.Network = {
  messagePrefix: '\x18Bitcoin Signed Message:\n', bech32: 'rb', bip32: { public: 0xeab4fa05, private: 0xeab404c7 },
  pubKeyHash: 0x3c, scriptHash: 0x26, wif: 0x5a,
};

export function bitcoinNetwork(name: string): bitcoin.networks.Network {
  switch (name) {
    case 'mainnet': return bitcoin.networks.bitcoin;
    case 'testnet': return bitcoin.networks.testnet;
    case 'regtest': return bitcoin.networks.regtest;
    case 'bcoin-regtest': return bcoinRegtest;
    default: return refuse('NETWORK_NOT_ALLOWED', `unknown bitcoin network ${name}`);
  }
}

export function p2wpkhScript(key: SignerKey): Buffer {
  const output = bitcoin.payments.p2wpkh({ pubkey: key.publicKeyCompressed }).output;
  if (!output) throw new Error('p2wpkh output missing');
  return Buffer.from(output);
}

function scriptOf(address: string, network: bitcoin.networks.Network, what: string): Buffer {
  try {
    return Buffer.from(bitcoin.address.toOutputScript(address, network));
  } catch {
    return refuse('INVALID_ADDRESS', `${what} ${address} is not an address on this network`);
  }
}

/** What the service builds (src/chains/bitcoin/psbt.ts): version 2, nLockTime 0, every nSequence SEQUENCE_RBF. */
export const TX_VERSION = 2;
export const LOCKTIME = 0;
/** BIP-125 replaceable, no BIP-68 relative lock, nLockTime not final-disabled (0xfffffffd). */
export const SEQUENCE_RBF = 0xfffffffd;
/** Bitcoin Core's default -dustrelayfee, sat per 1000 vbytes. */
const DUST_RELAY_FEE_SAT_PER_KVB = 3000n;

function isWitnessProgram(script: Uint8Array): boolean {
  const [version, length] = script;
  if (version === undefined || length === undefined || script.length < 4 || script.length > 42) return false;
  return (version === 0x00 || (version >= 0x51 && version <= 0x60)) && length + 2 === script.length;
}

/**
 * Bitcoin Core's GetDustThreshold: below it an output costs more to spend than it is worth at the
 * dust relay fee (294 sat for P2WPKH, 330 for P2WSH/P2TR, 540 for P2SH, 546 for P2PKH).
 */
export function dustThreshold(script: Uint8Array): bigint {
  const outputSize = 8 + varIntSize(script.length) + script.length;
  const spendSize = 32 + 4 + 1 + (isWitnessProgram(script) ? Math.floor(107 / 4) : 107) + 4;
  return (BigInt(outputSize + spendSize) * DUST_RELAY_FEE_SAT_PER_KVB) / 1000n;
}

function varIntSize(n: number): number {
  return n < 0xfd ? 1 : n <= 0xffff ? 3 : 5;
}

/** Upper bound of the signed vsize: every input is P2WPKH with a 72-byte DER signature. */
function estimateVsize(psbt: bitcoin.Psbt): bigint {
  const inputs = psbt.txInputs.length;
  let base = 4 + varIntSize(inputs) + inputs * 41 + varIntSize(psbt.txOutputs.length) + 4;
  for (const output of psbt.txOutputs) base += 8 + varIntSize(output.script.length) + output.script.length;
  const witness = 2 + inputs * (1 + 1 + 73 + 1 + 33);
  return BigInt(Math.ceil((base * 4 + witness) / 4));
}

/**
 * A PSBT may carry the full previous transaction as well as the witnessUtxo. It must be the
 * transaction the outpoint names, and its output there must be the witnessUtxo exactly: bitcoinjs
 * takes the value it signs from it, the fee check takes it from witnessUtxo.
 */
function checkNonWitnessUtxo(index: number, bytes: Uint8Array, txInput: { hash: Uint8Array; index: number }, witnessUtxo: { script: Uint8Array; value: bigint }): void {
  let previous: bitcoin.Transaction;
  try {
    previous = bitcoin.Transaction.fromBuffer(bytes);
  } catch {
    return refuse('INPUT_UTXO_MISMATCH', `input ${index}: nonWitnessUtxo is not a transaction`);
  }
  if (!Buffer.from(previous.getHash()).equals(Buffer.from(txInput.hash))) {
    refuse('INPUT_UTXO_MISMATCH', `input ${index}: nonWitnessUtxo is transaction ${previous.getId()}, not the one its outpoint names`);
  }
  const output = previous.outs[txInput.index];
  if (!output) refuse('INPUT_UTXO_MISMATCH', `input ${index}: nonWitnessUtxo has no output ${txInput.index}`);
  if (BigInt(output.value) !== BigInt(witnessUtxo.value) || !Buffer.from(output.script).equals(Buffer.from(witnessUtxo.script))) {
    refuse('INPUT_UTXO_MISMATCH', `input ${index}: witnessUtxo (${witnessUtxo.value} sat) is not output ${txInput.index} of its nonWitnessUtxo (${output.value} sat)`);
  }
}

export interface BitcoinPlan {
  psbt: bitcoin.Psbt;
  outpoints: string[];
  /** Value (sat, decimal) and script (hex) of every input as the PSBT declares it, for the replay log. */
  inputs: SignedInput[];
  /** inputKeys[i] is the listed source key whose P2WPKH script input i spends: the key that signs it. */
  inputKeys: SignerKey[];
  feeSat: bigint;
  vsize: bigint;
}

/**
 * `source` is the intent's primary key; `sources` every key the intent lists (`sourceKeyIds`, or just
 * the primary), already checked by the caller to exist and share the primary's client and tier.
 */
export function checkBitcoin(options: { psbtBase64: string; intent: Intent; source: SignerKey; sources: SignerKey[]; keys: KeyLookup; policy: Policy }): BitcoinPlan {
  const { intent, source, sources, keys, policy } = options;
  // Fail closed if a caller ever skips the owner/tier check of the listed keys.
  for (const key of sources) {
    if (key.clientId !== source.clientId) refuse('SOURCE_KEY_FOREIGN', `key ${key.id} is not a wallet of client ${source.clientId}`);
    if (key.tier !== source.tier) refuse('SOURCE_KEY_TIER_MISMATCH', `key ${key.id} is not in the ${source.tier} token`);
  }
  if (intent.asset !== 'BTC') refuse('ASSET_MISMATCH', `a bitcoin transaction moves BTC, the intent says ${intent.asset}`);
  if (intent.tokenContract !== undefined) refuse('TOKEN_CONTRACT_MISMATCH', 'a bitcoin intent has no token contract');
  if (!policy.document.bitcoin.networks.includes(intent.network as 'mainnet')) refuse('NETWORK_NOT_ALLOWED', `network ${intent.network} is not allowed by the signer policy`);
  const network = bitcoinNetwork(intent.network);

  let psbt: bitcoin.Psbt;
  try {
    psbt = bitcoin.Psbt.fromBase64(options.psbtBase64, { network });
  } catch (error) {
    return refuse('MALFORMED_PSBT', `the PSBT does not parse: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { maxInputs, maxOutputs, maxFeeRateSatPerVbyte } = policy.document.bitcoin;
  if (psbt.txInputs.length === 0 || psbt.txInputs.length > maxInputs) refuse('MALFORMED_PSBT', `the PSBT has ${psbt.txInputs.length} inputs (1..${maxInputs})`);
  if (psbt.txOutputs.length === 0 || psbt.txOutputs.length > maxOutputs) refuse('MALFORMED_PSBT', `the PSBT has ${psbt.txOutputs.length} outputs (1..${maxOutputs})`);
  // Fields the intent does not name are signed only as the service builds them: a far nLockTime or a
  // relative lock would hold the coins (and the client's funds) hostage, another version is nonstandard.
  if (psbt.version !== TX_VERSION) refuse('TX_VERSION_NOT_ALLOWED', `transaction version ${psbt.version}; only version ${TX_VERSION} is signed`);
  if (psbt.locktime !== LOCKTIME) refuse('LOCKTIME_NOT_ALLOWED', `nLockTime ${psbt.locktime}; only ${LOCKTIME} is signed`);

  // Inputs: every one spends the P2WPKH output of one of the listed source keys, SIGHASH_ALL only.
  const keyOfScript = new Map<string, SignerKey>(sources.map((key) => [p2wpkhScript(key).toString('hex'), key]));
  let inputSum = 0n;
  const outpoints: string[] = [];
  const inputs: SignedInput[] = [];
  const inputKeys: SignerKey[] = [];
  for (const [index, input] of psbt.data.inputs.entries()) {
    const txInput = psbt.txInputs[index];
    if (!txInput) refuse('MALFORMED_PSBT', `input ${index} is missing`);
    if (!input.witnessUtxo) refuse('MALFORMED_PSBT', `input ${index} has no witnessUtxo`);
    // Signatures come from the HSM only: anything already signed or finalised is refused before it is asked.
    if ((input.partialSig?.length ?? 0) > 0 || input.tapKeySig || (input.tapScriptSig?.length ?? 0) > 0 || input.finalScriptWitness || input.finalScriptSig) {
      refuse('PSBT_ALREADY_SIGNED', `input ${index} already carries a signature or a final script`);
    }
    if (input.redeemScript || input.witnessScript) refuse('INPUT_NOT_SOURCE_KEY', `input ${index} is not a plain P2WPKH input`);
    if (input.tapInternalKey || input.tapMerkleRoot || (input.tapLeafScript?.length ?? 0) > 0 || (input.tapBip32Derivation?.length ?? 0) > 0) {
      refuse('INPUT_NOT_SOURCE_KEY', `input ${index} carries taproot fields: it is not a plain P2WPKH input`);
    }
    if (txInput.sequence !== SEQUENCE_RBF) refuse('SEQUENCE_NOT_ALLOWED', `input ${index} has nSequence 0x${(txInput.sequence ?? 0xffffffff).toString(16)}; only 0x${SEQUENCE_RBF.toString(16)} is signed`);
    const inputKey = keyOfScript.get(Buffer.from(input.witnessUtxo.script).toString('hex'));
    if (!inputKey) refuse('INPUT_NOT_SOURCE_KEY', `input ${index} does not spend a wallet of the intent's source key(s)`);
    inputKeys.push(inputKey);
    if (input.sighashType !== undefined && input.sighashType !== bitcoin.Transaction.SIGHASH_ALL) refuse('SIGHASH_NOT_ALLOWED', `input ${index} asks for sighash ${input.sighashType}`);
    const value = BigInt(input.witnessUtxo.value);
    if (value <= 0n) refuse('MALFORMED_PSBT', `input ${index} has a non-positive value`);
    inputSum += value;
    const outpoint = `${Buffer.from(txInput.hash).reverse().toString('hex')}:${txInput.index}`;
    if (outpoints.includes(outpoint)) refuse('MALFORMED_PSBT', `outpoint ${outpoint} is spent twice`);
    if (input.nonWitnessUtxo) checkNonWitnessUtxo(index, input.nonWitnessUtxo, txInput, input.witnessUtxo);
    outpoints.push(outpoint);
    inputs.push({ outpoint, value: value.toString(), script: Buffer.from(input.witnessUtxo.script).toString('hex') });
  }

  // Change: only back to a wallet of the same client (HOT-03).
  let changeScript: Buffer | null = null;
  if (intent.change) {
    changeScript = scriptOf(intent.change.address, network, 'change address');
    const changeKey = intent.change.keyId === undefined ? source : keys(intent.change.keyId);
    if (!changeKey || changeKey.clientId !== intent.clientId || changeKey.clientId !== source.clientId) {
      refuse('CHANGE_NOT_OWN_WALLET', `change address ${intent.change.address} is not a wallet of client ${intent.clientId}`);
    }
    if (!p2wpkhScript(changeKey).equals(changeScript)) refuse('CHANGE_NOT_OWN_WALLET', `change address ${intent.change.address} is not the address of key ${changeKey.id}`);
  }

  // Tier moves stay inside the client and go to the other tier.
  const purpose = intent.purpose ?? 'withdrawal';
  const expected = intent.outputs.map((output, index) => {
    const script = scriptOf(output.address, network, `output ${index}`);
    if (purpose !== 'withdrawal') {
      const target = output.keyId === undefined ? undefined : keys(output.keyId);
      if (!target || target.clientId !== intent.clientId || !p2wpkhScript(target).equals(script)) {
        refuse('CROSS_CLIENT_TRANSFER', `${purpose} output ${index} is not a wallet of client ${intent.clientId}`);
      }
      const wantTier = purpose === 'sweep' ? 'cold' : 'hot';
      if (target.tier !== wantTier) refuse('TIER_MISMATCH', `${purpose} output ${index} must go to a ${wantTier} key`);
    }
    return { script, amount: BigInt(output.amount), matched: false };
  });

  let changeSeen = false;
  const unmatched: { index: number; value: bigint }[] = [];
  const pairs: { index: number; value: bigint; expected: bigint }[] = [];
  let outputSum = 0n;
  for (const [index, output] of psbt.txOutputs.entries()) {
    const script = Buffer.from(output.script);
    const value = BigInt(output.value);
    outputSum += value;
    const want = expected.find((candidate) => !candidate.matched && candidate.script.equals(script) && candidate.amount === value)
      ?? expected.find((candidate) => !candidate.matched && candidate.script.equals(script));
    if (want) {
      want.matched = true;
      pairs.push({ index, value, expected: want.amount });
    } else if (changeScript && changeScript.equals(script)) {
      if (changeSeen) refuse('UNEXPECTED_OUTPUT', `output ${index} is a second change output`);
      changeSeen = true;
    } else {
      unmatched.push({ index, value });
    }
  }
  const missing = expected.filter((candidate) => !candidate.matched);
  const [firstUnmatched] = unmatched;
  if (firstUnmatched && missing.length > 0) refuse('DESTINATION_MISMATCH', `output ${firstUnmatched.index} pays an address the intent does not name`);
  if (firstUnmatched) refuse('UNEXPECTED_OUTPUT', `output ${firstUnmatched.index} is not in the intent`);
  if (missing.length > 0) refuse('MISSING_OUTPUT', `${missing.length} intent output(s) are not paid by the transaction`);
  for (const pair of pairs) {
    if (pair.value !== pair.expected) refuse('AMOUNT_MISMATCH', `output ${pair.index} pays ${pair.value} sat, the intent says ${pair.expected}`, { output: pair.index, actual: pair.value.toString(), expected: pair.expected.toString() });
  }
  // No output the network would not relay or that costs more to spend than it holds, change included.
  for (const [index, output] of psbt.txOutputs.entries()) {
    const dust = dustThreshold(output.script);
    if (BigInt(output.value) < dust) refuse('OUTPUT_BELOW_DUST', `output ${index} pays ${output.value} sat, below the dust limit of ${dust} sat`, { output: index, value: output.value.toString(), dust: dust.toString() });
  }

  const asset = policy.document.assets[intent.asset];
  if (!asset || asset.chain !== 'bitcoin') refuse('ASSET_NOT_ALLOWED', `asset ${intent.asset} is not in the signer policy`);
  const paid = expected.reduce((sum, output) => sum + output.amount, 0n);
  if (paid > BigInt(asset.maxAmountPerTx)) refuse('AMOUNT_ABOVE_POLICY_CAP', `${paid} sat exceeds the per-transaction cap ${asset.maxAmountPerTx}`);

  const feeSat = inputSum - outputSum;
  if (feeSat < 0n) refuse('MALFORMED_PSBT', 'outputs exceed inputs');
  if (feeSat > BigInt(intent.feeCap)) refuse('FEE_ABOVE_CAP', `fee ${feeSat} sat exceeds the intent's cap ${intent.feeCap}`);
  const vsize = estimateVsize(psbt);
  if (feeSat > BigInt(maxFeeRateSatPerVbyte) * vsize) refuse('FEE_RATE_ABOVE_POLICY', `fee ${feeSat} sat for ~${vsize} vbytes exceeds ${maxFeeRateSatPerVbyte} sat/vB`);
  return { psbt, outpoints, inputs, inputKeys, feeSat, vsize };
}
