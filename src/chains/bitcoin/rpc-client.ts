// Bitcoin Core JSON-RPC client (bcoin implements a compatible subset, COMPONENTS.md §3). I/O only:
// every decision about what to build or credit is in the pure modules.
import { setTimeout as sleep } from 'node:timers/promises';
import { ChainError } from '../errors.ts';
import { btcPerKvbToSatPerVbyte } from './fees.ts';

/** Per-request timeout unless the caller sets one. */
export const BITCOIN_RPC_TIMEOUT_MS = 30_000;
/** How long broadcast() waits for the transaction to show up in the node's mempool. */
export const BROADCAST_ACCEPT_TIMEOUT_MS = 5_000;
const BROADCAST_POLL_MS = 50;

export interface BitcoinRpcOptions {
  /** http://host:port/ */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  readonly timeoutMs?: number;
  /** Injected for tests; defaults to global fetch. */
  readonly fetch?: typeof fetch;
}

export interface BlockHeaderInfo {
  readonly hash: string;
  readonly height: number;
  readonly previousblockhash?: string;
  readonly time: number;
  readonly confirmations: number;
}

export interface MempoolCheck {
  readonly txid: string;
  /** 'mempool' when the node holds it unconfirmed, 'confirmed' when it is already in a block. */
  readonly state: 'mempool' | 'confirmed';
}

interface RpcReply<T> {
  result: T;
  error: { code: number; message: string } | null;
}

export class BitcoinRpcClient {
  private readonly url: string;
  private readonly authorization: string | undefined;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private nextId = 1;

  constructor(options: BitcoinRpcOptions) {
    this.url = options.url;
    this.authorization = options.password !== undefined
      ? `Basic ${Buffer.from(`${options.username ?? 'x'}:${options.password}`).toString('base64')}`
      : undefined;
    this.timeoutMs = options.timeoutMs ?? BITCOIN_RPC_TIMEOUT_MS;
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** bcoin serves its REST API (the address index) on the JSON-RPC port with the same credentials. */
  restEndpoint(): { url: string; authorization: string | undefined; fetch: typeof fetch } {
    return { url: this.url, authorization: this.authorization, fetch: this.fetchImpl };
  }

  async call<T>(method: string, params: unknown[] = []): Promise<T> {
    const id = this.nextId++;
    let response: Response;
    try {
      response = await this.fetchImpl(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.authorization ? { authorization: this.authorization } : {}) },
        body: JSON.stringify({ jsonrpc: '1.0', id, method, params }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (cause) {
      throw new ChainError('RPC_UNAVAILABLE', `bitcoin RPC ${method}: node unreachable`, { method }, { cause });
    }
    const text = await response.text();
    let reply: RpcReply<T>;
    try {
      reply = JSON.parse(text) as RpcReply<T>;
    } catch (cause) {
      throw new ChainError('RPC_UNAVAILABLE', `bitcoin RPC ${method}: HTTP ${response.status}, not JSON`, { method, status: response.status }, { cause });
    }
    if (reply.error) {
      throw new ChainError('RPC_ERROR', `bitcoin RPC ${method}: ${reply.error.message}`, { method, rpcCode: reply.error.code });
    }
    return reply.result;
  }

  getBlockCount(): Promise<number> {
    return this.call<number>('getblockcount');
  }

  getBestBlockHash(): Promise<string> {
    return this.call<string>('getbestblockhash');
  }

  /** Hash at `height` on the best chain, or undefined above the tip. */
  async getBlockHash(height: number): Promise<string | undefined> {
    try {
      return await this.call<string>('getblockhash', [height]);
    } catch (error) {
      // Core: -8 "Block height out of range"; bcoin: -8 or a MISC_ERROR "Not found.".
      if (error instanceof ChainError && error.code === 'RPC_ERROR' && (error.data.rpcCode === -8 || /not found|out of range/i.test(error.message))) {
        return undefined;
      }
      throw error;
    }
  }

  getBlockHeader(hash: string): Promise<BlockHeaderInfo> {
    return this.call<BlockHeaderInfo>('getblockheader', [hash, true]);
  }

  /** Serialized block, hex. */
  getBlockRaw(hash: string): Promise<string> {
    return this.call<string>('getblock', [hash, false]);
  }

  getRawTransaction(txid: string): Promise<string> {
    return this.call<string>('getrawtransaction', [txid, false]);
  }

  getRawMempool(): Promise<string[]> {
    return this.call<string[]>('getrawmempool');
  }

  /**
   * Broadcasts and then checks the node really holds the transaction. bcoin's sendrawtransaction
   * returns the txid even for invalid transactions ("broadcasting anyway"), so the answer alone
   * proves nothing; Core behaves, and the check costs one call.
   */
  async broadcast(rawHex: string, acceptTimeoutMs = BROADCAST_ACCEPT_TIMEOUT_MS): Promise<MempoolCheck> {
    const txid = await this.call<string>('sendrawtransaction', [rawHex]);
    // bcoin answers before its mempool has verified the transaction (relay is not awaited), so
    // the check polls for a bounded time instead of asking once.
    const deadline = Date.now() + acceptTimeoutMs;
    for (;;) {
      const state = await this.findTransaction(txid);
      if (state) return { txid, state };
      if (Date.now() >= deadline) break;
      await sleep(BROADCAST_POLL_MS);
    }
    throw new ChainError('BROADCAST_NOT_ACCEPTED', 'node returned a txid but the transaction is neither in its mempool nor confirmed', { txid, acceptTimeoutMs });
  }

  /**
   * The withdrawal pipeline finds its own confirmed transactions with getrawtransaction, which a
   * Bitcoin Core node answers for a confirmed transaction only with -txindex=1 (bcoin: --index-tx).
   * Without it every withdrawal would wait in `confirming` for ever; refuse to start instead, with
   * the setting to change. Asks getindexinfo where the node has it, else fetches the coinbase of
   * the newest block, which only an indexing node returns.
   */
  async assertTransactionIndex(): Promise<void> {
    const missing = (detail: string): never => {
      throw new ChainError('NODE_MISCONFIGURED', `the Bitcoin node at BITCOIN_RPC_URL keeps no transaction index (${detail}): start bitcoind with -txindex=1 (bcoin: --index-tx=true)`);
    };
    try {
      const info = await this.call<{ txindex?: { synced: boolean } }>('getindexinfo', []);
      if (!info.txindex) return missing('getindexinfo lists no txindex');
      if (!info.txindex.synced) return missing('txindex is still building');
      return;
    } catch (error) {
      if (error instanceof ChainError && error.code === 'NODE_MISCONFIGURED') throw error;
      if (!(error instanceof ChainError) || error.code !== 'RPC_ERROR') throw error;
    }
    const height = await this.getBlockCount();
    if (height < 1) return;
    const hash = (await this.getBlockHash(height))!;
    const block = await this.call<{ tx: (string | { txid: string })[] }>('getblock', [hash, true]);
    const first = block.tx[0]!;
    const coinbase = typeof first === 'string' ? first : first.txid;
    try {
      await this.call<unknown>('getrawtransaction', [coinbase, false]);
    } catch (error) {
      if (error instanceof ChainError && error.code === 'RPC_ERROR') missing(`getrawtransaction ${coinbase} of block ${height}: ${error.message}`);
      throw error;
    }
  }

  /** 'mempool', 'confirmed', or undefined when the node does not know the transaction. */
  async findTransaction(txid: string): Promise<MempoolCheck['state'] | undefined> {
    try {
      await this.call<unknown>('getmempoolentry', [txid]);
      return 'mempool';
    } catch (error) {
      if (!(error instanceof ChainError) || error.code !== 'RPC_ERROR') throw error;
    }
    try {
      const info = await this.call<{ confirmations?: number }>('getrawtransaction', [txid, true]);
      if ((info.confirmations ?? 0) > 0) return 'confirmed';
    } catch (error) {
      if (!(error instanceof ChainError) || error.code !== 'RPC_ERROR') throw error;
    }
    return undefined;
  }

  /**
   * Fee rate for confirmation within `targetBlocks`, in sat/vB. estimatesmartfee has no data on
   * regtest (bcoin answers {fee: -1}, Core an `errors` array), so the caller supplies a fallback.
   */
  async estimateFeeRate(targetBlocks: number, fallbackSatPerVbyte: bigint): Promise<{ satPerVbyte: bigint; source: 'node' | 'fallback' }> {
    const reply = await this.call<{ feerate?: number; fee?: number; errors?: string[] }>('estimatesmartfee', [targetBlocks]);
    const btcPerKvb = reply.feerate ?? reply.fee;
    if (btcPerKvb === undefined || btcPerKvb <= 0) return { satPerVbyte: fallbackSatPerVbyte, source: 'fallback' };
    const rate = btcPerKvbToSatPerVbyte(btcPerKvb);
    return { satPerVbyte: rate > 0n ? rate : fallbackSatPerVbyte, source: 'node' };
  }

  /** regtest only: mines `count` blocks paying the coinbase to `address`. */
  generateToAddress(count: number, address: string): Promise<string[]> {
    return this.call<string[]>('generatetoaddress', [count, address]);
  }

  invalidateBlock(hash: string): Promise<null> {
    return this.call<null>('invalidateblock', [hash]);
  }

  reconsiderBlock(hash: string): Promise<null> {
    return this.call<null>('reconsiderblock', [hash]);
  }
}
