// Deposits on a real Hardhat dev chain: ETH and a 6-decimal ERC-20 (USDT), keys in SoftHSM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ContractFactory, Wallet, Contract } from 'ethers';
import { startCustody, CONFIRMATIONS, type Custody } from '../helpers/custody.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { HARDHAT_DEV_KEYS, TEST_USDT_SUPPLY, loadTestUsdtArtifact } from '../../src/chains/dev/ethereum-dev.ts';

let c: Custody;
before(async () => { c = await startCustody('ethereum'); });
after(async () => { await c.close(); });

const address = (clientId: string, tier: 'hot' | 'cold' = 'cold') => inTransaction(c.db.app, (q) => c.wallets.depositAddress(q, clientId, 'ethereum', tier));

test('DEP-02 ETH and USDT deposits are pending below N confirmations and credited at N, to the unit', async () => {
  const client = await c.newClient();
  const a = await address(client);
  assert.equal(a.address, (await address(client)).address, 'one stable account per wallet (KEY-07)');
  await c.tick();
  const ethTx = await c.eth!.faucetEth(a.address, 1_234_567_890_123_456_789n);
  const usdtTx = await c.eth!.faucetUsdt(a.address, 250_000_001n);
  await c.tick();
  const status = async (txid: string) => (await c.db.app.query(`select status, amount, asset from deposits where txid = $1`, [txid])).rows[0];
  assert.equal((await status(ethTx)).status, 'pending');
  assert.equal((await status(usdtTx)).status, 'pending');
  assert.equal((await status(usdtTx)).asset, 'USDT');
  assert.equal((await c.entitlement(client, 'ETH')).total, 0n);
  await c.eth!.mine(CONFIRMATIONS);
  await c.tick();
  assert.equal((await status(ethTx)).status, 'credited');
  assert.equal((await status(usdtTx)).status, 'credited');
  assert.deepEqual(await c.entitlement(client, 'ETH'), { total: 1_234_567_890_123_456_789n, held: 0n, available: 1_234_567_890_123_456_789n, hot: 0n, cold: 1_234_567_890_123_456_789n });
  assert.deepEqual(await c.entitlement(client, 'USDT'), { total: 250_000_001n, held: 0n, available: 250_000_001n, hot: 0n, cold: 250_000_001n });
});

test('DEP-07 an unknown ERC-20 sent to a client address is quarantined and absent from balances', async () => {
  const client = await c.newClient();
  const a = await address(client);
  const art = loadTestUsdtArtifact();
  const deployer = new Wallet(HARDHAT_DEV_KEYS[1]!, c.eth!.provider);
  const rogue = await new ContractFactory(art.abi, art.bytecode, deployer).deploy(TEST_USDT_SUPPLY);
  await rogue.waitForDeployment();
  const token = new Contract(await rogue.getAddress(), art.abi, deployer);
  const holder = await deployer.getAddress();
  const balance = (await token.getFunction('balanceOf')(holder)) as bigint;
  assert.ok(balance > 0n, 'the rogue token has a supply');
  await (await token.getFunction('transfer')(a.address, 777n)).wait();
  await c.eth!.mine(CONFIRMATIONS);
  await c.tick();
  const { rows } = await c.db.app.query(`select token_contract, amount, status from token_quarantine where address = $1`, [a.address]);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].amount, 777n);
  assert.equal(rows[0].token_contract.toLowerCase(), (await rogue.getAddress()).toLowerCase());
  for (const asset of ['ETH', 'USDT']) assert.equal((await c.entitlement(client, asset)).total, 0n);
  const { rows: deposits } = await c.db.app.query(`select 1 from deposits where address = $1`, [a.address]);
  assert.equal(deposits.length, 0);
});

test('DEP-02 reorg on Ethereum: a pending deposit in an orphaned block is dropped without a negative balance; a credited one is reversed', async () => {
  const client = await c.newClient();
  const a = await address(client);
  await c.tick();
  const snap = await c.eth!.snapshot();
  const tx = await c.eth!.faucetEth(a.address, 5n * 10n ** 17n);
  await c.eth!.mine(CONFIRMATIONS);
  await c.tick();
  assert.equal((await c.entitlement(client, 'ETH')).total, 5n * 10n ** 17n);
  await c.eth!.reorgTo(snap, CONFIRMATIONS + 3); // the chain without the deposit, longer
  await c.tick();
  const row = (await c.db.app.query(`select status from deposits where txid = $1`, [tx])).rows[0];
  assert.equal(row.status, 'reversed');
  assert.deepEqual(await c.entitlement(client, 'ETH'), { total: 0n, held: 0n, available: 0n, hot: 0n, cold: 0n });
  const { rows: totals } = await c.db.app.query(`select asset, book, sum(balance) as s from accounts group by 1, 2`);
  for (const t of totals) assert.equal(t.s, 0n, `${t.asset}/${t.book} still sums to zero`);
});
