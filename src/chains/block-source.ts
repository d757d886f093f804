// The per-chain raw material for deposit scanning. A scanner (cursor, confirmations, reorg
// rollback, crediting) is built on top of this elsewhere; everything here is read-only.
import type { ChainName } from './capabilities.ts';

/**
 * One incoming transfer to a watched address, as found in one block.
 * Unique key on a chain: (txid, vout) for UTXO outputs, (txid, logIndex) for ERC-20 logs,
 * (txid) for a native ETH value transfer; `depositKey()` renders it.
 */
export interface DepositCandidate {
  readonly chain: ChainName;
  readonly kind: 'utxo-output' | 'native-transfer' | 'token-transfer';
  readonly txid: string;
  /** Bitcoin output index. */
  readonly vout?: number;
  /** Ethereum log index within the block (ERC-20 Transfer). */
  readonly logIndex?: number;
  /** Receiving address, canonical form (bech32 lower case / EIP-55). */
  readonly address: string;
  /** Whatever the watch set mapped the address to (wallet id, …). */
  readonly owner: string;
  /** Asset code; null for an ERC-20 contract that is not on the allow-list (DEP-07 quarantine). */
  readonly asset: string | null;
  /** Base units (satoshi, wei, token units). */
  readonly amount: bigint;
  /** ERC-20 contract (EIP-55) for token transfers. */
  readonly tokenContract?: string;
  /** Sender, where the chain has one (Ethereum); Bitcoin inputs need a prevout lookup and are not resolved here. */
  readonly from?: string;
}

export interface NormalizedBlock {
  readonly chain: ChainName;
  readonly height: number;
  readonly hash: string;
  readonly parentHash: string;
  /** Seconds since the epoch, from the block header. */
  readonly timestamp: number;
  readonly deposits: readonly DepositCandidate[];
}

export interface BlockSource {
  readonly chain: ChainName;
  /** Height and hash of the current best block. */
  getTip(): Promise<{ height: number; hash: string }>;
  /** Hash of the block at `height` on the current best chain; undefined above the tip. */
  getBlockHash(height: number): Promise<string | undefined>;
  /** The block at `height` on the current best chain, with deposits to the source's watch set. */
  getBlock(height: number): Promise<NormalizedBlock>;
}

export function depositKey(d: DepositCandidate): string {
  if (d.kind === 'utxo-output') return `${d.txid}:${d.vout}`;
  if (d.kind === 'token-transfer') return `${d.txid}:log${d.logIndex}`;
  return `${d.txid}:value`;
}
