// What the nodes say, read at a fixed height (REC-01, REC-02): balances and the movements touching our
// addresses. I/O only; the comparison is in reconcile.ts. Nothing here reads our tables.
//
// Bitcoin: bcoin has no scantxoutset; its address index (`POST /tx/address`, --index-address and
// --index-tx) gives every transaction touching the addresses with its height and, for each input, the
// coin it spends. The balance at height H is the sum of outputs to the address in transactions at or
// below H minus the coins the address spent in transactions at or below H (a spend above H, or one in
// the mempool, does not count), so the reading does not move when blocks arrive after the cut-off.
// Ethereum: eth_getBalance and ERC-20 balanceOf (eth_call) at the block, batched JSON-RPC; movements
// from the blocks' transactions (native ETH; transfers made inside contract calls are not seen) and
// the token contracts' Transfer logs.
import { ChainError } from '../chains/errors.ts';
import type { BitcoinRpcClient } from '../chains/bitcoin/rpc-client.ts';
import type { EthereumRpcClient } from '../chains/ethereum/rpc-client.ts';

/** One on-chain movement touching one of our addresses: the net change of that address in one transaction. */
export interface ChainMovement {
  chain: 'bitcoin' | 'ethereum';
  asset: string;
  txid: string;
  address: string;
  /** Net change of the address in this transaction, base units; negative = outflow (network fee included where the address paid it). */
  amount: bigint;
  height: number;
}

export interface ChainTip { height: number; blockHash: string }

/** Addresses per request to bcoin's index; requests in parallel. */
const BCOIN_ADDRESSES_PER_REQUEST = 250;
const BCOIN_PARALLEL = 4;
const ETH_CALLS_PER_BATCH = 500;
const ETH_PARALLEL = 4;

async function inParallel<T, R>(items: T[], parallel: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await work(items[i]!);
  }));
  return out;
}

const chunks = <T>(items: T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
};

interface BcoinTxJson {
  hash: string;
  height: number;
  inputs: { coin?: { value: number; address?: string | null } | null; address?: string | null }[];
  outputs: { value: number; address?: string | null }[];
}

export interface BitcoinIndexOptions { restUrl: string; apiKey?: string; username?: string; fetch?: typeof fetch }

/** bcoin's address index over its REST API (same port and credentials as its JSON-RPC). */
export class BitcoinChainReader {
  private readonly base: string;
  private readonly authorization: string | undefined;
  private readonly fetchImpl: typeof fetch;

  /** Without options, the REST API is the RPC client's own endpoint and credentials (bcoin serves both on one port). */
  constructor(private readonly rpc: BitcoinRpcClient, options?: BitcoinIndexOptions) {
    if (!options) {
      const endpoint = rpc.restEndpoint();
      this.base = endpoint.url.replace(/\/+$/, '');
      this.authorization = endpoint.authorization;
      this.fetchImpl = endpoint.fetch;
      return;
    }
    this.base = options.restUrl.replace(/\/+$/, '');
    this.authorization = options.apiKey !== undefined ? `Basic ${Buffer.from(`${options.username ?? 'x'}:${options.apiKey}`).toString('base64')}` : undefined;
    this.fetchImpl = options.fetch ?? fetch;
  }

  async tip(): Promise<ChainTip> {
    const height = await this.rpc.getBlockCount();
    return { height, blockHash: (await this.rpc.getBlockHash(height))! };
  }

  /** The hash at `height` on the best chain now (a reorg below the cut-off changes it). */
  blockHashAt(height: number): Promise<string | undefined> { return this.rpc.getBlockHash(height); }

  private async transactions(addresses: string[]): Promise<BcoinTxJson[]> {
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.base}/tx/address`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.authorization ? { authorization: this.authorization } : {}) },
        body: JSON.stringify({ addresses }),
        signal: AbortSignal.timeout(120_000),
      });
    } catch (cause) {
      throw new ChainError('RPC_UNAVAILABLE', 'bitcoin address index: node unreachable', {}, { cause });
    }
    if (!response.ok) throw new ChainError('RPC_ERROR', `bitcoin address index: HTTP ${response.status} (the node needs --index-address and --index-tx)`, { status: response.status });
    return (await response.json()) as BcoinTxJson[];
  }

  /**
   * Balances at `height` of every address, and the movements (one per transaction and address) at or
   * below it. Addresses that never saw a coin come back with 0.
   */
  async read(addresses: string[], height: number): Promise<{ balances: Map<string, bigint>; movements: ChainMovement[] }> {
    const ours = new Set(addresses);
    const balances = new Map<string, bigint>(addresses.map((a) => [a, 0n]));
    const movements = new Map<string, ChainMovement>();
    const batches = await inParallel(chunks(addresses, BCOIN_ADDRESSES_PER_REQUEST), BCOIN_PARALLEL, (batch) => this.transactions(batch));
    const seen = new Set<string>();
    for (const txs of batches) {
      for (const tx of txs) {
        // The same transaction comes back once per batch that holds one of its addresses.
        if (tx.height < 0 || tx.height > height || seen.has(tx.hash)) continue;
        seen.add(tx.hash);
        const delta = new Map<string, bigint>();
        for (const input of tx.inputs) {
          const address = input.coin?.address ?? input.address;
          if (!address || !ours.has(address) || !input.coin) continue;
          delta.set(address, (delta.get(address) ?? 0n) - BigInt(input.coin.value));
        }
        for (const output of tx.outputs) {
          if (!output.address || !ours.has(output.address)) continue;
          delta.set(output.address, (delta.get(output.address) ?? 0n) + BigInt(output.value));
        }
        for (const [address, amount] of delta) {
          balances.set(address, balances.get(address)! + amount);
          if (amount !== 0n) movements.set(`${tx.hash}:${address}`, { chain: 'bitcoin', asset: 'BTC', txid: tx.hash, address, amount, height: tx.height });
        }
      }
    }
    return { balances, movements: [...movements.values()] };
  }

  /** The bare balance query for the same addresses (the benchmark's yardstick): bcoin's unspent coins per address, no height logic. */
  async bareBalances(addresses: string[]): Promise<bigint> {
    let total = 0n;
    const batches = await inParallel(chunks(addresses, BCOIN_ADDRESSES_PER_REQUEST), BCOIN_PARALLEL, async (batch) => {
      const response = await this.fetchImpl(`${this.base}/coin/address`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.authorization ? { authorization: this.authorization } : {}) },
        body: JSON.stringify({ addresses: batch }),
      });
      return (await response.json()) as { value: number }[];
    });
    for (const coins of batches) for (const c of coins) total += BigInt(c.value);
    return total;
  }
}

interface RpcBatchReply { id: number; result?: unknown; error?: { code: number; message: string } }

const hex = (n: number | bigint) => `0x${n.toString(16)}`;
const topicAddress = (topic: string) => `0x${topic.slice(26)}`.toLowerCase();
const TRANSFER_TOPIC = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';

/** Ethereum reads at a block, in JSON-RPC batches (one HTTP request per batch of calls). */
export class EthereumChainReader {
  private readonly url: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly rpc: EthereumRpcClient, options: { url?: string; fetch?: typeof fetch } = {}) {
    this.url = options.url ?? (rpc.provider as unknown as { _getConnection(): { url: string } })._getConnection().url;
    this.fetchImpl = options.fetch ?? fetch;
  }

  async tip(): Promise<ChainTip> {
    const height = await this.rpc.getBlockNumber();
    const header = await this.rpc.getBlockHeader(height);
    return { height, blockHash: header!.hash };
  }

  async blockHashAt(height: number): Promise<string | undefined> {
    return (await this.rpc.getBlockHeader(height))?.hash;
  }

  /** One batch; every reply checked (an error in any call fails the whole read: nothing is guessed). */
  private async batch(calls: { method: string; params: unknown[] }[]): Promise<unknown[]> {
    let response: Response;
    try {
      response = await this.fetchImpl(this.url, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify(calls.map((c, id) => ({ jsonrpc: '2.0', id, method: c.method, params: c.params }))),
        signal: AbortSignal.timeout(120_000),
      });
    } catch (cause) {
      throw new ChainError('RPC_UNAVAILABLE', 'ethereum RPC batch: node unreachable', {}, { cause });
    }
    const replies = (await response.json()) as RpcBatchReply[];
    if (!Array.isArray(replies)) throw new ChainError('RPC_ERROR', 'ethereum RPC batch: the node does not answer batches', {});
    const out = new Array<unknown>(calls.length);
    for (const r of replies) {
      if (r.error) throw new ChainError('RPC_ERROR', `ethereum RPC ${calls[r.id]?.method}: ${r.error.message}`, { rpcCode: r.error.code });
      out[r.id] = r.result;
    }
    return out;
  }

  private async calls(calls: { method: string; params: unknown[] }[]): Promise<unknown[]> {
    const results = await inParallel(chunks(calls, ETH_CALLS_PER_BATCH), ETH_PARALLEL, (c) => this.batch(c));
    return results.flat();
  }

  /** ETH balance of each address at `height`. */
  async ethBalances(addresses: string[], height: number): Promise<Map<string, bigint>> {
    const results = await this.calls(addresses.map((a) => ({ method: 'eth_getBalance', params: [a, hex(height)] })));
    return new Map(addresses.map((a, i) => [a.toLowerCase(), BigInt(results[i] as string)]));
  }

  /** balanceOf(address) of `token` at `height`. */
  async tokenBalances(token: string, addresses: string[], height: number): Promise<Map<string, bigint>> {
    const results = await this.calls(addresses.map((a) => ({
      method: 'eth_call', params: [{ to: token, data: `0x70a08231${a.slice(2).toLowerCase().padStart(64, '0')}` }, hex(height)] })));
    return new Map(addresses.map((a, i) => [a.toLowerCase(), BigInt(results[i] as string)]));
  }

  /**
   * Movements touching `addresses` in blocks fromHeight..toHeight: native ETH (value, and the fee the
   * sender paid, from the receipt; a reverted transaction moved only the fee) and each token's Transfer logs.
   */
  async movements(addresses: string[], tokens: { asset: string; contract: string }[], fromHeight: number, toHeight: number): Promise<ChainMovement[]> {
    const ours = new Set(addresses.map((a) => a.toLowerCase()));
    const out: ChainMovement[] = [];
    if (toHeight < fromHeight) return out;
    const heights = Array.from({ length: toHeight - fromHeight + 1 }, (_, i) => fromHeight + i);
    const blocks = (await this.calls(heights.map((h) => ({ method: 'eth_getBlockByNumber', params: [hex(h), true] })))) as
      { number: string; transactions: { hash: string; from: string; to: string | null; value: string }[] }[];
    const touching: { hash: string; from: string; to: string | null; value: bigint; height: number }[] = [];
    for (const block of blocks) {
      for (const tx of block.transactions) {
        const from = tx.from.toLowerCase();
        const to = tx.to?.toLowerCase() ?? null;
        if (ours.has(from) || (to && ours.has(to))) touching.push({ hash: tx.hash, from, to, value: BigInt(tx.value), height: Number(BigInt(block.number)) });
      }
    }
    const receipts = (await this.calls(touching.map((t) => ({ method: 'eth_getTransactionReceipt', params: [t.hash] })))) as
      { status: string; gasUsed: string; effectiveGasPrice?: string }[];
    touching.forEach((t, i) => {
      const receipt = receipts[i]!;
      const ok = receipt.status === '0x1';
      const value = ok ? t.value : 0n;
      const fee = BigInt(receipt.gasUsed) * BigInt(receipt.effectiveGasPrice ?? '0x0');
      if (ours.has(t.from)) out.push({ chain: 'ethereum', asset: 'ETH', txid: t.hash, address: t.from, amount: -(value + fee), height: t.height });
      if (t.to && ours.has(t.to) && value > 0n) out.push({ chain: 'ethereum', asset: 'ETH', txid: t.hash, address: t.to, amount: value, height: t.height });
    });
    for (const token of tokens) {
      const logs = (await this.batch([{ method: 'eth_getLogs', params: [{ fromBlock: hex(fromHeight), toBlock: hex(toHeight), address: token.contract, topics: [TRANSFER_TOPIC] }] }]))[0] as
        { transactionHash: string; topics: string[]; data: string; blockNumber: string; removed?: boolean }[];
      for (const log of logs) {
        if (log.removed || log.topics.length !== 3) continue;
        const from = topicAddress(log.topics[1]!);
        const to = topicAddress(log.topics[2]!);
        const value = BigInt(log.data === '0x' ? '0x0' : log.data);
        const height = Number(BigInt(log.blockNumber));
        if (ours.has(from)) out.push({ chain: 'ethereum', asset: token.asset, txid: log.transactionHash, address: from, amount: -value, height });
        if (ours.has(to)) out.push({ chain: 'ethereum', asset: token.asset, txid: log.transactionHash, address: to, amount: value, height });
      }
    }
    // One movement per (asset, tx, address): a self-transfer or two logs of one tx net out.
    const merged = new Map<string, ChainMovement>();
    for (const m of out) {
      const key = `${m.asset}:${m.txid}:${m.address}`;
      const prior = merged.get(key);
      merged.set(key, prior ? { ...prior, amount: prior.amount + m.amount } : m);
    }
    return [...merged.values()].filter((m) => m.amount !== 0n);
  }
}
