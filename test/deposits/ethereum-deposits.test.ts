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

test('DEP-02 ETH and USDT deposits are pending at N-1 confirmations and credited at exactly N, to the unit; nothing is spendable before', async () => {
  const client = await c.newClient();
  const a = await address(client);
  assert.equal(a.address, (await address(client)).address, 'one stable account per wallet (KEY-07)');
  await c.tick();
  const sent = [
    { asset: 'ETH', amount: 1_234_567_890_123_456_789n, txid: await c.eth!.faucetEth(a.address, 1_234_567_890_123_456_789n) },
    { asset: 'USDT', amount: 250_000_001n, txid: await c.eth!.faucetUsdt(a.address, 250_000_001n) },
  ];
  // One block at a time (automine put each transfer in a block of its own), each deposit is
  // checked against its own confirmation count, until both are past N.
  const seen = new Set<string>();
  for (let round = 0; round <= CONFIRMATIONS + 1; round++) {
    if (round > 0) await c.eth!.mine(1);
    await c.tick();
    const tip = await c.eth!.rpc.getBlockNumber();
    for (const d of sent) {
      const { rows } = await c.db.app.query('select status, amount, asset, block_height from deposits where txid = $1', [d.txid]);
      assert.equal(rows.length, 1, `${d.asset} recorded once`);
      assert.deepEqual([rows[0].asset, rows[0].amount], [d.asset, d.amount]);
      const confirmations = tip - Number(rows[0].block_height) + 1;
      const credited = confirmations >= CONFIRMATIONS;
      assert.equal(rows[0].status, credited ? 'credited' : 'pending', `${d.asset} at ${confirmations} confirmations`);
      const e = await c.entitlement(client, d.asset);
      const total = credited ? d.amount : 0n;
      assert.deepEqual(e, { total, held: 0n, available: total, hot: 0n, cold: total }, `${d.asset} at ${confirmations} confirmations`);
      seen.add(`${d.asset}@${confirmations}`);
    }
  }
  for (const d of sent) {
    for (const n of [CONFIRMATIONS - 1, CONFIRMATIONS]) assert.ok(seen.has(`${d.asset}@${n}`), `${d.asset} observed at ${n} confirmations: ${[...seen].join(' ')}`);
  }
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

test('DEP-02 reorg on Ethereum: in the orphaned blocks a credited deposit is reversed and a pending one dropped, no balance below zero', async () => {
  const client = await c.newClient();
  const a = await address(client);
  await c.tick();
  const forkHeight = await c.eth!.rpc.getBlockNumber();
  const snap = await c.eth!.snapshot();
  const credited = await c.eth!.faucetEth(a.address, 5n * 10n ** 17n);
  await c.eth!.mine(CONFIRMATIONS);
  const pending = await c.eth!.faucetUsdt(a.address, 42_000_000n); // one confirmation: pending
  await c.tick();
  const statusOf = async (txid: string) => (await c.db.app.query('select status from deposits where txid = $1', [txid])).rows[0].status;
  assert.deepEqual([await statusOf(credited), await statusOf(pending)], ['credited', 'pending']);
  assert.equal((await c.entitlement(client, 'ETH')).total, 5n * 10n ** 17n);
  assert.equal((await c.entitlement(client, 'USDT')).total, 0n, 'pending is not credited');
  const scannedTo = await c.eth!.rpc.getBlockNumber();
  // The chain without either transfer, longer (Hardhat's revert drops them: they are not mined again).
  await c.eth!.reorgTo(snap, CONFIRMATIONS + 5);
  const r = await c.tick();
  assert.deepEqual([r.reorgDepth, r.reversed], [scannedTo - forkHeight, 1], JSON.stringify(r));
  assert.deepEqual([await statusOf(credited), await statusOf(pending)], ['reversed', 'orphaned']);
  const eventsOf = async (txid: string) => (await c.db.app.query(
    'select type from events where subject = (select id::text from deposits where txid = $1) order by id', [txid])).rows.map((e) => e.type);
  assert.deepEqual(await eventsOf(credited), ['deposit.pending', 'deposit.credited', 'deposit.reversed']);
  assert.deepEqual(await eventsOf(pending), ['deposit.pending', 'deposit.orphaned']);
  for (const asset of ['ETH', 'USDT']) {
    assert.deepEqual(await c.entitlement(client, asset), { total: 0n, held: 0n, available: 0n, hot: 0n, cold: 0n }, asset);
  }
  const { rows: negative } = await c.db.app.query('select code, balance from accounts where client_id = $1 and balance < 0', [client]);
  assert.deepEqual(negative, [], 'no client account below zero');
  const { rows: totals } = await c.db.app.query(`select asset, book, sum(balance) as s from accounts group by 1, 2`);
  for (const t of totals) assert.equal(t.s, 0n, `${t.asset}/${t.book} still sums to zero`);
  // Later blocks bring neither back.
  await c.eth!.mine(CONFIRMATIONS);
  await c.tick();
  assert.deepEqual([await statusOf(credited), await statusOf(pending)], ['reversed', 'orphaned']);
  assert.equal((await c.entitlement(client, 'ETH')).total, 0n);
});
