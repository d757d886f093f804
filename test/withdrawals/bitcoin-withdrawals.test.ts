// Withdrawals on a real bcoin regtest node, signed by the real signer on SoftHSM2.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { inTransaction } from '../../src/platform/tx.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

let f: WithdrawalFixture;
before(async () => { f = await startWithdrawals('bitcoin'); });
after(async () => { await f.close(); });

async function onChainOutput(txid: string, address: string): Promise<bigint> {
  const tx = await f.btc!.rpc.call<{ vout: { value: number; n: number; scriptPubKey: { addresses?: string[]; address?: string } }[] }>('getrawtransaction', [txid, true]);
  const raw = await f.btc!.rpc.call<string>('getrawtransaction', [txid, false]);
  const { Transaction } = await import('bitcoinjs-lib');
  const parsed = Transaction.fromHex(raw);
  const { decodeAddress } = await import('../../src/chains/bitcoin/address.ts');
  const script = Buffer.from(decodeAddress(address, 'bcoin-regtest').script).toString('hex');
  void tx;
  return parsed.outs.filter((o) => Buffer.from(o.script).toString('hex') === script).reduce((s, o) => s + BigInt(o.value), 0n);
}

test('WDR-03 WDR-07 a hot BTC withdrawal completes end to end; ledger and chain agree to the satoshi, fee included', async () => {
  const client = await f.fundedClient('BTC', 100_000_000n, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination });
  const held = await f.entitlement(client, 'BTC');
  assert.equal(held.held, 1_000_000n + 200_000n, 'amount + maximum fee held');
  const done = await f.settle(w.id);
  assert.equal(done.state, 'completed', show(done));
  assert.equal(done.source_tier, 'hot');
  assert.equal(await onChainOutput(done.txid!, destination), 1_000_000n, 'the destination got the amount');
  const fee = done.network_fee!;
  assert.ok(fee > 0n && fee <= 200_000n);
  const after = await f.entitlement(client, 'BTC');
  assert.deepEqual(after, { total: 100_000_000n - 1_000_000n - fee, held: 0n, available: 100_000_000n - 1_000_000n - fee,
    hot: 100_000_000n - 1_000_000n - fee, cold: 0n });
  // The scanner sees the change output land in our own address: it is not a deposit.
  await f.btc!.mine(3);
  await f.tick();
  assert.equal((await f.db.app.query('select count(*)::int as n from deposits where txid = $1', [done.txid])).rows[0].n, 0, 'own change is never a deposit');
  assert.deepEqual(await f.entitlement(client, 'BTC'), after, 'scanning the withdrawal changes nothing');
  const { rows: change } = await f.db.app.query(`select value, status from utxos where txid = $1`, [done.txid]);
  assert.equal(change[0]?.value, 100_000_000n - 1_000_000n - fee, 'change came back to the same wallet as our own UTXO');
  const { rows: events } = await f.db.app.query(`select payload from events where type = 'withdrawal.completed' and subject = $1`, [w.id]);
  assert.equal(events[0].payload.txid, done.txid);
  assert.equal(events[0].payload.amount, '0.01');
});

test('WDR-06 a cold BTC withdrawal waits for 2 approvals; the initiator cannot approve; then it completes', async () => {
  const client = await f.fundedClient('BTC', 50_000_000n, 'cold');
  const [alice, bob, carol] = f.approvers;
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination, initiator: alice!.userId });
  const waiting = await f.settle(w.id);
  assert.equal(waiting.state, 'approvals', show({ failure: waiting.failure_code, detail: waiting.failure_detail }));
  assert.equal(waiting.source_tier, 'cold');
  assert.equal(waiting.approvals_required, 2);
  await assert.rejects(f.approveAs(alice!, waiting), /initiator/);
  await f.approveAs(bob!, waiting);
  await f.module.pipeline!.drain(10);
  assert.equal((await f.module.service.get(f.db.app, w.id)).state, 'approvals', 'one approval is not enough');
  await f.approveAs(carol!, waiting);
  const done = await f.settle(w.id);
  assert.equal(done.state, 'completed', show(done));
  assert.equal((await f.entitlement(client, 'BTC')).cold, 50_000_000n - 1_000_000n - done.network_fee!);
});

test('KEY-08 WDR-06 approvals for one destination do not let a compromised API send elsewhere: the signer refuses', async () => {
  const client = await f.fundedClient('BTC', 30_000_000n, 'cold');
  const [, bob, carol] = f.approvers;
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination: f.externalAddress() });
  const waiting = await f.settle(w.id);
  await f.approveAs(bob!, waiting);
  await f.approveAs(carol!, waiting);
  // The compromised API swaps the destination inside the approved intent.
  const attacker = f.externalAddress();
  await f.db.owner.query(`update withdrawals set intent = jsonb_set(intent, '{outputs,0,address}', to_jsonb($2::text)) where id = $1`, [w.id, attacker]);
  const done = await f.settle(w.id);
  assert.equal(done.state, 'rejected');
  assert.match(done.failure_code!, /^SIGNER_/);
  assert.equal(done.signed_tx, null, 'nothing was signed');
  assert.equal((await f.entitlement(client, 'BTC')).held, 0n, 'the hold was released');
});

test('SEG-05 WDR-03 two withdrawals of 60 % of a balance each: exactly one is accepted', async () => {
  const client = await f.fundedClient('BTC', 10_000_000n, 'hot');
  const results = await Promise.allSettled([0, 1].map(() => f.request({ clientId: client, asset: 'BTC', amount: '0.06', destination: f.externalAddress() })));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.equal(refused.reason.code, 'INSUFFICIENT_FUNDS');
});

test('TR-02 DEP-05 at USD 1,000 or more a self-hosted destination needs a valid ownership proof; with one it goes', async () => {
  const client = await f.fundedClient('BTC', 20_000_000n, 'hot');
  const unproven = f.externalKeyAddress();
  await f.bookAddress(client, unproven.address);
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.02', destination: unproven.address }); // USD 1,300
  const refused = await f.settle(w.id);
  assert.equal(refused.state, 'rejected');
  assert.equal(refused.failure_code, 'OWNERSHIP_PROOF_REQUIRED');
  assert.equal((await f.entitlement(client, 'BTC')).held, 0n);
  // A proof signed by another key than the destination's is refused too.
  const other = f.externalKeyAddress();
  const forged = await f.request({ clientId: client, asset: 'BTC', amount: '0.02', destination: unproven.address, proveWith: other.privateKey });
  assert.equal((await f.settle(forged.id)).failure_code, 'OWNERSHIP_PROOF_REQUIRED');
  const proven = await f.request({ clientId: client, asset: 'BTC', amount: '0.02', destination: unproven.address, proveWith: unproven.privateKey });
  const review = await f.settle(proven.id);
  assert.equal(review.state, 'approvals', 'policy: a KZ-resident retail client sending USD 1,000+ to a self-hosted wallet gets one review');
  assert.deepEqual((review.policy as { reasons: string[] }).reasons, ['SELF_HOSTED_REVIEW']);
  assert.equal(review.approvals_required, 1);
  await f.approveAs(f.approvers[1]!, review);
  const done = await f.settle(proven.id);
  assert.equal(done.state, 'completed', show({ state: done.state, failure: done.failure_code, detail: done.failure_detail }));
  assert.equal(done.travel_rule_tier, 'full');
  assert.equal(done.travel_rule_status, 'self_hosted_info_held');
  const { rows } = await f.db.owner.query(`select travel_rule_payload::text as p from withdrawals where id = $1`, [proven.id]);
  assert.ok(!rows[0].p.includes('Aigerim'), 'Travel Rule data is stored encrypted (SEG-11)');
});

test('WDR-10 POLICY a withdrawal of an asset held custody-only is denied by policy and nothing is held afterwards', async () => {
  const client = await f.fundedClient('BTC', 5_000_000n, 'hot');
  await inTransaction(f.db.app, (q) => f.assets.update(q, 'BTC', { state: 'custody_only' }));
  try {
    const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.001', destination: f.externalAddress() });
    const done = await f.settle(w.id);
    assert.equal(done.state, 'rejected');
    assert.equal(done.failure_code, 'POLICY_DENIED');
    assert.match(done.failure_detail!, /fork-asset-not-approved/);
    assert.equal((await f.entitlement(client, 'BTC')).held, 0n);
  } finally {
    await inTransaction(f.db.app, (q) => f.assets.update(q, 'BTC', { state: 'admitted' }));
  }
});

test('WAL-03 POLICY the 24 h velocity rule sends a withdrawal to approval once the day adds up to USD 20,000', async () => {
  const client = await f.fundedClient('BTC', 20_000_000n, 'hot');
  for (let i = 0; i < 2; i++) { // one coin per withdrawal, so none waits for another's change
    const a = await inTransaction(f.db.app, (q) => f.wallets.depositAddress(q, client, 'bitcoin', 'hot'));
    await f.btc!.faucet(a.address, 20_000_000n, { confirmations: 3 });
  }
  await f.tick();
  const outcomes: { state: string; reasons: string[] }[] = [];
  for (let i = 0; i < 3; i++) { // 0.15 BTC = USD 9,750 each: under every single-withdrawal threshold
    const destination = f.externalKeyAddress();
    await f.bookAddress(client, destination.address);
    const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.15', destination: destination.address, proveWith: destination.privateKey });
    const settled = await f.settle(w.id, { untilState: 'approvals' });
    outcomes.push({ state: settled.state, reasons: (settled.policy as { reasons: string[] }).reasons });
    if (settled.state === 'approvals' && settled.approvals_required === 1) {
      await f.approveAs(f.approvers[1]!, settled); // the self-hosted review every USD 1,000+ transfer of this client gets
    }
  }
  assert.deepEqual(outcomes.map((o) => o.reasons.includes('DAILY_VELOCITY')), [false, false, true], show(outcomes));
});

test('DEP-08 a withdrawal to another client’s deposit address is a deposit for that client, and the sender’s change is not', async () => {
  const alice = await f.fundedClient('BTC', 10_000_000n, 'hot');
  const bob = await f.newClient();
  const bobAddress = await inTransaction(f.db.app, (q) => f.wallets.depositAddress(q, bob, 'bitcoin', 'cold'));
  await f.bookAddress(alice, bobAddress.address);
  const w = await f.request({ clientId: alice, asset: 'BTC', amount: '0.005', destination: bobAddress.address });
  const done = await f.settle(w.id);
  assert.equal(done.state, 'completed', show({ state: done.state, failure: done.failure_code, detail: done.failure_detail }));
  await f.btc!.mine(3);
  await f.tick();
  assert.equal((await f.entitlement(bob, 'BTC')).total, 500_000n, 'bob is credited exactly the amount');
  assert.equal((await f.entitlement(alice, 'BTC')).total, 10_000_000n - 500_000n - done.network_fee!, 'alice is not credited her change');
  const { rows } = await f.db.app.query('select client_id from deposits where txid = $1', [done.txid]);
  assert.deepEqual(rows.map((r) => r.client_id), [bob]);
});
