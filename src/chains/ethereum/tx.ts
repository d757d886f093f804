// EIP-1559 (type 2) transactions: build an ETH or ERC-20 transfer, its unsigned hash, attach an
// external signature (r, s, yParity) from the HSM-backed signer, and parse raw bytes back into
// meaning (including ERC-20 transfer calldata). Plus EIP-1559 fee math. Pure.
import { Signature, Transaction, getAddress, hexlify, isHexString, recoverAddress } from 'ethers';
import { ChainError } from '../errors.ts';
import { parseEthereumAddress } from './address.ts';

/** keccak256("transfer(address,uint256)")[0..4]. */
export const ERC20_TRANSFER_SELECTOR = '0xa9059cbb';
export const ETH_TRANSFER_GAS = 21_000n;
/** Cap on the gas limit we will ever build with (an ERC-20 transfer needs ~35k–65k). */
export const GAS_LIMIT_MAX = 500_000n;
/** Cap on maxFeePerGas: 10,000 gwei. Anything higher is a bug or an attack. */
export const MAX_FEE_PER_GAS_MAX = 10_000n * 10n ** 9n;
const UINT256_MAX = (1n << 256n) - 1n;
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

export interface Eip1559Fees {
  readonly maxFeePerGas: bigint;
  readonly maxPriorityFeePerGas: bigint;
  readonly gasLimit: bigint;
}

export interface EthTransferIntent extends Eip1559Fees {
  readonly chainId: bigint;
  readonly nonce: number;
  readonly to: string;
  readonly valueWei: bigint;
}

export interface Erc20TransferIntent extends Eip1559Fees {
  readonly chainId: bigint;
  readonly nonce: number;
  readonly tokenContract: string;
  readonly to: string;
  readonly amount: bigint;
}

export interface UnsignedEip1559 {
  /** 0x02 ‖ rlp([...]) without signature: what the signer parses. */
  readonly unsignedSerialized: string;
  /** keccak256(unsignedSerialized): what the key signs. */
  readonly unsignedHash: string;
  /** gasLimit × maxFeePerGas: the most this transaction can cost in fees. */
  readonly maxFeeWei: bigint;
}

export interface Erc20Transfer {
  readonly to: string;
  readonly amount: bigint;
}

export interface ParsedEip1559 {
  readonly type: 2;
  readonly chainId: bigint;
  readonly nonce: number;
  readonly to: string | null;
  readonly valueWei: bigint;
  readonly data: string;
  readonly gasLimit: bigint;
  readonly maxFeePerGas: bigint;
  readonly maxPriorityFeePerGas: bigint;
  readonly maxFeeWei: bigint;
  readonly accessListLength: number;
  /** Decoded when `data` is exactly an ERC-20 transfer(address,uint256) call. */
  readonly erc20Transfer?: Erc20Transfer;
  readonly signed: boolean;
  /** Present when signed. */
  readonly from?: string;
  readonly hash?: string;
  readonly unsignedHash: string;
}

function assertUint(value: bigint, field: string, max: bigint, min = 0n): void {
  if (typeof value !== 'bigint' || value < min || value > max) {
    throw new ChainError('AMOUNT_INVALID', `${field} must be a bigint in ${min}..${max}`, { field });
  }
}

function assertFees(fees: Eip1559Fees): void {
  assertUint(fees.gasLimit, 'gasLimit', GAS_LIMIT_MAX, ETH_TRANSFER_GAS);
  assertUint(fees.maxFeePerGas, 'maxFeePerGas', MAX_FEE_PER_GAS_MAX, 1n);
  assertUint(fees.maxPriorityFeePerGas, 'maxPriorityFeePerGas', fees.maxFeePerGas);
}

function assertCommon(chainId: bigint, nonce: number): void {
  assertUint(chainId, 'chainId', (1n << 64n) - 1n, 1n);
  if (!Number.isSafeInteger(nonce) || nonce < 0) throw new ChainError('TX_INVALID', 'nonce must be a non-negative integer', { nonce });
}

function finish(tx: Transaction): UnsignedEip1559 {
  return { unsignedSerialized: tx.unsignedSerialized, unsignedHash: tx.unsignedHash, maxFeeWei: tx.gasLimit * tx.maxFeePerGas! };
}

export function encodeErc20Transfer(to: string, amount: bigint): string {
  const recipient = parseEthereumAddress(to);
  assertUint(amount, 'amount', UINT256_MAX, 1n);
  return ERC20_TRANSFER_SELECTOR + recipient.slice(2).toLowerCase().padStart(64, '0') + amount.toString(16).padStart(64, '0');
}

/** Strict decode: exactly selector + 2 words, upper 12 bytes of the address word zero. */
export function decodeErc20Transfer(data: string): Erc20Transfer | undefined {
  if (typeof data !== 'string' || data.length !== 2 + 8 + 128 || !data.toLowerCase().startsWith(ERC20_TRANSFER_SELECTOR)) return undefined;
  const addressWord = data.slice(10, 74);
  if (!/^0{24}[0-9a-fA-F]{40}$/.test(addressWord)) return undefined;
  const amountWord = data.slice(74);
  if (!/^[0-9a-fA-F]{64}$/.test(amountWord)) return undefined;
  return { to: getAddress(`0x${addressWord.slice(24)}`), amount: BigInt(`0x${amountWord}`) };
}

export function buildEthTransfer(intent: EthTransferIntent): UnsignedEip1559 {
  assertCommon(intent.chainId, intent.nonce);
  assertFees(intent);
  assertUint(intent.valueWei, 'valueWei', UINT256_MAX, 1n);
  const tx = Transaction.from({
    type: 2, chainId: intent.chainId, nonce: intent.nonce, to: parseEthereumAddress(intent.to), value: intent.valueWei, data: '0x',
    gasLimit: intent.gasLimit, maxFeePerGas: intent.maxFeePerGas, maxPriorityFeePerGas: intent.maxPriorityFeePerGas, accessList: [],
  });
  return finish(tx);
}

export function buildErc20Transfer(intent: Erc20TransferIntent): UnsignedEip1559 {
  assertCommon(intent.chainId, intent.nonce);
  assertFees(intent);
  const tx = Transaction.from({
    type: 2, chainId: intent.chainId, nonce: intent.nonce, to: parseEthereumAddress(intent.tokenContract), value: 0n,
    data: encodeErc20Transfer(intent.to, intent.amount),
    gasLimit: intent.gasLimit, maxFeePerGas: intent.maxFeePerGas, maxPriorityFeePerGas: intent.maxPriorityFeePerGas, accessList: [],
  });
  return finish(tx);
}

function decodeType2(raw: string): Transaction {
  if (!isHexString(raw) || !raw.toLowerCase().startsWith('0x02')) {
    throw new ChainError('TX_INVALID', 'expected an EIP-1559 (type 2) transaction, 0x02-prefixed hex');
  }
  try {
    return Transaction.from(raw);
  } catch (cause) {
    throw new ChainError('TX_INVALID', 'bytes are not a valid EIP-1559 transaction', {}, { cause });
  }
}

/** Parses a signed or unsigned type-2 transaction. */
export function parseEip1559(raw: string): ParsedEip1559 {
  const tx = decodeType2(raw);
  const erc20Transfer = decodeErc20Transfer(tx.data);
  return {
    type: 2, chainId: tx.chainId, nonce: tx.nonce, to: tx.to, valueWei: tx.value, data: tx.data, gasLimit: tx.gasLimit,
    maxFeePerGas: tx.maxFeePerGas!, maxPriorityFeePerGas: tx.maxPriorityFeePerGas!, maxFeeWei: tx.gasLimit * tx.maxFeePerGas!,
    accessListLength: tx.accessList?.length ?? 0,
    ...(erc20Transfer ? { erc20Transfer } : {}),
    signed: tx.isSigned(),
    ...(tx.isSigned() ? { from: tx.from!, hash: tx.hash! } : {}),
    unsignedHash: tx.unsignedHash,
  };
}

export interface ExternalSignature {
  readonly r: string | Uint8Array;
  readonly s: string | Uint8Array;
  readonly yParity: 0 | 1;
}

/**
 * Attaches a signature made elsewhere (HSM) to an unsigned type-2 transaction. High-S signatures
 * are refused (normalise first); when `expectedFrom` is given the recovered sender must match.
 */
export function attachSignature(
  unsignedSerialized: string,
  signature: ExternalSignature,
  expectedFrom?: string,
): { raw: string; hash: string; from: string } {
  const tx = decodeType2(unsignedSerialized);
  if (tx.isSigned()) throw new ChainError('TX_INVALID', 'transaction is already signed');
  let sig: Signature;
  let from: string;
  try {
    const r = hexlify(signature.r);
    const s = hexlify(signature.s);
    if (r.length !== 66 || s.length !== 66) throw new TypeError('r and s must be 32 bytes each');
    const sValue = BigInt(s);
    // EIP-2: s must be in the lower half of the curve order; HSMs return high-S about half the time.
    if (sValue === 0n || sValue > SECP256K1_N / 2n) throw new RangeError('s is not low-S');
    if (signature.yParity !== 0 && signature.yParity !== 1) throw new RangeError('yParity must be 0 or 1');
    sig = Signature.from({ r, s, yParity: signature.yParity });
    from = recoverAddress(tx.unsignedHash, sig);
  } catch (cause) {
    throw new ChainError('SIGNATURE_INVALID', 'signature is malformed or not low-S', {}, { cause });
  }
  if (expectedFrom !== undefined && from !== parseEthereumAddress(expectedFrom)) {
    throw new ChainError('SIGNATURE_INVALID', 'signature does not recover to the expected sender', { expectedFrom, recovered: from });
  }
  tx.signature = sig;
  return { raw: tx.serialized, hash: tx.hash!, from };
}

// ----- EIP-1559 fee math -----
const BASE_FEE_MAX_CHANGE_DENOMINATOR = 8n;
const ELASTICITY_MULTIPLIER = 2n;

/** The base fee of the block after `parent` (EIP-1559 specification, integer arithmetic). */
export function nextBaseFee(parent: { baseFeePerGas: bigint; gasUsed: bigint; gasLimit: bigint }): bigint {
  const target = parent.gasLimit / ELASTICITY_MULTIPLIER;
  if (parent.gasUsed === target) return parent.baseFeePerGas;
  if (parent.gasUsed > target) {
    const delta = (parent.baseFeePerGas * (parent.gasUsed - target)) / target / BASE_FEE_MAX_CHANGE_DENOMINATOR;
    return parent.baseFeePerGas + (delta > 1n ? delta : 1n);
  }
  const delta = (parent.baseFeePerGas * (target - parent.gasUsed)) / target / BASE_FEE_MAX_CHANGE_DENOMINATOR;
  return parent.baseFeePerGas - delta;
}

/** What a type-2 transaction pays per gas in a block with this base fee; undefined if it cannot be included. */
export function effectiveGasPrice(baseFeePerGas: bigint, fees: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }): bigint | undefined {
  if (fees.maxFeePerGas < baseFeePerGas) return undefined;
  const tip = fees.maxFeePerGas - baseFeePerGas < fees.maxPriorityFeePerGas ? fees.maxFeePerGas - baseFeePerGas : fees.maxPriorityFeePerGas;
  return baseFeePerGas + tip;
}

/** The usual wallet rule: maxFee = 2 × baseFee + tip, which survives six full blocks of +12.5 %. */
export function suggestFees(baseFeePerGas: bigint, maxPriorityFeePerGas: bigint): { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } {
  return { maxFeePerGas: 2n * baseFeePerGas + maxPriorityFeePerGas, maxPriorityFeePerGas };
}

/**
 * Fees for a same-nonce replacement. Nodes (geth, Hardhat) accept a replacement only when both
 * maxFeePerGas and maxPriorityFeePerGas rise by at least 10 %; this bumps each by 12.5 % + 1 wei,
 * more when the current base fee calls for it, never above `capPerGas`. Undefined when the cap
 * leaves no room for a valid bump.
 */
export function replacementFees(previous: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint },
  market: { baseFeePerGas: bigint; priorityFeePerGas: bigint; capPerGas: bigint }): { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } | undefined {
  const bump = (x: bigint) => x + x / 8n + 1n;
  const max = (a: bigint, b: bigint) => (a > b ? a : b);
  const maxPriorityFeePerGas = max(bump(previous.maxPriorityFeePerGas), market.priorityFeePerGas);
  const maxFeePerGas = max(bump(previous.maxFeePerGas), 2n * market.baseFeePerGas + maxPriorityFeePerGas);
  if (maxFeePerGas > market.capPerGas) {
    // The cap: still a replacement if it leaves both fees 12.5 % up.
    const capped = market.capPerGas;
    if (capped < bump(previous.maxFeePerGas) || capped < maxPriorityFeePerGas) return undefined;
    return { maxFeePerGas: capped, maxPriorityFeePerGas };
  }
  return { maxFeePerGas, maxPriorityFeePerGas };
}
