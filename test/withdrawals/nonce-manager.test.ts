// The Ethereum nonce manager on a real Hardhat chain through the real SoftHSM signer. A nonce is
// taken only when a transaction is signed and stored, so a withdrawal that ends before signing
// (cancelled, refused by the signer, rejected) leaves no gap: a gap would leave every later
// transaction from that address waiting for ever, and no fee bump of the same nonce could free it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseEip1559 } from '../../src/chains/ethereum/tx.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

let f: WithdrawalFixture;
before(async () => { f = await startWithdrawals('ethereum'); });
after(async () => { await f.close(); });

const ETHER = 10n ** 18n;
const nonceOf = (raw: string) => parseEip1559(raw).nonce;
const sourceAddress = async (clientId: string, tier: 'hot' | 'cold') => (await f.db.app.query<{ address: string }>(
  `select a.address from wallet_addresses a join wallets w on w.id = a.wallet_id where w.client_id = $1 and w.chain = 'ethereum' and w.tier = $2`,
  [clientId, tier])).rows[0]!.address;

test('WDR-06 ETH nonce manager: a cold withdrawal cancelled while it waits for approvals leaves no nonce gap; the next one from the same wallet is mined', async () => {
  const client = await f.fundedClient('ETH', ETHER, 'cold');
  const [, bob, carol] = f.approvers;
  const first = await f.settle((await f.request({ clientId: client, asset: 'ETH', amount: '0.1', destination: f.externalAddress() })).id);
  const second = await f.settle((await f.request({ clientId: client, asset: 'ETH', amount: '0.2', destination: f.externalAddress() })).id);
  assert.deepEqual([first.state, second.state], ['approvals', 'approvals'], show([first.failure_detail, second.failure_detail]));
  await inTransaction(f.db.app, (q) => f.module.service.cancel(q, first.id, 'test'));
  const { rows: cancelled } = await f.db.app.query(`select payload from events where type = 'withdrawal.cancelled' and subject = $1`, [first.id]);
  assert.deepEqual(cancelled.map((e) => e.payload), [{ withdrawalId: first.id }], 'the exchange hears of the cancellation');
  assert.equal((await f.entitlement(client, 'ETH')).held, 2n * 10n ** 17n + 10n ** 16n, 'only the second withdrawal is still held');
  await f.approveAs(bob!, second);
  await f.approveAs(carol!, second);
  const done = await f.settle(second.id);
  assert.equal(done.state, 'completed', show({ state: done.state, code: done.failure_code, detail: done.failure_detail }));
  const from = await sourceAddress(client, 'cold');
  assert.equal(nonceOf(done.signed_tx!), 0, 'the cancelled withdrawal took no nonce');
  assert.equal(await f.eth!.rpc.getNonce(from, 'latest'), 1);
  assert.equal((await f.entitlement(client, 'ETH')).cold, await f.eth!.rpc.getBalance(from, 'latest'), 'ledger equals chain');
});

test('KEY-08 ETH nonce manager: a hot withdrawal the signer refuses takes no nonce; the next withdrawal uses it and is mined', async () => {
  const client = await f.fundedClient('ETH', ETHER, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const refused = await f.request({ clientId: client, asset: 'ETH', amount: '0.1', destination });
  await f.stepUntil(refused.id, 'signing');
  assert.equal((await f.module.service.get(f.db.app, refused.id)).state, 'signing');
  // The compromised API swaps the destination inside the intent: the signer compares and refuses.
  await f.db.owner.query(`update withdrawals set intent = jsonb_set(intent, '{outputs,0,address}', to_jsonb($2::text)) where id = $1`,
    [refused.id, f.externalAddress()]);
  const rejected = await f.settle(refused.id);
  assert.equal(rejected.state, 'rejected', show(rejected.failure_detail));
  assert.match(rejected.failure_code!, /^SIGNER_/);
  assert.equal(rejected.signed_tx, null);

  const next = await f.settle((await f.request({ clientId: client, asset: 'ETH', amount: '0.2', destination })).id);
  assert.equal(next.state, 'completed', show({ state: next.state, code: next.failure_code, detail: next.failure_detail }));
  assert.equal(nonceOf(next.signed_tx!), 0, 'the refused withdrawal took no nonce');
  const from = await sourceAddress(client, 'hot');
  assert.equal((await f.entitlement(client, 'ETH')).hot, await f.eth!.rpc.getBalance(from, 'latest'), 'ledger equals chain');
});

test('WDR ETH nonce manager: two workers at once sign 12 withdrawals from one address; nonces 0..11, none twice, none skipped; all mined', async () => {
  const client = await f.fundedClient('ETH', ETHER, 'hot');
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    const destination = f.externalAddress();
    await f.bookAddress(client, destination);
    ids.push((await f.request({ clientId: client, asset: 'ETH', amount: '0.01', destination })).id);
  }
  const workers = [f.pipelineWith({}), f.pipelineWith({})];
  for (let round = 0; round < 200; round++) {
    await Promise.all(workers.map((p) => p.drain(50)));
    const { rows } = await f.db.app.query<{ n: number }>(`select count(*)::int as n from withdrawals where id = any($1) and state <> 'completed'`, [ids]);
    if (rows[0]!.n === 0) break;
    await f.eth!.mine(1);
    await f.db.app.query('update withdrawals set next_run_at = now() where id = any($1)', [ids]);
  }
  const { rows } = await f.db.app.query<{ state: string; raw: string }>(
    'select w.state, t.raw from withdrawals w join withdrawal_transactions t on t.withdrawal_id = w.id where w.id = any($1)', [ids]);
  assert.deepEqual(rows.map((r) => r.state), Array(12).fill('completed'), 'one signed transaction each, all completed');
  assert.deepEqual(rows.map((r) => nonceOf(r.raw)).sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i));
  const from = await sourceAddress(client, 'hot');
  assert.equal(await f.eth!.rpc.getNonce(from, 'latest'), 12);
  assert.equal((await f.entitlement(client, 'ETH')).hot, await f.eth!.rpc.getBalance(from, 'latest'), 'ledger equals chain');
});

test('WDR-03 a withdrawal whose hold has expired before signing is never signed: failed HOLD_EXPIRED, funds available, no nonce taken', async () => {
  const client = await f.fundedClient('ETH', ETHER, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const w = await f.request({ clientId: client, asset: 'ETH', amount: '0.1', destination });
  await f.stepUntil(w.id, 'signing');
  // The hold runs out (e.g. the withdrawal waited longer than the hold's lifetime for Travel Rule data).
  await f.db.owner.query(`update holds set expires_at = now() - interval '1 second' where id = $1`, [w.hold_id]);
  await f.ledger.expireHolds();
  const failed = await f.settle(w.id);
  assert.deepEqual([failed.state, failed.failure_code, failed.signed_tx], ['failed', 'HOLD_EXPIRED', null], show(failed.failure_detail));
  assert.deepEqual(await f.entitlement(client, 'ETH'), { total: ETHER, held: 0n, available: ETHER, hot: ETHER, cold: 0n });
  assert.equal((await f.db.app.query('select count(*)::int as n from withdrawal_transactions where withdrawal_id = $1', [w.id])).rows[0].n, 0);
});
