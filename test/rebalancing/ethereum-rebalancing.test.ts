// The rebalancer on a real Hardhat chain with the real signer: deposits land in cold by default;
// ETH (and USDT) that arrives at a client's hot address is swept to the same client's cold account.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { createRebalancing, type RebalancingModule } from '../../src/rebalancing/index.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

let f: WithdrawalFixture;
let r: RebalancingModule;
const config = loadConfig({ AMANAT_ENV: 'test' });
const ETH = 10n ** 18n;

before(async () => {
  f = await startWithdrawals('ethereum');
  r = createRebalancing({ config, pool: f.db.app, assets: f.assets, withdrawals: f.module.service, wallets: f.wallets, log: createLogger(process.env.AMANAT_TEST_LOG ?? 'silent') });
});
after(async () => { await f.close(); });

async function account(clientId: string, tier: 'hot' | 'cold'): Promise<{ address: string; keyId: string }> {
  const { rows } = await f.db.app.query<{ address: string; key_id: string }>(
    `select a.address, a.key_id from wallet_addresses a join wallets w on w.id = a.wallet_id where w.client_id = $1 and w.chain = 'ethereum' and w.tier = $2`, [clientId, tier]);
  return { address: rows[0]!.address, keyId: rows[0]!.key_id };
}

test('HOT-04 deposits land in cold by default: credited to the cold tier, the hot share unchanged', async () => {
  assert.equal(config.deposits.tier, 'cold');
  const before = (await r.ratio.compute(f.db.app)).assets.find((a) => a.asset === 'ETH')!.retail;
  const client = await f.newClient();
  const address = await inTransaction(f.db.app, (q) => f.wallets.depositAddress(q, client, 'ethereum', config.deposits.tier));
  assert.equal(address.address, (await account(client, 'cold')).address);
  await f.eth!.faucetEth(address.address, 4n * 10n ** 16n);
  await f.eth!.mine(3);
  await f.tick();
  const balance = await f.entitlement(client, 'ETH');
  assert.deepEqual([balance.total, balance.hot, balance.cold], [4n * 10n ** 16n, 0n, 4n * 10n ** 16n]);
  const after = (await r.ratio.compute(f.db.app)).assets.find((a) => a.asset === 'ETH')!.retail;
  assert.equal(after.hot, before.hot, 'the hot holdings did not move');
  assert.equal(after.cold, before.cold + 4n * 10n ** 16n);
});

test('HOT-04 HOT-03 SEG-04 an ETH deposit to a hot address is swept to the same client\'s cold account; the fee is the client\'s own ETH', async () => {
  const deposited = 5n * 10n ** 16n; // 0.05 ETH
  const client = await f.fundedClient('ETH', deposited, 'hot');
  const cold = await account(client, 'cold');
  const coldBefore = await f.eth!.rpc.getBalance(cold.address, 'latest');
  const { created, failed } = await r.rebalancer.run();
  const sweep = created.find((w) => w.client_id === client);
  assert.ok(sweep, show(failed));
  assert.equal(sweep.kind, 'sweep');
  const done = await f.settle(sweep.id);
  assert.equal(done.state, 'completed', show({ state: done.state, failure: done.failure_code, detail: done.failure_detail }));
  const intent = done.intent as { purpose: string; clientId: string; outputs: { address: string; keyId: string }[] };
  assert.equal(intent.purpose, 'sweep');
  assert.deepEqual(intent.outputs.map((o) => [o.address.toLowerCase(), o.keyId]), [[cold.address.toLowerCase(), cold.keyId]]);
  const tx = await f.eth!.rpc.getTransaction(done.txid!) as { to: string } | null;
  assert.equal(tx!.to.toLowerCase(), cold.address.toLowerCase(), 'the transaction pays the client\'s own cold account');
  assert.equal(await f.eth!.rpc.getBalance(cold.address, 'latest'), coldBefore + sweep.amount);
  const fee = done.network_fee!;
  const balance = await f.entitlement(client, 'ETH');
  assert.equal(balance.total, deposited - fee, 'only the gas left the client\'s entitlement');
  assert.equal(balance.cold, sweep.amount);
  assert.equal(balance.hot, deposited - sweep.amount - fee);
  assert.equal(await f.eth!.rpc.getBalance((await account(client, 'hot')).address, 'latest'), balance.hot, 'the hot address holds what the ledger says');
  assert.ok(balance.hot * 10_000n <= BigInt(config.rebalancing.targetBp) * balance.total, 'back to target');
  await f.eth!.mine(3);
  await f.tick();
  assert.equal((await f.entitlement(client, 'ETH')).total, deposited - fee, 'the sweep is never taken for a deposit');
});

test('HOT-04 SEG-04 USDT at a hot address is swept to the same client\'s cold account; the gas is the house gas station\'s, never the client\'s', async () => {
  const station = await inTransaction(f.db.app, (q) => f.wallets.ensureHouseWallet(q, 'gas_station', 'ethereum'));
  await f.eth!.faucetEth(station.address.address, ETH / 10n);
  await f.eth!.mine(1);
  const deposited = 100_000_000n; // 100 USDT
  const client = await f.fundedClient('USDT', deposited, 'hot');
  const { created, failed } = await r.rebalancer.run();
  const sweep = created.find((w) => w.client_id === client && w.asset === 'USDT');
  assert.ok(sweep, show(failed));
  assert.equal(sweep.hold_id, null, 'nothing to hold: the client pays no gas');
  const done = await f.settle(sweep.id);
  assert.equal(done.state, 'completed', show({ state: done.state, failure: done.failure_code, detail: done.failure_detail }));
  const balance = await f.entitlement(client, 'USDT');
  assert.deepEqual([balance.total, balance.held, balance.cold, balance.hot], [deposited, 0n, sweep.amount, deposited - sweep.amount]);
  const eth = await f.entitlement(client, 'ETH');
  assert.deepEqual([eth.total, eth.hot, eth.cold], [0n, 0n, 0n], 'no ETH was charged to or booked for the client');
  const cold = await account(client, 'cold');
  const onChain = await f.eth!.rpc.getTokenBalance(f.eth!.usdt!.address, cold.address);
  assert.equal(onChain, sweep.amount, 'the tokens are in the client\'s own cold account');
});
