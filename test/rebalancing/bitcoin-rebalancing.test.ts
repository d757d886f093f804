// The rebalancer on a real bcoin regtest node, signed by the real signer on SoftHSM2: sweeps run
// through the withdrawal pipeline into the same client's cold wallet, refills wait for treasury and
// are refused above the cap, and a cross-client move is refused by the signer (HOT-03).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Transaction } from 'bitcoinjs-lib';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import type { DomainError } from '../../src/platform/errors.ts';
import { createIncidentService } from '../../src/incidents/index.ts';
import { scriptToAddress } from '../../src/chains/bitcoin/address.ts';
import { createRebalancing, type RebalancingModule } from '../../src/rebalancing/index.ts';
import type { WithdrawalRow } from '../../src/withdrawals/withdrawal-service.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

let f: WithdrawalFixture;
let r: RebalancingModule;
const config = loadConfig({ AMANAT_ENV: 'test' });

before(async () => {
  f = await startWithdrawals('bitcoin');
  r = createRebalancing({ config, pool: f.db.app, assets: f.assets, withdrawals: f.module.service, wallets: f.wallets, incidents: createIncidentService(config),
    log: createLogger(process.env.AMANAT_TEST_LOG ?? 'silent') });
});
after(async () => { await f.close(); });

/** Who owns each output of a transaction on the chain: the wallet (client, tier) behind its address, or nobody. */
async function outputOwners(txid: string): Promise<{ value: bigint; clientId: string | null; tier: string | null; address: string }[]> {
  const raw = await f.btc!.rpc.call<string>('getrawtransaction', [txid, false]);
  const out = [];
  for (const o of Transaction.fromHex(raw).outs) {
    const address = scriptToAddress(o.script, 'bcoin-regtest') ?? '';
    const { rows } = await f.db.app.query<{ client_id: string | null; tier: string }>(
      'select w.client_id, w.tier from wallet_addresses a join wallets w on w.id = a.wallet_id where a.address = $1', [address]);
    out.push({ value: BigInt(o.value), clientId: rows[0]?.client_id ?? null, tier: rows[0]?.tier ?? null, address });
  }
  return out;
}

async function fundTier(clientId: string, tier: 'hot' | 'cold', amount: bigint): Promise<void> {
  const a = await inTransaction(f.db.app, (q) => f.wallets.depositAddress(q, clientId, 'bitcoin', tier));
  await f.btc!.faucet(a.address, amount, { confirmations: 3 });
  await f.tick();
}

const sweepsOf = (created: WithdrawalRow[], clientId: string) => created.filter((w) => w.client_id === clientId && w.kind === 'sweep');

test('HOT-02 HOT-03 SEG-04 deposits above the alert level are swept into the same client\'s cold wallet in one batched transaction; the ratio returns to target; nothing is swept twice', async () => {
  // Alice: everything in hot (three deposits, three coins); Bob: 1/3 hot, above the 25 % alert level.
  const alice = await f.fundedClient('BTC', 700_000n, 'hot');
  await fundTier(alice, 'hot', 200_000n);
  await fundTier(alice, 'hot', 100_000n);
  const bob = await f.fundedClient('BTC', 1_000_000n, 'cold');
  await fundTier(bob, 'hot', 500_000n);
  const first = await r.rebalancer.run();
  const [aliceSweep] = sweepsOf(first.created, alice);
  const [bobSweep] = sweepsOf(first.created, bob);
  assert.ok(aliceSweep && bobSweep, show(first.failed));
  assert.equal(aliceSweep.approvals_required, 0, 'a sweep from hot needs no approvals');
  assert.equal(aliceSweep.source_tier, 'hot');
  assert.equal((await f.entitlement(alice, 'BTC')).held, aliceSweep.network_fee_max, 'only the network fee is held');
  // Asked again while they are in flight: the planner counts them and plans nothing more for these clients.
  const inFlightPlan = await r.rebalancer.plan(f.db.app);
  assert.deepEqual(inFlightPlan.moves.filter((m) => m.clientId === alice || m.clientId === bob), [], 'the moves in flight are counted');
  const again = await r.rebalancer.run();
  assert.deepEqual([...sweepsOf(again.created, alice), ...sweepsOf(again.created, bob)], [], 'the moves in flight are counted: no second sweep');
  for (const [clientId, sweep, before] of [[alice, aliceSweep, 1_000_000n], [bob, bobSweep, 1_500_000n]] as const) {
    const done = await f.settle(sweep.id);
    assert.equal(done.state, 'completed', show({ state: done.state, failure: done.failure_code, detail: done.failure_detail }));
    const outputs = await outputOwners(done.txid!);
    // Every output stays with the client: the sweep in its cold wallet, the change (if any) in its hot one.
    for (const o of outputs) assert.equal(o.clientId, clientId, `output to ${o.address} belongs to the same client`);
    const toCold = outputs.filter((o) => o.tier === 'cold');
    assert.equal(toCold.length, 1);
    assert.equal(toCold[0]!.value, sweep.amount);
    const fee = done.network_fee!;
    const after = await f.entitlement(clientId, 'BTC');
    // SEG-04: the fee came out of this client's own coins and is charged to this client, nothing else moved.
    assert.equal(after.total, before - fee);
    assert.equal(after.held, 0n);
    assert.equal(after.hot + after.cold, after.total, 'holdings equal entitlement');
    assert.ok(after.hot * 10_000n <= BigInt(config.rebalancing.targetBp) * after.total, `back to target: ${after.hot}/${after.total}`);
    // The swept coin is the client's own cold coin; the scanner takes nothing of it for a deposit.
    const { rows: coin } = await f.db.app.query(`select u.value, w.client_id, w.tier from utxos u join wallets w on w.id = u.wallet_id where u.txid = $1 and u.vout = 0`, [done.txid]);
    assert.deepEqual(coin.map((c) => [c.value, c.client_id, c.tier]), [[sweep.amount, clientId, 'cold']]);
  }
  // Alice's two hot coins went into one transaction.
  const aliceDone = await f.module.service.get(f.db.app, aliceSweep.id);
  const raw = Transaction.fromHex((await f.btc!.rpc.call<string>('getrawtransaction', [aliceDone.txid!, false])));
  assert.equal(raw.ins.length, 3, 'all the client\'s hot coins batched into one sweep (two would have paid it)');
  await f.btc!.mine(3);
  await f.tick();
  assert.equal((await f.db.app.query('select count(*)::int as n from deposits where txid = any($1)', [[aliceDone.txid]])).rows[0].n, 0);
  const plan = await r.rebalancer.plan(f.db.app);
  assert.deepEqual(plan.moves.filter((m) => m.clientId === alice || m.clientId === bob), [], 'balanced: nothing left to move');
});

test('HOT-03 an injected cross-client plan is refused by the service and by the signer; nothing is signed', async () => {
  const alice = await f.fundedClient('BTC', 700_000n, 'hot');
  const mallory = await f.newClient();
  const malloryCold = await inTransaction(f.db.app, (q) => f.wallets.depositAddress(q, mallory, 'bitcoin', 'cold'));
  // The service refuses a sweep whose destination is another client's wallet.
  await assert.rejects(inTransaction(f.db.app, (q) => f.module.service.createTierMove(q, { kind: 'sweep', clientId: alice, asset: 'BTC', amount: 100_000n,
    destination: { address: malloryCold.address, keyId: malloryCold.keyId, walletId: malloryCold.walletId }, initiator: 'test', reason: {}, actor: 'test' })),
  (e: DomainError) => e.code === 'CROSS_CLIENT_TRANSFER');
  // A compromised API rewrites a planned sweep to pay Mallory's cold wallet (address, key and wallet, consistently).
  const { created } = await r.rebalancer.run();
  const [sweep] = sweepsOf(created, alice);
  assert.ok(sweep);
  await f.db.owner.query('update withdrawals set destination = $2, destination_key_id = $3, destination_wallet_id = $4 where id = $1',
    [sweep.id, malloryCold.address, malloryCold.keyId, malloryCold.walletId]);
  const refused = await f.settle(sweep.id);
  assert.equal(refused.state, 'rejected', show({ state: refused.state, failure: refused.failure_code, detail: refused.failure_detail }));
  assert.equal(refused.failure_code, 'SIGNER_CROSS_CLIENT_TRANSFER');
  assert.equal(refused.signed_tx, null, 'nothing was signed');
  const after = await f.entitlement(alice, 'BTC');
  assert.deepEqual(after, { total: 700_000n, held: 0n, available: 700_000n, hot: 700_000n, cold: 0n }, 'the fee hold is released, nothing moved');
  assert.equal((await f.db.app.query(`select count(*)::int as n from utxos u join wallets w on w.id = u.wallet_id where w.client_id = $1 and u.status <> 'unspent'`, [alice])).rows[0].n, 0,
    'the coins are free again');
});

test('HOT-01 HOT-02 a refill that would exceed 30 % is refused; one within the cap waits for the treasury quorum and lands in the client\'s hot wallet', async () => {
  const carol = await f.fundedClient('BTC', 3_000_000n, 'cold');
  const pool = (await r.ratio.compute(f.db.app)).assets.find((a) => a.asset === 'BTC')!.retail;
  const total = pool.projectedHot + pool.projectedCold;
  // The largest refill that keeps the retail pool at or under 30.00 %, and one satoshi more.
  const atCap = (3n * total) / 10n - pool.projectedHot;
  assert.ok(atCap > 0n && atCap < 2_900_000n, show({ pool, atCap }));
  await assert.rejects(r.rebalancer.requestRefill({ clientId: carol, asset: 'BTC', amount: atCap + 1n, initiator: 'treasury-user-1', reason: 'float' }),
    (e: DomainError) => e.code === 'HOT_CAP_EXCEEDED');
  assert.equal((await f.db.app.query(`select count(*)::int as n from withdrawals where client_id = $1`, [carol])).rows[0].n, 0, 'nothing was created');
  if ((3n * total) % 10n === 0n) await r.rebalancer.checkRefill(f.db.app, carol, 'BTC', atCap); // exactly 30.00 %: allowed
  const [alice, bob, carolOfficer] = f.approvers;
  const { withdrawal: refill, created } = await r.rebalancer.requestRefill({ clientId: carol, asset: 'BTC', amount: 100_000n, initiator: alice!.userId, reason: 'float' });
  assert.equal(created, true);
  assert.equal(refill.kind, 'refill');
  assert.equal(refill.source_tier, 'cold');
  assert.equal(refill.approvals_required, 2);
  const waiting = await f.settle(refill.id);
  assert.equal(waiting.state, 'approvals', show({ state: waiting.state, failure: waiting.failure_code, detail: waiting.failure_detail }));
  assert.equal((waiting.intent as { purpose: string }).purpose, 'refill');
  await assert.rejects(f.approveAs(alice!, waiting), /initiator/);
  await f.approveAs(bob!, waiting);
  await f.approveAs(carolOfficer!, waiting);
  const done = await f.settle(refill.id);
  assert.equal(done.state, 'completed', show({ state: done.state, failure: done.failure_code, detail: done.failure_detail }));
  const outputs = await outputOwners(done.txid!);
  assert.ok(outputs.every((o) => o.clientId === carol));
  assert.deepEqual(outputs.filter((o) => o.tier === 'hot').map((o) => o.value), [100_000n]);
  const after = await f.entitlement(carol, 'BTC');
  assert.equal(after.hot, 100_000n);
  assert.equal(after.cold, 3_000_000n - 100_000n - done.network_fee!);
  assert.equal(after.total, 3_000_000n - done.network_fee!);
});

test('HOT-02 a tier move is the custodian\'s: the exchange cannot cancel it; the feed says it was a sweep and what it cost', async () => {
  const dana = await f.fundedClient('BTC', 800_000n, 'hot');
  const { created } = await r.rebalancer.run();
  const [sweep] = sweepsOf(created, dana);
  assert.ok(sweep);
  await assert.rejects(inTransaction(f.db.app, (q) => f.module.service.cancel(q, sweep.id, 'apikey:exchange')), (e: DomainError) => e.code === 'WITHDRAWAL_STATE');
  const done = await f.settle(sweep.id);
  assert.equal(done.state, 'completed', show({ state: done.state, failure: done.failure_code, detail: done.failure_detail }));
  const { rows } = await f.db.app.query(`select payload from events where type = 'withdrawal.completed' and subject = $1`, [sweep.id]);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].payload.kind, 'sweep');
  assert.equal(rows[0].payload.networkFeePaidBy, 'client');
  assert.equal(rows[0].payload.networkFee, f.assets.toDecimal('BTC', done.network_fee!));
});
