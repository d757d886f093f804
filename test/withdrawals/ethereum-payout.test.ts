// The Ethereum payout adapter on its own, against a real Hardhat chain, the SoftHSM signer and
// Postgres (KEY-08, WDR-03): the nonce manager signs one transaction per address at a time (a
// session lock held across the signer call, never a database transaction), records the nonce the
// signed transaction carries together with the transaction, and a replacement keeps that nonce
// with both fees raised.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { inTransaction } from '../../src/platform/tx.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { intentHash } from '../../signer/src/intent.ts';
import { parseEip1559 } from '../../src/chains/ethereum/tx.ts';
import { EthereumPayout } from '../../src/withdrawals/payout/ethereum-payout.ts';
import type { SignIo } from '../../src/withdrawals/payout/payout.ts';
import { WithdrawalStore, transition, type WithdrawalRow } from '../../src/withdrawals/withdrawal-store.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

let f: WithdrawalFixture;
let payout: EthereumPayout;
const store = new WithdrawalStore();
before(async () => {
  f = await startWithdrawals('ethereum');
  payout = new EthereumPayout({ rpc: f.eth!.rpc, chainId: 31337n, wallets: f.wallets, ledger: f.ledger, signer: f.signerClient, store, db: f.db.app,
    log: createLogger('silent'), settings: { ethPriorityFeeWei: 10n ** 9n, ethMaxFeePerGasCapWei: 500n * 10n ** 9n, erc20GasLimit: 100_000n, intentTtlMs: 3600_000 } });
});
after(async () => { await f.close(); });

/** A hot ETH withdrawal with its intent fixed by the adapter, in `signing` as the pipeline leaves it. */
async function prepared(): Promise<WithdrawalRow> {
  const client = await f.fundedClient('ETH', 10n ** 17n, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const requested = await f.request({ clientId: client, asset: 'ETH', amount: '0.01', destination });
  await inTransaction(f.db.app, (q) => store.set(q, requested.id, { source_tier: 'hot' }));
  const row = (await store.get(f.db.app, requested.id))!;
  const asset = f.assets.get('ETH');
  const plan = await inTransaction(f.db.app, async (q) => payout.prepare(q, row, asset, {
    intentId: row.id, asset: 'ETH', clientId: row.client_id, initiator: 'client-user-1', purpose: 'withdrawal', expiresAt: new Date(Date.now() + 3600_000).toISOString() },
  await payout.gather(row)));
  await inTransaction(f.db.app, async (q) => {
    await store.set(q, row.id, { intent: plan.intent as unknown as Record<string, unknown>, intent_hash: intentHash(plan.intent), build: plan.build });
    await transition(q, row, 'signing');
  });
  return (await store.get(f.db.app, row.id))!;
}

/** What the pipeline gives an adapter while it signs, over the real store and signer. */
function io(session: pg.PoolClient, w: WithdrawalRow): SignIo {
  return {
    session,
    record: async (work) => { await inTransaction(f.db.app, async (q) => work(q as pg.PoolClient, (await store.lock(q, w.id))!)); return true; },
    signWithdrawal: (transaction) => f.signerClient.sign({ requestId: w.id, intent: w.intent, transaction, approvals: [] }),
    store: async (signed, alsoRecord) => {
      await inTransaction(f.db.app, async (q) => {
        if (alsoRecord) await alsoRecord(q as pg.PoolClient);
        await store.addSignedTransaction(q, w, signed);
        await transition(q, w, 'broadcast', { txid: signed.txid });
      });
      return true;
    },
    wait: (code, detail, seconds) => store.waitFor(f.db.app, w.id, seconds, { code, detail }),
  };
}

test('KEY-08 the nonce manager signs one transaction per address at a time and records the nonce it carries with the transaction', async () => {
  const w = await prepared();
  const from = (w.build as { from: string }).from;
  const other = await f.db.app.connect();
  const session = await f.db.app.connect();
  try {
    // Another worker is signing from this address: this one waits (a transient refusal), nothing signed or stored.
    await other.query('select pg_advisory_lock(hashtextextended($1, 7264))', [`eth-nonce/${from}`]);
    await assert.rejects(payout.sign(w, f.assets.get('ETH'), io(session, w)), (e: Error & { code?: string; data?: { transient?: boolean } }) =>
      e.code === 'SIGNER_UNAVAILABLE' && e.data?.transient === true);
    assert.equal((await store.signedTransactions(f.db.app, w.id)).length, 0);
    await other.query('select pg_advisory_unlock(hashtextextended($1, 7264))', [`eth-nonce/${from}`]);
    await payout.sign(w, f.assets.get('ETH'), io(session, w));
    const [signed] = await store.signedTransactions(f.db.app, w.id);
    assert.ok(signed, 'signed and stored');
    const tx = parseEip1559(signed.raw);
    const { rows } = await f.db.app.query<{ next_nonce: number }>('select next_nonce from eth_nonces where address = $1', [from]);
    assert.deepEqual([tx.nonce, rows[0]!.next_nonce], [0, 1], 'the nonce of the stored transaction, recorded with it');
    // The session let go of the address: another signing could take it now.
    const { rows: free } = await other.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtextextended($1, 7264)) as ok', [`eth-nonce/${from}`]);
    assert.equal(free[0]!.ok, true, 'the nonce lock was released after the record');
    await other.query('select pg_advisory_unlock(hashtextextended($1, 7264))', [`eth-nonce/${from}`]);

    // A replacement: the same nonce, both fees raised, never above the withdrawal's cap.
    const plan = await payout.replacement(f.db.app, (await store.get(f.db.app, w.id))!, f.assets.get('ETH'), signed);
    assert.ok(typeof plan !== 'string', show(plan));
    const { Transaction } = await import('ethers');
    const bumped = Transaction.from(plan.transaction.ethereumTx!);
    assert.equal(bumped.nonce, tx.nonce);
    assert.ok(bumped.maxFeePerGas! > tx.maxFeePerGas && bumped.maxPriorityFeePerGas! > tx.maxPriorityFeePerGas, 'both fees raised');
    assert.ok(plan.fee <= w.network_fee_max);
  } finally {
    other.release();
    session.release();
  }
});
