// ETH and USDT withdrawals on a real Hardhat chain; ERC-20 gas from the house gas station.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { inTransaction } from '../../src/platform/tx.ts';
import { CONFIRMATIONS } from '../helpers/custody.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

let f: WithdrawalFixture;
before(async () => { f = await startWithdrawals('ethereum'); });
after(async () => { await f.close(); });

test('WDR-07 a hot ETH withdrawal completes end to end; ledger and chain agree to the wei, gas included', async () => {
  const client = await f.fundedClient('ETH', 2n * 10n ** 18n, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const w = await f.request({ clientId: client, asset: 'ETH', amount: '0.1', destination });
  const done = await f.settle(w.id);
  assert.equal(done.state, 'completed', show(done));
  assert.equal(await f.eth!.provider.getBalance(destination), 10n ** 17n);
  const receipt = await f.eth!.provider.getTransactionReceipt(done.txid!);
  const gas = receipt!.gasUsed * receipt!.gasPrice;
  assert.equal(done.network_fee, gas, 'the fee booked is the gas paid');
  const source = (await f.db.app.query(`select a.address from wallet_addresses a join wallets w on w.id = a.wallet_id where w.client_id = $1 and w.chain = 'ethereum' and w.tier = 'hot'`, [client])).rows[0].address;
  const onChain = await f.eth!.provider.getBalance(source);
  const ledger = await f.entitlement(client, 'ETH');
  assert.equal(ledger.hot, onChain, 'wallet holdings equal the chain to the wei');
  assert.equal(ledger.total, 2n * 10n ** 18n - 10n ** 17n - gas);
  assert.equal(ledger.held, 0n);
});

test('WDR-07 a USDT withdrawal while the house gas station is empty waits with GAS_STATION_EMPTY, nothing signed, and goes once treasury funds it', async () => {
  const client = await f.fundedClient('USDT', 50_000_000n, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const w = await f.request({ clientId: client, asset: 'USDT', amount: '10', destination });
  await f.module.pipeline!.drain(20);
  const waiting = await f.module.service.get(f.db.app, w.id);
  assert.deepEqual([waiting.state, waiting.failure_code, waiting.signed_tx], ['signing', 'GAS_STATION_EMPTY', null], show(waiting));
  assert.equal((await f.entitlement(client, 'USDT')).held, 10_000_000n, 'still held, not failed');
  const station = await inTransaction(f.db.app, (q) => f.wallets.ensureHouseWallet(q, 'gas_station', 'ethereum'));
  await f.eth!.faucetEth(station.address.address, 10n ** 17n);
  await f.eth!.mine(CONFIRMATIONS);
  await f.tick();
  const done = await f.settle(w.id);
  assert.equal(done.state, 'completed', show(done));
  assert.deepEqual(await f.entitlement(client, 'USDT'), { total: 40_000_000n, held: 0n, available: 40_000_000n, hot: 40_000_000n, cold: 0n });
});

test('WDR-07 SEG-03 a hot USDT withdrawal completes; its gas comes from the house gas station and is booked as house money', async () => {
  // The gas station is a house wallet: fund it like any deposit.
  const station = await inTransaction(f.db.app, (q) => f.wallets.ensureHouseWallet(q, 'gas_station', 'ethereum'));
  await f.eth!.faucetEth(station.address.address, 10n ** 18n);
  await f.eth!.mine(CONFIRMATIONS);
  await f.tick();
  const client = await f.fundedClient('USDT', 500_000_000n, 'hot'); // 500 USDT
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const houseBalance = async (kind: string) => (await f.db.app.query(`select balance from accounts where kind = $1 and asset = 'ETH'`, [kind])).rows[0].balance as bigint;
  const treasuryBefore = await houseBalance('house_treasury');
  const w = await f.request({ clientId: client, asset: 'USDT', amount: '125.5', destination });
  const done = await f.settle(w.id);
  assert.equal(done.state, 'completed', show(done));
  const usdt = new (await import('ethers')).Contract(f.eth!.usdt!.address, ['function balanceOf(address) view returns (uint256)'], f.eth!.provider);
  assert.equal(await usdt.getFunction('balanceOf')(destination), 125_500_000n);
  assert.deepEqual(await f.entitlement(client, 'USDT'), { total: 374_500_000n, held: 0n, available: 374_500_000n, hot: 374_500_000n, cold: 0n });
  // The gas top-up landed in the client's address: house money, never a client deposit.
  await f.eth!.mine(CONFIRMATIONS);
  await f.tick();
  const eth = await f.entitlement(client, 'ETH');
  assert.equal(eth.total, 0n, 'the client paid no gas and got none');
  assert.equal(eth.hot, 0n);
  const { rows: float } = await f.db.app.query(`select balance from accounts where kind = 'house_gas_float' and asset = 'ETH'`);
  assert.ok(float[0].balance >= 0n);
  const { rows } = await f.db.app.query(`select a.kind, a.balance from accounts a where a.asset = 'ETH' and a.kind in ('house_gas_float', 'house_wallet_gas', 'house_treasury')`);
  const houseTreasury = rows.find((r) => r.kind === 'house_treasury').balance as bigint;
  const gasOf = async (txid: string) => { const r = (await f.eth!.provider.getTransactionReceipt(txid))!; return r.gasUsed * r.gasPrice; };
  const build = done.build as { gasTopUpTxid: string };
  assert.equal(treasuryBefore - houseTreasury, await gasOf(done.txid!) + await gasOf(build.gasTopUpTxid), 'the gas of the transfer and of the top-up came out of house money');
  assert.equal(await houseBalance('house_wallet_gas'), await f.eth!.provider.getBalance(station.address.address), 'the gas station: ledger equals chain, its own fee included');
  const totals = await f.ledger.controlTotals(f.db.app);
  for (const t of totals) assert.equal(t.total, 0n, `${t.asset}/${t.book} sums to zero`);
});
