// Our own Bitcoin UTXO set (coin selection never depends on a node's address index). The wallets
// context owns the coins; the deposit scanner adds and drops them, withdrawals reserve, spend and
// free them, and the change of a withdrawal comes back as a coin. Only this file writes `utxos`.
import type { Queryable } from '../platform/tx.ts';

export interface Coin { txid: string; vout: number; value: bigint; address: string; keyId: string }

export class CoinStore {
  /** A credited deposit output becomes a coin (again, if a reorg had dropped it). */
  async addDeposit(q: Queryable, coin: Coin & { walletId: string }): Promise<void> {
    await q.query(
      `insert into utxos (txid, vout, wallet_id, address, key_id, value, status, origin)
       values ($1, $2, $3, $4, $5, $6, 'unspent', 'deposit')
       on conflict (txid, vout) do update set status = 'unspent' where utxos.status = 'gone'`,
      [coin.txid, coin.vout, coin.walletId, coin.address, coin.keyId, coin.value.toString()]);
  }

  /** A reorg took the deposit away: its coin is gone (unless a withdrawal already holds it). */
  async dropDeposit(q: Queryable, txid: string, vout: number): Promise<void> {
    await q.query(`update utxos set status = 'gone' where txid = $1 and vout = $2 and status = 'unspent'`, [txid, vout]);
  }

  /** The wallet's unspent coins, largest first, locked for the caller's transaction (coin selection). */
  async unspentForUpdate(q: Queryable, walletId: string, limit: number): Promise<Coin[]> {
    const { rows } = await q.query<{ txid: string; vout: number; value: bigint; address: string; key_id: string }>(
      `select txid, vout, value, address, key_id from utxos where wallet_id = $1 and status = 'unspent'
       order by value desc, txid, vout limit $2 for update`, [walletId, limit]);
    return rows.map((r) => ({ txid: r.txid, vout: r.vout, value: r.value, address: r.address, keyId: r.key_id }));
  }

  async anyReserved(q: Queryable, walletId: string): Promise<boolean> {
    const { rows } = await q.query('select 1 from utxos where wallet_id = $1 and status = $2 limit 1', [walletId, 'reserved']);
    return rows.length > 0;
  }

  async reserve(q: Queryable, coins: { txid: string; vout: number }[], withdrawalId: string): Promise<void> {
    for (const c of coins) await q.query(`update utxos set status = 'reserved', reserved_by = $3 where txid = $1 and vout = $2`, [c.txid, c.vout, withdrawalId]);
  }

  /** The coins a withdrawal reserved. */
  async reservedBy(q: Queryable, withdrawalId: string): Promise<Coin[]> {
    const { rows } = await q.query<{ txid: string; vout: number; value: bigint; address: string; key_id: string }>(
      'select txid, vout, value, address, key_id from utxos where reserved_by = $1', [withdrawalId]);
    return rows.map((r) => ({ txid: r.txid, vout: r.vout, value: r.value, address: r.address, keyId: r.key_id }));
  }

  /** Frees the coins a withdrawal reserved and never spent (it ended before anything was sent). */
  async free(q: Queryable, withdrawalId: string): Promise<void> {
    await q.query(`update utxos set status = 'unspent', reserved_by = null where reserved_by = $1 and status = 'reserved'`, [withdrawalId]);
  }

  /** The withdrawal's transaction is final: its coins are spent and its change (if any) is a new coin. */
  async spend(q: Queryable, withdrawalId: string, change?: Coin & { walletId: string }): Promise<void> {
    await q.query(`update utxos set status = 'spent' where reserved_by = $1`, [withdrawalId]);
    if (change) {
      await q.query(`insert into utxos (txid, vout, wallet_id, address, key_id, value, status, origin) values ($1, $2, $3, $4, $5, $6, 'unspent', 'change')
                     on conflict do nothing`, [change.txid, change.vout, change.walletId, change.address, change.keyId, change.value.toString()]);
    }
  }
}
