// BlockSource for Bitcoin over JSON-RPC: raw blocks parsed and scanned locally, so the same code
// works against bcoin and Bitcoin Core.
import type { BlockSource, NormalizedBlock } from '../block-source.ts';
import { ChainError } from '../errors.ts';
import { normalizeBitcoinBlock, type BitcoinWatchSet } from './block-scan.ts';
import type { BitcoinRpcClient } from './rpc-client.ts';

export class BitcoinBlockSource implements BlockSource {
  readonly chain = 'bitcoin' as const;

  constructor(
    private readonly rpc: BitcoinRpcClient,
    /** A function so the caller can swap in a grown watch set without rebuilding the source. */
    private readonly watchSet: () => BitcoinWatchSet,
  ) {}

  async getTip(): Promise<{ height: number; hash: string }> {
    const hash = await this.rpc.getBestBlockHash();
    const header = await this.rpc.getBlockHeader(hash);
    return { height: header.height, hash };
  }

  getBlockHash(height: number): Promise<string | undefined> {
    assertHeight(height);
    return this.rpc.getBlockHash(height);
  }

  async getBlock(height: number): Promise<NormalizedBlock> {
    assertHeight(height);
    const hash = await this.rpc.getBlockHash(height);
    if (hash === undefined) throw new ChainError('BLOCK_NOT_FOUND', `no bitcoin block at height ${height}`, { height });
    const raw = await this.rpc.getBlockRaw(hash);
    const block = normalizeBitcoinBlock(raw, height, this.watchSet());
    if (block.hash !== hash) {
      throw new ChainError('RPC_ERROR', 'node returned a block whose hash differs from the one requested', { height, requested: hash, got: block.hash });
    }
    return block;
  }
}

function assertHeight(height: number): void {
  if (!Number.isSafeInteger(height) || height < 0) throw new RangeError('height must be a non-negative integer');
}
