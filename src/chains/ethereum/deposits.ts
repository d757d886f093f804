// Turns raw JSON-RPC block transactions and logs into deposit candidates for watched addresses:
// ETH value transfers (top-level transactions only) and ERC-20 Transfer logs. Pure: the inputs
// are the JSON shapes eth_getBlockByNumber(…, true) and eth_getLogs return.
import { getAddress, id } from 'ethers';
import { ChainError } from '../errors.ts';
import type { DepositCandidate, NormalizedBlock } from '../block-source.ts';
import { parseEthereumAddress } from './address.ts';

/** keccak256("Transfer(address,address,uint256)"), topic0 of ERC-20 (and ERC-721) transfers. */
export const ERC20_TRANSFER_TOPIC = id('Transfer(address,address,uint256)');
export const MAX_WATCHED_ACCOUNTS = 5_000_000;

export interface RpcTransaction {
  readonly hash: string;
  readonly from: string;
  readonly to: string | null;
  readonly value: string; // hex quantity
  readonly transactionIndex?: string;
}

export interface RpcBlock {
  readonly number: string;
  readonly hash: string;
  readonly parentHash: string;
  readonly timestamp: string;
  readonly transactions: readonly (RpcTransaction | string)[];
}

export interface RpcLog {
  readonly address: string;
  readonly topics: readonly string[];
  readonly data: string;
  readonly logIndex: string;
  readonly transactionHash: string;
  readonly blockHash?: string;
  readonly removed?: boolean;
}

export interface EthereumWatchSet {
  /** Lower-case address → owner. */
  readonly accounts: ReadonlyMap<string, string>;
  /** Lower-case ERC-20 contract → asset code: the allow-list (WAL-05). */
  readonly tokens: ReadonlyMap<string, string>;
  /** Asset code of the native coin. */
  readonly nativeAsset: string;
}

export function createEthereumWatchSet(
  accounts: Iterable<{ address: string; owner: string }>,
  tokens: Iterable<{ contract: string; asset: string }>,
  nativeAsset = 'ETH',
): EthereumWatchSet {
  const accountMap = new Map<string, string>();
  for (const { address, owner } of accounts) {
    const key = parseEthereumAddress(address).toLowerCase();
    const existing = accountMap.get(key);
    if (existing !== undefined && existing !== owner) {
      throw new ChainError('ADDRESS_INVALID', 'address is watched for two owners', { address: getAddress(key) });
    }
    accountMap.set(key, owner);
    if (accountMap.size > MAX_WATCHED_ACCOUNTS) throw new RangeError(`at most ${MAX_WATCHED_ACCOUNTS} watched accounts`);
  }
  const tokenMap = new Map<string, string>();
  for (const { contract, asset } of tokens) tokenMap.set(parseEthereumAddress(contract).toLowerCase(), asset);
  return { accounts: accountMap, tokens: tokenMap, nativeAsset };
}

function quantity(hex: string, field: string): bigint {
  if (typeof hex !== 'string' || !/^0x[0-9a-fA-F]{1,64}$/.test(hex)) throw new ChainError('RPC_ERROR', `${field} is not a hex quantity`, { field });
  return BigInt(hex);
}

function smallQuantity(hex: string, field: string): number {
  const value = quantity(hex, field);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ChainError('RPC_ERROR', `${field} is too large`, { field });
  return Number(value);
}

/**
 * ETH value transfers to watched accounts. Only top-level transactions are visible here: ETH sent
 * by a contract (internal transaction) needs traces and is not found. `failed` holds the hashes
 * whose receipt status was 0; their value did not move.
 */
export function extractNativeDeposits(block: RpcBlock, watch: EthereumWatchSet, failed: ReadonlySet<string> = new Set()): DepositCandidate[] {
  const out: DepositCandidate[] = [];
  for (const tx of block.transactions) {
    if (typeof tx === 'string') throw new ChainError('RPC_ERROR', 'block was fetched without full transactions');
    if (!tx.to) continue;
    const owner = watch.accounts.get(tx.to.toLowerCase());
    if (owner === undefined) continue;
    const value = quantity(tx.value, 'value');
    if (value === 0n || failed.has(tx.hash.toLowerCase())) continue;
    out.push({
      chain: 'ethereum', kind: 'native-transfer', txid: tx.hash.toLowerCase(), address: getAddress(tx.to), owner,
      asset: watch.nativeAsset, amount: value, from: getAddress(tx.from),
    });
  }
  return out;
}

/** Watched-account candidates whose receipt must be checked (status) before they count. */
export function nativeTransferCandidates(block: RpcBlock, watch: EthereumWatchSet): string[] {
  const hashes: string[] = [];
  for (const tx of block.transactions) {
    if (typeof tx === 'string' || !tx.to) continue;
    if (watch.accounts.has(tx.to.toLowerCase()) && quantity(tx.value, 'value') > 0n) hashes.push(tx.hash.toLowerCase());
  }
  return hashes;
}

/**
 * ERC-20 Transfer logs to watched accounts. Contracts not on the allow-list still produce a
 * candidate, with asset null, so the caller can quarantine them (DEP-07). ERC-721 transfers share
 * topic0 but index the token id (4 topics) and are skipped; removed logs are skipped.
 */
export function extractTokenDeposits(logs: readonly RpcLog[], watch: EthereumWatchSet): DepositCandidate[] {
  const out: DepositCandidate[] = [];
  for (const log of logs) {
    if (log.removed) continue;
    if (log.topics.length !== 3 || log.topics[0]?.toLowerCase() !== ERC20_TRANSFER_TOPIC) continue;
    const toTopic = log.topics[2]!;
    if (!/^0x0{24}[0-9a-fA-F]{40}$/.test(toTopic)) continue;
    const to = `0x${toTopic.slice(26).toLowerCase()}`;
    const owner = watch.accounts.get(to);
    if (owner === undefined) continue;
    if (!/^0x[0-9a-fA-F]{64}$/.test(log.data)) continue; // not a uint256 value: not ERC-20
    const fromTopic = log.topics[1]!;
    const contract = log.address.toLowerCase();
    out.push({
      chain: 'ethereum', kind: 'token-transfer', txid: log.transactionHash.toLowerCase(), logIndex: smallQuantity(log.logIndex, 'logIndex'),
      address: getAddress(to), owner, asset: watch.tokens.get(contract) ?? null, amount: BigInt(log.data),
      tokenContract: getAddress(contract), from: getAddress(`0x${fromTopic.slice(26)}`),
    });
  }
  return out;
}

/** A block, its Transfer logs and the set of failed watched transactions → the normalized block. */
export function normalizeEthereumBlock(
  block: RpcBlock, logs: readonly RpcLog[], watch: EthereumWatchSet, failed: ReadonlySet<string> = new Set(),
): NormalizedBlock {
  for (const log of logs) {
    if (log.blockHash && log.blockHash.toLowerCase() !== block.hash.toLowerCase()) {
      throw new ChainError('RPC_ERROR', 'log belongs to another block', { block: block.hash, logBlock: log.blockHash });
    }
  }
  return {
    chain: 'ethereum', height: smallQuantity(block.number, 'number'), hash: block.hash.toLowerCase(),
    parentHash: block.parentHash.toLowerCase(), timestamp: smallQuantity(block.timestamp, 'timestamp'),
    deposits: [...extractNativeDeposits(block, watch, failed), ...extractTokenDeposits(logs, watch)],
  };
}
