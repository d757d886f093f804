// Stuck Ethereum withdrawals are replaced on a real Hardhat chain through the real SoftHSM signer:
// the same nonce and payment with both EIP-1559 fees raised, committed before it is broadcast;
// whichever is mined is booked with the gas it really used. Hardhat's automine is switched off so
// transactions wait in its mempool as they would on a busy network.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseEip1559 } from '../../src/chains/ethereum/tx.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { CONFIRMATIONS } from '../helpers/custody.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

let f: WithdrawalFixture;
before(async () => { f = await startWithdrawals('ethereum'); });
after(async () => {
  await f?.eth?.rpc.send('evm_setAutomine', [true]).catch(() => undefined);
  await f?.close();
});

const ETHER = 10n ** 18n;
const get = (id: string) => f.module.service.get(f.db.app, id);
const runnable = (id: string) => f.db.app.query('update withdrawals set next_run_at = now() where id = $1', [id]);
const automine = (on: boolean) => f.eth!.rpc.send('evm_setAutomine', [on]);
const signedTxs = async (id: string) => (await f.db.app.query<{ txid: string; raw: string; replaces_txid: string | null }>(
  'select txid, raw, replaces_txid from withdrawal_transactions where withdrawal_id = $1 order by id', [id])).rows;
const gasPaid = async (txid: string) => {
  const receipt = (await f.eth!.rpc.getReceipt(txid))!;
  return BigInt(receipt.gasUsed) * BigInt(receipt.effectiveGasPrice!);
};

/** A withdrawal broadcast and waiting unconfirmed in Hardhat's mempool (automine off from here on). */
async function stuckWithdrawal(asset: 'ETH' | 'USDT', funded: bigint, amount: string): Promise<{ client: string; id: string; first: string; from: string }> {
  const client = await f.fundedClient(asset, funded, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  await automine(false);
  const requested = await f.request({ clientId: client, asset, amount, destination });
  const w = await f.settle(requested.id, { untilState: 'confirming' });
  assert.equal(w.state, 'confirming', show(w));
  const pending = await f.eth!.rpc.getTransaction(w.txid!);
  assert.ok(pending && pending.blockNumber === null, 'broadcast and pending');
  return { client, id: w.id, first: w.txid!, from: (w.build as { from: string }).from };
}

/** Replaces the stuck transaction with a worker that calls it stuck at once; returns both signed transactions. */
async function replaceOnce(id: string) {
  const impatient = f.pipelineWith({ ETH_REPLACE_AFTER_SECONDS: '0' });
  await runnable(id);
  assert.equal(await impatient.step(), true);
  const w = await get(id);
  assert.equal(w.state, 'broadcast', show(w));
  const [original, replacement] = await signedTxs(id);
  assert.ok(original && replacement, 'two signed transactions');
  assert.equal(replacement.replaces_txid, original.txid);
  const a = parseEip1559(original.raw);
  const b = parseEip1559(replacement.raw);
  assert.equal(b.nonce, a.nonce, 'the same nonce: at most one can be mined');
  assert.deepEqual([b.to, b.valueWei, b.data, b.gasLimit], [a.to, a.valueWei, a.data, a.gasLimit], 'the same payment');
  assert.ok(b.maxFeePerGas * 10n >= a.maxFeePerGas * 11n && b.maxPriorityFeePerGas * 10n >= a.maxPriorityFeePerGas * 11n, 'both fees up at least 10 %');
  return { impatient, original, replacement };
}

test('WDR ETH a stuck ETH withdrawal is replaced with the same nonce and higher fees; the replacement is mined and booked with its real gas; the next withdrawal takes the next nonce', async () => {
  try {
    const { client, id, first, from } = await stuckWithdrawal('ETH', ETHER, '0.1');
    const { impatient, replacement } = await replaceOnce(id);
    assert.ok(await f.eth!.rpc.getTransaction(first), 'stored first, not yet sent: the original is still the pending one');
    await runnable(id);
    await impatient.step();
    assert.equal(await f.eth!.rpc.getTransaction(first), null, 'Hardhat dropped the original for its replacement');
    assert.ok(await f.eth!.rpc.getTransaction(replacement.txid));
    const done = await f.settle(id);
    assert.equal(done.state, 'completed', show(done));
    assert.equal(done.txid, replacement.txid);
    const fee = await gasPaid(replacement.txid);
    assert.equal(done.network_fee, fee);
    assert.equal(await f.eth!.rpc.getReceipt(first), null, 'the original is never mined');
    const ledger = await f.entitlement(client, 'ETH');
    assert.equal(ledger.total, ETHER - ETHER / 10n - fee);
    assert.equal(ledger.hot, await f.eth!.rpc.getBalance(from, 'latest'), 'ledger equals chain, to the wei');

    const destination = f.externalAddress();
    await f.bookAddress(client, destination);
    const next = await f.settle((await f.request({ clientId: client, asset: 'ETH', amount: '0.2', destination })).id);
    assert.equal(next.state, 'completed', show(next));
    assert.equal(parseEip1559(next.signed_tx!).nonce, parseEip1559(replacement.raw).nonce + 1, 'the nonce manager is not confused by a replacement');
    assert.equal((await f.entitlement(client, 'ETH')).hot, await f.eth!.rpc.getBalance(from, 'latest'));
  } finally {
    await automine(true);
  }
});

test('WDR ETH a stuck USDT withdrawal is replaced within the gas float the house left on the address; gas stays house money', async () => {
  const station = await inTransaction(f.db.app, (q) => f.wallets.ensureHouseWallet(q, 'gas_station', 'ethereum'));
  await f.eth!.faucetEth(station.address.address, ETHER);
  await f.eth!.mine(CONFIRMATIONS);
  await f.tick();
  try {
    const { client, id, from } = await stuckWithdrawal('USDT', 500_000_000n, '100');
    const { replacement } = await replaceOnce(id);
    const done = await f.settle(id);
    assert.equal(done.state, 'completed', show(done));
    assert.equal(done.txid, replacement.txid);
    assert.deepEqual(await f.entitlement(client, 'USDT'), { total: 400_000_000n, held: 0n, available: 400_000_000n, hot: 400_000_000n, cold: 0n });
    const { rows: [float] } = await f.db.app.query(`select balance from accounts where kind = 'house_gas_float' and asset = 'ETH'`);
    assert.equal(float.balance, await f.eth!.rpc.getBalance(from, 'latest'), 'the gas float booked is the ETH left on the address');
    assert.equal((await f.entitlement(client, 'ETH')).total, 0n, 'the client paid no gas');
    const { rows: [stationBooks] } = await f.db.app.query(`select balance from accounts where kind = 'house_wallet_gas' and asset = 'ETH'`);
    assert.equal(stationBooks.balance, await f.eth!.rpc.getBalance(station.address.address, 'latest'), 'the gas station: ledger equals chain');
  } finally {
    await automine(true);
  }
});

test('WDR ETH if the original is mined before its replacement is sent, the original is the withdrawal’s transaction and its gas is booked', async () => {
  try {
    const { client, id, first, from } = await stuckWithdrawal('ETH', ETHER, '0.3');
    const { replacement } = await replaceOnce(id);
    await f.eth!.mine(1);
    const done = await f.settle(id);
    assert.equal(done.state, 'completed', show(done));
    assert.equal(done.txid, first);
    assert.equal(done.network_fee, await gasPaid(first));
    assert.equal(await f.eth!.rpc.getReceipt(replacement.txid), null);
    assert.equal((await f.entitlement(client, 'ETH')).hot, await f.eth!.rpc.getBalance(from, 'latest'));
  } finally {
    await automine(true);
  }
});
