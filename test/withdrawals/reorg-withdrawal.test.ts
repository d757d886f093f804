// DEP-01 / DEP-02 / SEG-05: reorgs under withdrawals, on a real bcoin regtest node.
// - A withdrawal whose transaction is orphaned before it is final goes out again (the same bytes,
//   or a replacement of the same coins) and is paid once.
// - A reorg that takes back a deposit the client has already spent never leaves the client's own
//   account negative: the shortfall is booked to house suspense and opens a case.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIRMATIONS } from '../helpers/custody.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';
import { paymentsTo } from '../helpers/bitcoin-payments.ts';

let f: WithdrawalFixture;
before(async () => { f = await startWithdrawals('bitcoin'); });
after(async () => { await f.close(); });

const accountBalance = async (kind: string, asset: string) =>
  (await f.db.app.query<{ balance: bigint }>('select balance from accounts where kind = $1 and asset = $2 and client_id is null', [kind, asset])).rows[0]!.balance;

test('DEP-01 a withdrawal whose transaction is orphaned before it is final is sent again and paid once', async () => {
  const client = await f.fundedClient('BTC', 20_000_000n, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const startHeight = await f.btc!.rpc.getBlockCount();
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination });
  const sent = await f.settle(w.id, { untilState: 'confirming' });
  await f.btc!.mine(1);
  await f.db.app.query('update withdrawals set next_run_at = now() where id = $1', [w.id]);
  await f.module.pipeline!.drain(10);
  assert.equal((await f.module.service.get(f.db.app, w.id)).confirmations, 1, 'mined once');
  await f.btc!.reorg(1); // its block is orphaned; the new branch is longer
  await f.tick();
  const done = await f.settle(w.id);
  assert.equal(done.state, 'completed', show({ code: done.failure_code, detail: done.failure_detail }));
  const payments = await paymentsTo(f.btc!.rpc, destination, startHeight);
  assert.deepEqual(payments.map((p) => [p.txid, p.where]), [[sent.txid, 'block']], 'one payment, the withdrawal\'s own transaction');
  assert.equal((await f.entitlement(client, 'BTC')).held, 0n);
});

test('DEP-01 SEG-05 a reorg takes back a deposit the client already withdrew: the client account stays ≥ 0, the shortfall is in house suspense with a case, the withdrawal is paid once', async () => {
  const client = await f.fundedClient('BTC', 1_000_000n, 'hot');
  const { rows: [deposit] } = await f.db.app.query<{ id: string; block_height: number; txid: string }>(
    'select id, block_height, txid from deposits where client_id = $1', [client]);
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const startHeight = await f.btc!.rpc.getBlockCount();
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.007', destination });
  const done = await f.settle(w.id);
  assert.equal(done.state, 'completed', show({ code: done.failure_code, detail: done.failure_detail }));
  const suspenseBefore = await accountBalance('house_suspense', 'BTC');
  // Orphan every block from the deposit's up: the deposit and the withdrawal leave the chain.
  const tip = await f.btc!.rpc.getBlockCount();
  const depth = tip - deposit!.block_height + 1;
  await f.btc!.reorg(depth);
  await f.tick();
  const after = await f.entitlement(client, 'BTC');
  assert.ok(after.total >= 0n && after.hot >= 0n && after.available >= 0n, `the client's own accounts never go negative: ${show(after)}`);
  const { rows: shortfalls } = await f.db.app.query(`select payload from events where type = 'deposit.reversal_shortfall' and subject = $1`, [deposit!.id]);
  assert.equal(shortfalls.length, 1, 'a shortfall was recorded');
  const shortfall = BigInt((shortfalls[0].payload as { shortEntitlementBaseUnits: string }).shortEntitlementBaseUnits);
  assert.ok(shortfall > 0n, 'the client had spent part of the deposit');
  assert.equal(await accountBalance('house_suspense', 'BTC'), suspenseBefore - shortfall, 'the shortfall sits in house suspense');
  const { rows: cases } = await f.db.app.query<{ kind: string; status: string; details: Record<string, string> }>(
    `select kind, status, details from cases where client_id = $1`, [client]);
  assert.deepEqual(cases.map((c) => [c.kind, c.status]), [['reorg_shortfall', 'open']], 'a case to recover or write it off');
  assert.equal(cases[0]!.details.depositId, deposit!.id);
  // Whatever the new branch holds, the withdrawal's payment exists once at most, never twice.
  await f.btc!.mine(CONFIRMATIONS);
  await f.tick();
  await f.module.pipeline!.drain(20);
  const payments = await paymentsTo(f.btc!.rpc, destination, startHeight);
  assert.ok(payments.length <= 1 && payments.every((p) => p.txid === done.txid), `paid once at most: ${show(payments)}`);
  const totals = await f.ledger.controlTotals(f.db.app);
  assert.ok(totals.every((t) => t.total === 0n), `no asset created or lost: ${show(totals)}`);
});
