// One scanner per chain follows blocks with a persisted cursor, records deposits to our addresses
// at once (pending: visible, never spendable), credits them after N confirmations (entitlement and
// wallet holdings), and on a reorg rolls back to the fork point, reversing what orphaned blocks did.
// The cursor row's lock is the lease: two workers never scan one chain at the same time, and every
// credit is keyed by (chain, transfer, generation), so nothing is credited twice.
import type pg from 'pg';
import type { BlockSource, DepositCandidate, NormalizedBlock } from '../chains/block-source.ts';
import { depositKey } from '../chains/block-source.ts';
import type { ChainName } from '../chains/capabilities.ts';
import { DomainError } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';
import type { Queryable } from '../platform/tx.ts';
import type { LedgerService } from '../ledger/ledger-service.ts';
import { appendEvent } from '../events/event-feed.ts';
import type { CaseService } from '../cases/index.ts';
import { CoinStore } from '../wallets/coin-store.ts';
import type { WatchIndex } from './watch-index.ts';

export interface ScannerOptions {
  chain: ChainName;
  /** Confirmations before a deposit is credited, per asset (DEP-02). */
  confirmations: (asset: string) => number;
  /** Height to start from when no cursor exists. */
  startHeight: number;
  maxBlocksPerTick: number;
  maxReorgDepth: number;
  /**
   * Development only: when no fork point is found (an in-memory dev chain was restarted), roll back
   * everything seen on the old chain instead of stopping with an alert.
   */
  rollbackLostChain: boolean;
}

export interface TickResult {
  busy: boolean;
  scannedTo: number;
  blocks: number;
  detected: number;
  credited: number;
  reversed: number;
  reorgDepth: number;
}

interface DepositRow {
  id: string; chain: string; deposit_key: string; asset: string; txid: string; output_index: number | null; address: string;
  wallet_id: string; client_id: string | null; tier: 'hot' | 'cold'; amount: bigint; block_height: number; block_hash: string;
  status: 'pending' | 'credited' | 'orphaned' | 'reversed' | 'suspense'; generation: number; credit_entry_id: number | null;
}

/** What the scanner needs to know about a receiving address. */
export interface AddressOwner { walletId: string; clientId: string | null; tier: 'hot' | 'cold'; walletState: string }

/**
 * The entries that credited one generation of a deposit: `deposit:<chain>:<key>:<generation>` and
 * its `:<part>` siblings, never another generation's (a LIKE on the prefix took generation 1 for
 * 10 to 19) nor a reversal.
 */
export async function creditEntriesOf(q: Queryable, row: { chain: string; deposit_key: string; generation: number }): Promise<{ id: number; idempotency_id: string }[]> {
  const base = `deposit:${row.chain}:${row.deposit_key}:${row.generation}`;
  const { rows } = await q.query<{ id: number; idempotency_id: string }>(
    `select id, idempotency_id from journal_entries where (idempotency_id = $1 or starts_with(idempotency_id, $1 || ':'))
       and not starts_with(idempotency_id, $1 || ':reversal') order by id`, [base]);
  return rows;
}

export class DepositScanner {
  private readonly coins = new CoinStore();

  constructor(
    private readonly pool: pg.Pool,
    private readonly ledger: LedgerService,
    private readonly source: BlockSource,
    private readonly options: ScannerOptions,
    private readonly log: Logger,
    private readonly watch: WatchIndex,
    /** Where a reorg shortfall opens its case (DEP-01). */
    private readonly cases?: Pick<CaseService, 'open'>,
  ) {
    if (options.maxBlocksPerTick < 1 || options.maxBlocksPerTick > 10_000) throw new RangeError('maxBlocksPerTick 1..10000');
    if (options.maxReorgDepth < 1 || options.maxReorgDepth > 10_000) throw new RangeError('maxReorgDepth 1..10000');
  }

  get chain(): ChainName { return this.options.chain; }

  /** One pass: reorg check, up to maxBlocksPerTick new blocks, credits that reached their confirmations. */
  async tick(): Promise<TickResult> {
    const result: TickResult = { busy: false, scannedTo: -1, blocks: 0, detected: 0, credited: 0, reversed: 0, reorgDepth: 0 };
    await this.watch.refresh(this.pool);
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      const locked = await client.query<{ height: number; block_hash: string }>(
        'select height, block_hash from scanner_cursors where chain = $1 for update skip locked', [this.chain]);
      if (locked.rowCount === 0) {
        const exists = await client.query('select 1 from scanner_cursors where chain = $1', [this.chain]);
        if (exists.rowCount! > 0) {
          await client.query('rollback');
          return { ...result, busy: true };
        }
        const start = this.options.startHeight;
        const parent = start > 0 ? await this.source.getBlockHash(start - 1) : '';
        if (parent === undefined) throw new DomainError('CHAIN_UNAVAILABLE', `the ${this.chain} node has no block ${start - 1}`);
        await client.query('insert into scanner_cursors (chain, height, block_hash) values ($1, $2, $3) on conflict do nothing', [this.chain, start - 1, parent]);
        await client.query('commit');
        return this.tick();
      }
      let height = locked.rows[0]!.height;
      let hash = locked.rows[0]!.block_hash;

      if (height >= 0 && (await this.source.getBlockHash(height)) !== hash) {
        const fork = await this.rollback(client, height, result);
        height = fork.height;
        hash = fork.hash;
      }
      const tip = await this.source.getTip();
      const until = Math.min(tip.height, height + this.options.maxBlocksPerTick);
      for (let h = height + 1; h <= until; h++) {
        const block = await this.source.getBlock(h);
        if (height >= 0 && block.parentHash !== hash) break; // the chain moved under us: the next tick finds the fork
        await this.recordBlock(client, block, result);
        height = h;
        hash = block.hash;
        result.blocks++;
      }
      await client.query('update scanner_cursors set height = $2, block_hash = $3, updated_at = now() where chain = $1', [this.chain, height, hash]);
      await client.query('delete from scanned_blocks where chain = $1 and height < $2', [this.chain, height - this.options.maxReorgDepth * 2]);
      await this.creditConfirmed(client, height, result);
      await client.query('commit');
      result.scannedTo = height;
      return result;
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private async recordBlock(q: Queryable, block: NormalizedBlock, result: TickResult): Promise<void> {
    await q.query(
      `insert into scanned_blocks (chain, height, block_hash, parent_hash) values ($1, $2, $3, $4)
       on conflict (chain, height) do update set block_hash = excluded.block_hash, parent_hash = excluded.parent_hash`,
      [this.chain, block.height, block.hash, block.parentHash]);
    // Our own transactions: txid -> the client whose withdrawal it is.
    const own = block.deposits.length === 0 ? new Map<string, string | null>() : new Map((await q.query<{ txid: string; client_id: string | null }>(
      `select o.txid, w.client_id from own_transactions o left join withdrawals w on w.id = o.withdrawal_id
       where o.chain = $1 and o.txid = any($2)`, [this.chain, [...new Set(block.deposits.map((d) => d.txid.toLowerCase()))]])).rows.map((r) => [r.txid, r.client_id]));
    for (const d of block.deposits) {
      const owner = await this.owner(q, d.address);
      // Change and gas top-ups that our own transaction pays back into the same client's wallets are
      // booked by their withdrawal, never as a deposit. What it pays to another client is a deposit.
      const ownTx = own.has(d.txid.toLowerCase());
      if (ownTx && owner && owner.clientId === own.get(d.txid.toLowerCase())) continue;
      if (!owner) {
        this.log.warn({ chain: this.chain, address: d.address, txid: d.txid }, 'deposit to an address the watch set knows but the database does not');
        continue;
      }
      if (d.asset === null) {
        await this.quarantine(q, block, d, owner);
        continue;
      }
      await this.detect(q, block, d, owner, result);
    }
  }

  private async owner(q: Queryable, address: string): Promise<AddressOwner | undefined> {
    const { rows } = await q.query<{ wallet_id: string; client_id: string | null; tier: 'hot' | 'cold'; state: string }>(
      `select w.id as wallet_id, w.client_id, w.tier, w.state from wallet_addresses a join wallets w on w.id = a.wallet_id
       where a.chain = $1 and lower(a.address) = lower($2)`, [this.chain, address]);
    const r = rows[0];
    return r ? { walletId: r.wallet_id, clientId: r.client_id, tier: r.tier, walletState: r.state } : undefined;
  }

  private async quarantine(q: Queryable, block: NormalizedBlock, d: DepositCandidate, owner: AddressOwner): Promise<void> {
    // DEP-07: a token that is not admitted never reaches a balance.
    const inserted = await q.query(
      `insert into token_quarantine (chain, deposit_key, token_contract, txid, address, wallet_id, amount, block_height, block_hash)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       on conflict (chain, deposit_key) do update set status = 'quarantined', block_height = excluded.block_height, block_hash = excluded.block_hash
         where token_quarantine.status = 'orphaned'
       returning id`,
      [this.chain, depositKey(d), d.tokenContract ?? 'unknown', d.txid, d.address, owner.walletId, d.amount.toString(), block.height, block.hash]);
    if (inserted.rowCount! > 0) {
      await appendEvent(q, 'token.quarantined', owner.clientId, d.txid,
        { chain: this.chain, tokenContract: d.tokenContract, address: d.address, amountBaseUnits: d.amount.toString(), txid: d.txid });
    }
  }

  private async detect(q: Queryable, block: NormalizedBlock, d: DepositCandidate, owner: AddressOwner, result: TickResult): Promise<void> {
    const key = depositKey(d);
    const index = d.vout ?? d.logIndex ?? null;
    const { rows } = await q.query<DepositRow>(
      `insert into deposits (chain, deposit_key, asset, txid, output_index, address, wallet_id, client_id, tier, amount,
                             block_height, block_hash, status, sender)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', $13)
       on conflict (chain, deposit_key) do update
         set status = 'pending', block_height = excluded.block_height, block_hash = excluded.block_hash,
             generation = deposits.generation + 1, credit_entry_id = null, reversal_entry_id = null, updated_at = now()
         where deposits.status in ('orphaned', 'reversed')
       returning *`,
      [this.chain, key, d.asset, d.txid, index, d.address, owner.walletId, owner.clientId, owner.tier, d.amount.toString(),
        block.height, block.hash, d.from ?? null]);
    const row = rows[0];
    if (!row) return; // already known on this chain
    result.detected++;
    await appendEvent(q, 'deposit.pending', owner.clientId, row.id, this.payload(row, block.height));
  }

  private payload(row: DepositRow, tipHeight: number): Record<string, unknown> {
    return {
      depositId: row.id, chain: row.chain, asset: row.asset, txid: row.txid, outputIndex: row.output_index, address: row.address,
      walletId: row.wallet_id, tier: row.tier, amountBaseUnits: row.amount.toString(), blockHeight: row.block_height,
      blockHash: row.block_hash, confirmations: Math.max(0, tipHeight - row.block_height + 1), generation: row.generation,
    };
  }

  private async creditConfirmed(q: Queryable, tipHeight: number, result: TickResult): Promise<void> {
    const { rows } = await q.query<DepositRow>(
      `select d.*, w.state as wallet_state, w.owner as wallet_owner, w.house_purpose, a.key_id
       from deposits d join wallets w on w.id = d.wallet_id
       join wallet_addresses a on a.chain = d.chain and a.address = d.address
       where d.chain = $1 and d.status = 'pending' order by d.block_height, d.deposit_key for update of d`, [this.chain]);
    for (const row of rows as (DepositRow & { wallet_state: string; wallet_owner: 'client' | 'house'; house_purpose: string | null; key_id: string })[]) {
      const confirmations = tipHeight - row.block_height + 1;
      if (confirmations < this.options.confirmations(row.asset)) continue;
      const house = row.wallet_owner === 'house';
      const suspense = !house && (row.client_id === null || row.wallet_state === 'retired' || row.wallet_state === 'retiring');
      const entryIds = house ? await this.bookHouse(q, row, row.house_purpose === 'gas_station' ? 'house_wallet_gas' : 'house_wallet_fees')
        : await this.book(q, row, suspense);
      if (this.chain === 'bitcoin' && !suspense && row.output_index !== null) {
        // Our own UTXO set: coin selection never depends on a node's address index.
        await this.coins.addDeposit(q, { txid: row.txid, vout: row.output_index, walletId: row.wallet_id!, address: row.address, keyId: row.key_id!, value: row.amount });
      }
      await q.query(`update deposits set status = $2, credit_entry_id = $3, updated_at = now() where id = $1`,
        [row.id, suspense ? 'suspense' : 'credited', entryIds[0]]);
      result.credited++;
      await appendEvent(q, suspense ? 'deposit.suspense' : 'deposit.credited', row.client_id, row.id, { ...this.payload(row, tipHeight), entryIds });
    }
  }

  /** Funding of a house wallet (gas station, fees): house treasury and the house wallet's holdings. */
  private async bookHouse(q: Queryable, row: DepositRow, holdingsKind: 'house_wallet_gas' | 'house_wallet_fees'): Promise<number[]> {
    const amount = row.amount;
    const r = await this.ledger.postEntry(q, {
      idempotencyId: `deposit:${row.chain}:${row.deposit_key}:${row.generation}`, type: 'deposit', actor: `scanner:${this.chain}`,
      cause: { chain: row.chain, txid: row.txid, outputIndex: row.output_index, depositId: row.id, generation: row.generation, house: true },
      postings: [
        { accountId: await this.ledger.systemAccountId(q, row.asset, 'external_world'), amount: -amount },
        { accountId: await this.ledger.systemAccountId(q, row.asset, 'house_treasury'), amount },
        { accountId: await this.ledger.systemAccountId(q, row.asset, 'external_chain'), amount: -amount },
        { accountId: await this.ledger.systemAccountId(q, row.asset, holdingsKind), amount },
      ],
    });
    return [r.entryId];
  }

  /** The credit: entitlement (external world → client) and holdings (external chain → the receiving wallet). */
  private async book(q: Queryable, row: DepositRow, suspense: boolean): Promise<number[]> {
    const amount = row.amount;
    const world = await this.ledger.systemAccountId(q, row.asset, 'external_world');
    const chainAcct = await this.ledger.systemAccountId(q, row.asset, 'external_chain');
    const cause = { chain: row.chain, txid: row.txid, outputIndex: row.output_index, depositId: row.id, generation: row.generation };
    const base = `deposit:${row.chain}:${row.deposit_key}:${row.generation}`;
    if (suspense) {
      // DEP-08: a deposit to a retired address is not the client's until resolved; the coins do sit in that wallet.
      const suspenseAcct = await this.ledger.systemAccountId(q, row.asset, 'house_suspense');
      const holdings = row.client_id
        ? await this.ledger.clientAccountId(q, row.client_id, row.asset, row.tier === 'hot' ? 'client_wallet_hot' : 'client_wallet_cold')
        : await this.ledger.systemAccountId(q, row.asset, 'house_wallet_suspense');
      const results = await this.ledger.postEntries(q, [
        { idempotencyId: `${base}:suspense`, type: 'deposit', actor: `scanner:${this.chain}`, cause,
          postings: [{ accountId: world, amount: -amount }, { accountId: suspenseAcct, amount }] },
        { idempotencyId: `${base}:holdings`, type: 'deposit', actor: `scanner:${this.chain}`, cause,
          postings: [{ accountId: chainAcct, amount: -amount }, { accountId: holdings, amount }] },
      ]);
      return results.map((r) => r.entryId);
    }
    const entitlement = await this.ledger.clientAccountId(q, row.client_id!, row.asset);
    const wallet = await this.ledger.clientAccountId(q, row.client_id!, row.asset, row.tier === 'hot' ? 'client_wallet_hot' : 'client_wallet_cold');
    const r = await this.ledger.postEntry(q, {
      idempotencyId: base, type: 'deposit', actor: `scanner:${this.chain}`, cause,
      postings: [{ accountId: world, amount: -amount }, { accountId: entitlement, amount }, { accountId: chainAcct, amount: -amount }, { accountId: wallet, amount }],
    });
    return [r.entryId];
  }

  /** Walks back to the fork point and undoes what the orphaned blocks did. */
  private async rollback(q: pg.PoolClient, fromHeight: number, result: TickResult): Promise<{ height: number; hash: string }> {
    let fork: { height: number; hash: string } | undefined;
    for (let h = fromHeight; h >= Math.max(0, fromHeight - this.options.maxReorgDepth); h--) {
      const stored = await q.query<{ block_hash: string }>('select block_hash from scanned_blocks where chain = $1 and height = $2', [this.chain, h]);
      const onChain = await this.source.getBlockHash(h);
      if (stored.rows[0] && stored.rows[0].block_hash === onChain) { fork = { height: h, hash: onChain }; break; }
    }
    if (!fork && this.options.rollbackLostChain) {
      this.log.warn({ chain: this.chain }, 'the dev chain was restarted: rolling back every deposit seen on the old chain');
      fork = { height: this.options.startHeight - 1, hash: this.options.startHeight > 0 ? (await this.source.getBlockHash(this.options.startHeight - 1)) ?? '' : '' };
    }
    if (!fork) {
      await appendEvent(q, 'scanner.reorg_too_deep', null, this.chain, { chain: this.chain, fromHeight, maxReorgDepth: this.options.maxReorgDepth });
      throw new DomainError('CHAIN_UNAVAILABLE', `${this.chain}: reorg deeper than ${this.options.maxReorgDepth} blocks below height ${fromHeight}; manual action needed`);
    }
    result.reorgDepth = fromHeight - fork.height;
    this.log.warn({ chain: this.chain, fromHeight, forkHeight: fork.height }, 'reorg: rolling back');
    await appendEvent(q, 'scanner.reorg', null, this.chain, { chain: this.chain, fromHeight, forkHeight: fork.height });
    const { rows } = await q.query<DepositRow>(
      `select * from deposits where chain = $1 and block_height > $2 and status in ('pending', 'credited', 'suspense')
       order by block_height desc for update`, [this.chain, fork.height]);
    for (const row of rows) {
      if (row.status === 'pending') {
        await q.query(`update deposits set status = 'orphaned', updated_at = now() where id = $1`, [row.id]);
        await appendEvent(q, 'deposit.orphaned', row.client_id, row.id, this.payload(row, fork.height));
        continue;
      }
      const reversalIds = await this.reverse(q, row);
      if (this.chain === 'bitcoin' && row.output_index !== null) await this.coins.dropDeposit(q, row.txid, row.output_index);
      await q.query(`update deposits set status = 'reversed', reversal_entry_id = $2, updated_at = now() where id = $1`, [row.id, reversalIds[0]]);
      result.reversed++;
      await appendEvent(q, 'deposit.reversed', row.client_id, row.id, { ...this.payload(row, fork.height), reversalEntryIds: reversalIds });
    }
    await q.query(`update token_quarantine set status = 'orphaned' where chain = $1 and block_height > $2 and status = 'quarantined'`, [this.chain, fork.height]);
    await q.query('delete from scanned_blocks where chain = $1 and height > $2', [this.chain, fork.height]);
    return fork;
  }

  /**
   * Reverses a credit: every entry of this generation reversed by the ledger. Where the client has
   * already used the funds, the part that cannot be taken back is booked to house suspense (never
   * a negative client balance: SEG-05), a shortfall event is raised and a case is opened (DEP-01).
   */
  private async reverse(q: pg.PoolClient, row: DepositRow): Promise<number[]> {
    const base = `deposit:${row.chain}:${row.deposit_key}:${row.generation}:reversal`;
    const ids: number[] = [];
    for (const entry of await creditEntriesOf(q, row)) {
      const r = await this.ledger.reverseEntry(q, { entryId: entry.id, idempotencyId: `${base}:${entry.id}`, actor: `scanner:${this.chain}`,
        cause: { depositId: row.id, reorg: true } });
      ids.push(r.entryId);
      if (r.shortfall.entitlement > 0n || r.shortfall.holdings > 0n) await this.shortfall(q, row, entry.id, r.entryId, r.shortfall);
    }
    return ids;
  }

  private async shortfall(q: pg.PoolClient, row: DepositRow, entryId: number, reversalEntryId: number, short: { entitlement: bigint; holdings: bigint }): Promise<void> {
    const amounts = { shortEntitlementBaseUnits: short.entitlement.toString(), shortHoldingsBaseUnits: short.holdings.toString() };
    await appendEvent(q, 'deposit.reversal_shortfall', row.client_id, row.id, { depositId: row.id, asset: row.asset, ...amounts });
    // Someone has to get the money back or write it off: a case, never a negative client balance.
    if (row.client_id && this.cases) {
      await this.cases.open(q, { kind: 'reorg_shortfall', clientId: row.client_id, actor: `scanner:${this.chain}`,
        summary: `a reorg took back deposit ${row.txid}:${row.output_index ?? ''} (${row.asset}) after the client had spent it: ${short.entitlement} base units booked to house suspense`,
        details: { depositId: row.id, chain: row.chain, txid: row.txid, asset: row.asset, entryId, reversalEntryId, ...amounts } });
    } else if (row.client_id) {
      this.log.error({ depositId: row.id, ...amounts }, 'ALARM: reorg shortfall and no case service to open a case');
    }
  }
}
