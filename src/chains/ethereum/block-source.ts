// BlockSource for Ethereum: one block with full transactions, its Transfer logs by block hash,
// and receipts only for the few value transfers to watched accounts.
import type { BlockSource, NormalizedBlock } from '../block-source.ts';
import { ChainError } from '../errors.ts';
import { nativeTransferCandidates, normalizeEthereumBlock, type EthereumWatchSet } from './deposits.ts';
import type { EthereumRpcClient } from './rpc-client.ts';

/** Most receipts fetched for one block; more watched value transfers than this is suspicious. */
export const MAX_RECEIPTS_PER_BLOCK = 5_000;

export class EthereumBlockSource implements BlockSource {
  readonly chain = 'ethereum' as const;

  constructor(
    private readonly rpc: EthereumRpcClient,
    private readonly watchSet: () => EthereumWatchSet,
  ) {}

  async getTip(): Promise<{ height: number; hash: string }> {
    await this.rpc.assertChainId();
    const head = await this.rpc.send<{ number: string; hash: string }>('eth_getBlockByNumber', ['latest', false]);
    return { height: Number(BigInt(head.number)), hash: head.hash.toLowerCase() };
  }

  async getBlockHash(height: number): Promise<string | undefined> {
    assertHeight(height);
    const header = await this.rpc.getBlockHeader(height);
    return header?.hash.toLowerCase();
  }

  async getBlock(height: number): Promise<NormalizedBlock> {
    assertHeight(height);
    await this.rpc.assertChainId();
    const block = await this.rpc.getBlock(height);
    if (!block) throw new ChainError('BLOCK_NOT_FOUND', `no ethereum block at height ${height}`, { height });
    const watch = this.watchSet();
    const logs = await this.rpc.getTransferLogs(block.hash);
    const candidates = nativeTransferCandidates(block, watch);
    if (candidates.length > MAX_RECEIPTS_PER_BLOCK) throw new ChainError('RPC_ERROR', 'too many watched value transfers in one block', { count: candidates.length });
    const failed = new Set<string>();
    for (const hash of candidates) {
      const receipt = await this.rpc.getReceipt(hash);
      if (!receipt) throw new ChainError('RPC_ERROR', 'receipt missing for a mined transaction', { hash });
      if (receipt.blockHash.toLowerCase() !== block.hash.toLowerCase()) {
        throw new ChainError('RPC_ERROR', 'receipt is from another block (reorg during read)', { hash });
      }
      if (BigInt(receipt.status) !== 1n) failed.add(hash);
    }
    return normalizeEthereumBlock(block, logs, watch, failed);
  }
}

function assertHeight(height: number): void {
  if (!Number.isSafeInteger(height) || height < 0) throw new RangeError('height must be a non-negative integer');
}
