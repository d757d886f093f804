// The scanners' watch sets, grown incrementally from wallet_addresses (only rows newer than the
// last one seen are read), so 100,000 watched addresses cost one load, not one per tick.
import type { Queryable } from '../platform/tx.ts';
import type { BitcoinWatchSet } from '../chains/bitcoin/block-scan.ts';
import { decodeAddress } from '../chains/bitcoin/address.ts';
import type { BitcoinNetworkName } from '../chains/bitcoin/networks.ts';
import type { EthereumWatchSet } from '../chains/ethereum/deposits.ts';
import { parseEthereumAddress } from '../chains/ethereum/address.ts';
import type { AssetRegistry } from '../assets/asset-registry.ts';

const LOAD_BATCH = 50_000;

export interface WatchIndex {
  refresh(q: Queryable): Promise<void>;
  readonly size: number;
}

export class BitcoinWatchIndex implements WatchIndex {
  private readonly byScript = new Map<string, string>();
  private readonly lengths = new Set<number>();
  private lastId = 0;
  readonly set: BitcoinWatchSet;

  constructor(private readonly network: BitcoinNetworkName) {
    this.set = { network, byScript: this.byScript, scriptLengths: this.lengths };
  }

  get size(): number { return this.byScript.size; }

  async refresh(q: Queryable): Promise<void> {
    for (;;) {
      const { rows } = await q.query<{ id: number; address: string; wallet_id: string }>(
        `select id, address, wallet_id from wallet_addresses where chain = 'bitcoin' and id > $1 order by id limit $2`, [this.lastId, LOAD_BATCH]);
      for (const r of rows) {
        const decoded = decodeAddress(r.address, this.network);
        this.byScript.set(decoded.scriptHex, r.wallet_id);
        this.lengths.add(decoded.script.length);
        this.lastId = r.id;
      }
      if (rows.length < LOAD_BATCH) return;
    }
  }
}

export class EthereumWatchIndex implements WatchIndex {
  private readonly accounts = new Map<string, string>();
  private readonly tokens = new Map<string, string>();
  private lastId = 0;
  readonly set: EthereumWatchSet;

  constructor(private readonly assets: AssetRegistry) {
    this.set = { accounts: this.accounts, tokens: this.tokens, nativeAsset: 'ETH' };
  }

  get size(): number { return this.accounts.size; }

  async refresh(q: Queryable): Promise<void> {
    // WAL-05: the ERC-20 allow-list is the asset registry's contracts on this chain.
    this.tokens.clear();
    for (const asset of this.assets.list()) {
      if (asset.chain === 'ethereum' && asset.contractAddress) this.tokens.set(asset.contractAddress.toLowerCase(), asset.code);
    }
    for (;;) {
      const { rows } = await q.query<{ id: number; address: string; wallet_id: string }>(
        `select id, address, wallet_id from wallet_addresses where chain = 'ethereum' and id > $1 order by id limit $2`, [this.lastId, LOAD_BATCH]);
      for (const r of rows) {
        this.accounts.set(parseEthereumAddress(r.address).toLowerCase(), r.wallet_id);
        this.lastId = r.id;
      }
      if (rows.length < LOAD_BATCH) return;
    }
  }
}
