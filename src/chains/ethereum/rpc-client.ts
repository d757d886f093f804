// Ethereum JSON-RPC client over ethers' JsonRpcProvider. Checks the chain id on first use
// (WAL-05: a transaction for the wrong chain is refused) and returns raw JSON-RPC shapes for the
// pure deposit extraction.
import { JsonRpcProvider, Network } from 'ethers';
import { ChainError } from '../errors.ts';
import { ERC20_TRANSFER_TOPIC, type RpcBlock, type RpcLog } from './deposits.ts';
import { parseEip1559 } from './tx.ts';

export interface EthereumRpcOptions {
  readonly url: string;
  readonly chainId: bigint;
  /** Receipt polling interval for waits; 4 s default suits mainnet, 50 ms a dev chain. */
  readonly pollingIntervalMs?: number;
}

export interface RpcReceipt {
  readonly transactionHash: string;
  readonly status: string;
  readonly blockNumber: string;
  readonly blockHash: string;
  readonly gasUsed: string;
  readonly effectiveGasPrice?: string;
  readonly contractAddress?: string | null;
  readonly logs: RpcLog[];
}

export class EthereumRpcClient {
  readonly provider: JsonRpcProvider;
  readonly chainId: bigint;
  private chainChecked = false;

  constructor(options: EthereumRpcOptions) {
    this.chainId = options.chainId;
    this.provider = new JsonRpcProvider(options.url, Network.from(options.chainId), {
      staticNetwork: true, pollingInterval: options.pollingIntervalMs ?? 4_000, batchMaxCount: 1,
    });
  }

  async send<T>(method: string, params: unknown[] = []): Promise<T> {
    try {
      return (await this.provider.send(method, params)) as T;
    } catch (cause) {
      const message = cause instanceof Error ? cause.message : String(cause);
      const unreachable = /ECONNREFUSED|ECONNRESET|fetch failed|timeout|socket hang up/i.test(message);
      throw new ChainError(unreachable ? 'RPC_UNAVAILABLE' : 'RPC_ERROR', `ethereum RPC ${method}: ${message}`, { method }, { cause });
    }
  }

  /** Throws unless the node is on the configured chain. */
  async assertChainId(): Promise<void> {
    if (this.chainChecked) return;
    const reported = BigInt(await this.send<string>('eth_chainId'));
    if (reported !== this.chainId) {
      throw new ChainError('RPC_ERROR', `node is on chain ${reported}, expected ${this.chainId}`, { reported: String(reported), expected: String(this.chainId) });
    }
    this.chainChecked = true;
  }

  async getBlockNumber(): Promise<number> {
    return Number(BigInt(await this.send<string>('eth_blockNumber')));
  }

  /** Block with full transactions, or null above the tip. */
  getBlock(tag: number | 'latest' | 'finalized' | 'safe'): Promise<RpcBlock | null> {
    const param = typeof tag === 'number' ? `0x${tag.toString(16)}` : tag;
    return this.send<RpcBlock | null>('eth_getBlockByNumber', [param, true]);
  }

  /** Header only (transaction hashes), or null above the tip. */
  getBlockHeader(height: number): Promise<Omit<RpcBlock, 'transactions'> | null> {
    return this.send('eth_getBlockByNumber', [`0x${height.toString(16)}`, false]);
  }

  /** All Transfer(address,address,uint256) logs of one block, by hash so a reorg cannot mix blocks. */
  getTransferLogs(blockHash: string): Promise<RpcLog[]> {
    return this.send<RpcLog[]>('eth_getLogs', [{ blockHash, topics: [ERC20_TRANSFER_TOPIC] }]);
  }

  /** A transaction the node knows (pending or mined), or null: a replaced one is forgotten. */
  getTransaction(txHash: string): Promise<{ hash: string; nonce: string; blockNumber: string | null } | null> {
    return this.send('eth_getTransactionByHash', [txHash]);
  }

  getReceipt(txHash: string): Promise<RpcReceipt | null> {
    return this.send<RpcReceipt | null>('eth_getTransactionReceipt', [txHash]);
  }

  async getBalance(address: string, tag: string = 'latest'): Promise<bigint> {
    return BigInt(await this.send<string>('eth_getBalance', [address, tag]));
  }

  async getTokenBalance(tokenContract: string, owner: string, tag: string = 'latest'): Promise<bigint> {
    const data = `0x70a08231${owner.slice(2).toLowerCase().padStart(64, '0')}`; // balanceOf(address)
    return BigInt(await this.send<string>('eth_call', [{ to: tokenContract, data }, tag]));
  }

  async getNonce(address: string, tag: 'latest' | 'pending' = 'pending'): Promise<number> {
    return Number(BigInt(await this.send<string>('eth_getTransactionCount', [address, tag])));
  }

  async getBaseFee(): Promise<bigint> {
    const block = await this.send<{ baseFeePerGas?: string }>('eth_getBlockByNumber', ['latest', false]);
    if (!block.baseFeePerGas) throw new ChainError('RPC_ERROR', 'node has no EIP-1559 base fee');
    return BigInt(block.baseFeePerGas);
  }

  async getMaxPriorityFee(fallbackWei: bigint): Promise<bigint> {
    try {
      return BigInt(await this.send<string>('eth_maxPriorityFeePerGas'));
    } catch {
      return fallbackWei;
    }
  }

  /** Broadcasts a signed type-2 transaction after checking its chain id. Returns the tx hash. */
  async broadcast(raw: string): Promise<string> {
    const parsed = parseEip1559(raw);
    if (!parsed.signed) throw new ChainError('TX_INVALID', 'transaction is not signed');
    if (parsed.chainId !== this.chainId) {
      throw new ChainError('TX_INVALID', `transaction is for chain ${parsed.chainId}, node is ${this.chainId}`, { chainId: String(parsed.chainId) });
    }
    await this.assertChainId();
    return this.send<string>('eth_sendRawTransaction', [raw]);
  }

  destroy(): void {
    this.provider.destroy();
  }
}
