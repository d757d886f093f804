// Quotes and completion on a real bcoin regtest node with a disclosed service fee: confirming needs
// a live quote (WDR-02); completion comes at the Nth confirmation and not before, and what the
// client is told is the fee really paid on-chain plus the disclosed service fee (WDR-07).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Transaction } from 'bitcoinjs-lib';
import { inTransaction } from '../../src/platform/tx.ts';
import { CONFIRMATIONS } from '../helpers/custody.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

const SERVICE_FEE = 10_000n; // 0.0001 BTC
let f: WithdrawalFixture;
before(async () => { f = await startWithdrawals('bitcoin', { WITHDRAWAL_SERVICE_FEES: 'BTC=0.0001' }); });
after(async () => { await f.close(); });

const completedEvents = async (id: string) => (await f.db.app.query<{ payload: Record<string, string> }>(
  `select payload from events where type = 'withdrawal.completed' and subject = $1`, [id])).rows;

test('WDR-07 completion fires at the Nth confirmation and not before; its fee is the on-chain fee plus the disclosed service fee', async () => {
  const client = await f.fundedClient('BTC', 50_000_000n, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const quote = await inTransaction(f.db.app, (q) => f.module.service.quote(q, { clientId: client, asset: 'BTC', amount: '0.005', destination, actor: 'test' }));
  assert.equal(quote.fees.serviceFee, '0.0001', 'the service fee is disclosed in the quote');
  assert.equal(quote.totalMax, '0.0071', 'amount + maximum network fee + service fee');

  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.005', destination });
  assert.equal((await f.entitlement(client, 'BTC')).held, 500_000n + 200_000n + SERVICE_FEE, 'the hold covers the service fee too');
  const broadcast = await f.settle(w.id, { untilState: 'confirming' });
  for (let mined = 0; mined < CONFIRMATIONS; mined++) {
    await f.module.pipeline!.drain(20);
    const now = await f.module.service.get(f.db.app, w.id);
    assert.equal(now.state, 'confirming', `after ${mined} blocks: ${show(now.failure_detail)}`);
    assert.equal((await completedEvents(w.id)).length, 0, `no completion event after ${mined} of ${CONFIRMATIONS} confirmations`);
    await f.btc!.mine(1);
    await f.db.app.query('update withdrawals set next_run_at = now() where id = $1', [w.id]);
  }
  await f.module.pipeline!.drain(20);
  const done = await f.module.service.get(f.db.app, w.id);
  assert.equal(done.state, 'completed', show(done.failure_detail));
  assert.equal(done.confirmations, CONFIRMATIONS);
  assert.equal(done.txid, broadcast.txid);

  // The fee really paid: what the inputs held minus what the outputs pay, from the mined transaction.
  const tx = Transaction.fromHex(await f.btc!.rpc.call<string>('getrawtransaction', [done.txid, false]));
  const inputs = (done.build as { inputs: { value: string }[] }).inputs.reduce((sum, i) => sum + BigInt(i.value), 0n);
  const onChainFee = inputs - tx.outs.reduce((sum, o) => sum + BigInt(o.value), 0n);
  assert.equal(done.network_fee, onChainFee);
  const [event] = await completedEvents(w.id);
  assert.ok(event, 'withdrawal.completed fired once');
  assert.equal(f.assets.fromDecimal('BTC', event.payload.networkFee!) + f.assets.fromDecimal('BTC', event.payload.serviceFee!),
    onChainFee + SERVICE_FEE, 'the confirmation states the on-chain fee plus the disclosed service fee');
  assert.equal(event.payload.serviceFee, '0.0001');

  // The client paid amount + network fee + service fee; its wallet on-chain holds all but amount + network fee
  // (the service fee is now house money in the client's wallet, moved by settlement later).
  const after = await f.entitlement(client, 'BTC');
  assert.equal(after.total, 50_000_000n - 500_000n - onChainFee - SERVICE_FEE);
  assert.equal(after.hot, 50_000_000n - 500_000n - onChainFee);
  assert.equal(after.held, 0n);
  const { rows: [fees] } = await f.db.app.query(`select balance from accounts where kind = 'house_fees' and asset = 'BTC'`);
  assert.equal(fees.balance, SERVICE_FEE, 'the service fee is booked as house revenue');
});

test('WDR-02 confirming without a quote, with another client’s quote, or after the quote expired is refused; nothing is held', async () => {
  const client = await f.fundedClient('BTC', 10_000_000n, 'hot');
  const other = await f.fundedClient('BTC', 10_000_000n, 'hot');
  const destination = f.externalAddress();
  const confirm = (quoteId: string, clientId = client) => inTransaction(f.db.app, (q) => f.module.service.confirm(q, {
    quoteId, clientId, acknowledgedWarningId: 'irreversible-v1', consent: { method: 'webauthn', reference: 'a-1', at: new Date().toISOString() },
    destinationType: 'self_hosted', beneficiary: { name: 'Self' }, initiatorUserId: 'u-1', idempotencyId: `c-${quoteId}-${clientId}`, actor: 'test' }));
  await assert.rejects(confirm('00000000-0000-4000-8000-000000000000'), (e: { code?: string }) => e.code === 'QUOTE_NOT_FOUND');
  const quote = await inTransaction(f.db.app, (q) => f.module.service.quote(q, { clientId: client, asset: 'BTC', amount: '0.01', destination, actor: 'test' }));
  await assert.rejects(confirm(quote.quoteId, other), (e: { code?: string }) => e.code === 'QUOTE_NOT_FOUND', 'a quote is for its own client only');
  await f.db.owner.query(`update withdrawal_quotes set expires_at = now() - interval '1 second' where id = $1`, [quote.quoteId]);
  await assert.rejects(confirm(quote.quoteId), (e: { code?: string }) => e.code === 'QUOTE_EXPIRED');
  for (const id of [client, other]) assert.equal((await f.entitlement(id, 'BTC')).held, 0n, 'nothing held');
  assert.equal((await f.db.app.query('select count(*)::int as n from withdrawals where client_id = any($1)', [[client, other]])).rows[0].n, 0);
});

test('WDR-07 CONFIG a service fee for an unknown asset, or with more decimals than the asset has, stops the start naming WITHDRAWAL_SERVICE_FEES', async () => {
  const { serviceFees } = await import('../../src/withdrawals/withdrawal-module.ts');
  assert.deepEqual(serviceFees(f.assets, 'BTC=0.0001,USDT=1'), { BTC: 10_000n, USDT: 1_000_000n });
  assert.deepEqual(serviceFees(f.assets, ''), {});
  assert.throws(() => serviceFees(f.assets, 'DOGE=1'), /WITHDRAWAL_SERVICE_FEES: DOGE=1/);
  assert.throws(() => serviceFees(f.assets, 'BTC=0.000000001'), /WITHDRAWAL_SERVICE_FEES: BTC=0.000000001/);
});

test('WDR-06 approvals expire: a cold withdrawal short of its quorum when its intent expires fails APPROVALS_EXPIRED; hold and coins are freed', async () => {
  const client = await f.fundedClient('BTC', 20_000_000n, 'cold');
  const [, bob] = f.approvers;
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const waiting = await f.settle((await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination })).id);
  assert.deepEqual([waiting.state, waiting.approvals_required], ['approvals', 2], show(waiting.failure_detail));
  await f.approveAs(bob!, waiting);
  const { rows: reserved } = await f.db.app.query(`select count(*)::int as n from utxos where reserved_by = $1`, [waiting.id]);
  assert.ok(reserved[0].n > 0, 'coins are reserved while it waits');
  // A day later the intent the approvals cover has expired.
  await f.db.owner.query(`update withdrawals set intent = jsonb_set(intent, '{expiresAt}', to_jsonb($2::text)), next_run_at = now() where id = $1`,
    [waiting.id, new Date(Date.now() - 1000).toISOString()]);
  await f.module.pipeline!.drain(10);
  const expired = await f.module.service.get(f.db.app, waiting.id);
  assert.deepEqual([expired.state, expired.failure_code, expired.signed_tx], ['failed', 'APPROVALS_EXPIRED', null], show(expired.failure_detail));
  assert.equal((await f.entitlement(client, 'BTC')).held, 0n, 'the hold is released');
  assert.equal((await f.db.app.query(`select count(*)::int as n from utxos where reserved_by = $1 and status = 'reserved'`, [waiting.id])).rows[0].n, 0, 'the coins are free again');
  await assert.rejects(f.approveAs(f.approvers[2]!, expired), /not waiting for approvals/, 'a late approval is refused');
});
