// Stuck Bitcoin withdrawals are replaced by fee (BIP-125) on a real regtest node, through the real
// SoftHSM signer: the same coins and payment at a higher fee, committed before it is broadcast, and
// whichever of the two is mined is the one booked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Transaction } from 'bitcoinjs-lib';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

let f: WithdrawalFixture;
before(async () => { f = await startWithdrawals('bitcoin'); });
after(async () => { await f?.close(); });

const mempool = () => f.btc!.rpc.call<string[]>('getrawmempool', []);
const get = (id: string) => f.module.service.get(f.db.app, id);
const runnable = (id: string) => f.db.app.query('update withdrawals set next_run_at = now() where id = $1', [id]);
const signedTxs = async (id: string) => (await f.db.app.query<{ txid: string; raw: string; fee: string; replaces_txid: string | null }>(
  'select txid, raw, fee::text, replaces_txid from withdrawal_transactions where withdrawal_id = $1 order by id', [id])).rows;
const outpoints = (raw: string) => Transaction.fromHex(raw).ins.map((i) => `${Buffer.from(i.hash).reverse().toString('hex')}:${i.index}`).sort();
const events = async (id: string, type: string) => (await f.db.app.query('select payload from events where subject = $1 and type = $2 order by id', [id, type])).rows;

/** Ledger equals chain: the client's wallet holdings are exactly our unspent coins, each unspent on-chain. */
async function assertLedgerEqualsChain(client: string): Promise<void> {
  const { rows } = await f.db.app.query<{ txid: string; vout: number; value: bigint }>(
    `select u.txid, u.vout, u.value from utxos u join wallets w on w.id = u.wallet_id where w.client_id = $1 and u.status = 'unspent'`, [client]);
  let onChain = 0n;
  for (const u of rows) {
    assert.ok(await f.btc!.rpc.call('gettxout', [u.txid, u.vout, false]), `utxo ${u.txid}:${u.vout} is unspent on-chain`);
    onChain += u.value;
  }
  const ledger = await f.entitlement(client, 'BTC');
  assert.equal(ledger.hot + ledger.cold, onChain, 'wallet holdings = the chain');
  assert.equal(ledger.held, 0n);
}

/** A funded client with a hot BTC withdrawal of 0.001 broadcast and waiting in the mempool. */
async function stuckWithdrawal(): Promise<{ client: string; id: string; first: string }> {
  const client = await f.fundedClient('BTC', 1_000_000n, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const requested = await f.request({ clientId: client, asset: 'BTC', amount: '0.001', destination });
  const w = await f.settle(requested.id, { untilState: 'confirming' });
  assert.equal(w.state, 'confirming', show(w));
  assert.deepEqual(await mempool(), [w.txid], 'the withdrawal waits unconfirmed; the default policy does not replace it yet');
  return { client, id: w.id, first: w.txid! };
}

test('WDR RBF a stuck BTC withdrawal is replaced by fee: the same coins and payment at a higher fee, committed before broadcast; only the replacement confirms; ledger equals chain', async () => {
  const { client, id, first } = await stuckWithdrawal();
  // A worker whose policy calls the transaction stuck at once (the default waits 30 minutes).
  const impatient = f.pipelineWith({ BTC_REPLACE_AFTER_SECONDS: '0' });
  await runnable(id);
  assert.equal(await impatient.step(), true);
  let w = await get(id);
  assert.equal(w.state, 'broadcast', show(w));
  const [original, replacement] = await signedTxs(id);
  assert.ok(original && replacement, 'two signed transactions');
  assert.equal(original.txid, first);
  assert.equal(replacement.replaces_txid, first);
  assert.equal(w.txid, replacement.txid);
  assert.ok(BigInt(replacement.fee) > BigInt(original.fee), `higher fee: ${replacement.fee} > ${original.fee}`);
  assert.ok(BigInt(replacement.fee) <= w.network_fee_max, 'within the quoted and held maximum');
  assert.deepEqual(outpoints(replacement.raw), outpoints(original.raw), 'spends exactly the same coins: at most one can confirm');
  const paid = (raw: string) => Transaction.fromHex(raw).outs.map((o) => o.value);
  assert.equal(paid(replacement.raw)[0], paid(original.raw)[0], 'the same payment');
  assert.deepEqual(await mempool(), [first], 'stored first, not yet sent');

  await runnable(id);
  assert.equal(await impatient.step(), true);
  assert.deepEqual(await mempool(), [replacement.txid], 'the node replaced the original');
  w = await get(id);
  assert.equal(w.state, 'confirming');

  // Past the replacement limit the withdrawal is reported stuck, once, and nothing more is signed.
  const limited = f.pipelineWith({ BTC_REPLACE_AFTER_SECONDS: '0', WITHDRAWAL_MAX_REPLACEMENTS: '1' });
  for (let i = 0; i < 2; i++) {
    await runnable(id);
    await limited.step();
  }
  assert.equal((await signedTxs(id)).length, 2);
  assert.equal((await events(id, 'withdrawal.stuck')).length, 1);

  const done = await f.settle(id);
  assert.equal(done.state, 'completed', show(done));
  assert.equal(done.txid, replacement.txid);
  assert.equal(done.network_fee, BigInt(replacement.fee), 'the fee booked is the one paid on-chain');
  assert.equal(await f.btc!.rpc.findTransaction(first), undefined, 'the original never confirms');
  const ledger = await f.entitlement(client, 'BTC');
  assert.equal(ledger.total, 1_000_000n - 100_000n - BigInt(replacement.fee));
  await f.btc!.mine(2);
  await f.tick();
  await assertLedgerEqualsChain(client);
  const [replaced] = await events(id, 'withdrawal.replaced');
  assert.equal(replaced?.payload.replaces, first);
  const [completed] = await events(id, 'withdrawal.completed');
  assert.equal(completed?.payload.networkFee, f.assets.toDecimal('BTC', BigInt(replacement.fee)));
});

test('WDR RBF if the original is mined before its replacement is sent, the original is the withdrawal’s transaction: its fee and its change are booked', async () => {
  const { client, id, first } = await stuckWithdrawal();
  const impatient = f.pipelineWith({ BTC_REPLACE_AFTER_SECONDS: '0' });
  await runnable(id);
  await impatient.step();
  const [original, replacement] = await signedTxs(id);
  assert.ok(original && replacement);
  // A block arrives between the replacement's commit and its broadcast.
  await f.btc!.mine(1);
  const done = await f.settle(id);
  assert.equal(done.state, 'completed', show(done));
  assert.equal(done.txid, first);
  assert.equal(done.network_fee, BigInt(original.fee));
  assert.equal(await f.btc!.rpc.findTransaction(replacement.txid), undefined, 'the replacement was never accepted');
  const { rows: change } = await f.db.app.query<{ txid: string }>(`select txid from utxos where reserved_by is null and origin = 'change' and txid = any($1)`,
    [[original.txid, replacement.txid]]);
  assert.deepEqual(change.map((c) => c.txid), [first], 'the change recorded is the mined transaction’s');
  assert.equal((await f.entitlement(client, 'BTC')).total, 1_000_000n - 100_000n - BigInt(original.fee));
  await f.tick();
  await assertLedgerEqualsChain(client);
});

test('WDR RBF WDR-06 a stuck cold withdrawal is replaced under the treasury approvals already given: the signer verifies them again, nobody signs twice', async () => {
  const client = await f.fundedClient('BTC', 5_000_000n, 'cold');
  const [, bob, carol] = f.approvers;
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const requested = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination });
  const waiting = await f.settle(requested.id);
  assert.equal(waiting.state, 'approvals');
  await f.approveAs(bob!, waiting);
  await f.approveAs(carol!, waiting);
  const broadcast = await f.settle(requested.id, { untilState: 'confirming' });
  const impatient = f.pipelineWith({ BTC_REPLACE_AFTER_SECONDS: '0' });
  await runnable(broadcast.id);
  await impatient.step();
  await runnable(broadcast.id);
  await impatient.step();
  const [original, replacement] = await signedTxs(broadcast.id);
  assert.ok(replacement, 'replaced');
  assert.deepEqual(await mempool(), [replacement.txid]);
  const { rows: approvals } = await f.db.app.query('select count(*)::int as n from withdrawal_approvals where withdrawal_id = $1', [broadcast.id]);
  assert.equal(approvals[0].n, 2, 'no further approvals were asked for');
  const done = await f.settle(broadcast.id);
  assert.equal(done.state, 'completed', show(done));
  assert.equal(done.network_fee, BigInt(replacement.fee));
  assert.ok(BigInt(replacement.fee) > BigInt(original!.fee));
  assert.equal((await f.entitlement(client, 'BTC')).cold, 5_000_000n - 1_000_000n - BigInt(replacement.fee));
  await f.tick();
  await assertLedgerEqualsChain(client);
});
