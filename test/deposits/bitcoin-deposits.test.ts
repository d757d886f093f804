// Deposits on a real bcoin regtest node, keys in SoftHSM through the real signer process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCustody, CONFIRMATIONS, type Custody } from '../helpers/custody.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { DepositScanner } from '../../src/deposits/deposit-scanner.ts';
import { p2wpkhFromPublicKey } from '../../src/chains/bitcoin/address.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';

let c: Custody;
before(async () => { c = await startCustody('bitcoin'); });
after(async () => { await c.close(); });

const randomRegtestAddress = (): string => p2wpkhFromPublicKey(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true), 'bcoin-regtest').address;
const address = (clientId: string) => inTransaction(c.db.app, (q) => c.wallets.depositAddress(q, clientId, 'bitcoin', 'cold'));

test('DEP-02 a Bitcoin deposit is pending below N confirmations and credited at N, to the satoshi (HOT-04: cold tier)', async () => {
  const client = await c.newClient();
  const a = await address(client);
  assert.match(a.address, /^rb1q/);
  await c.tick();
  const sent = await c.btc!.faucet(a.address, 123_456_789n, { confirmations: 1 });
  await c.tick();
  const { rows: pending } = await c.db.app.query(`select status, amount from deposits where txid = $1`, [sent.txid]);
  assert.equal(pending[0].status, 'pending');
  assert.equal(pending[0].amount, 123_456_789n);
  assert.deepEqual(await c.entitlement(client, 'BTC'), { total: 0n, held: 0n, available: 0n, hot: 0n, cold: 0n }, 'pending is not spendable');
  await c.btc!.mine(CONFIRMATIONS - 2);
  await c.tick();
  assert.equal((await c.db.app.query(`select status from deposits where txid = $1`, [sent.txid])).rows[0].status, 'pending', 'N-1 confirmations');
  await c.btc!.mine(1);
  await c.tick();
  assert.equal((await c.db.app.query(`select status from deposits where txid = $1`, [sent.txid])).rows[0].status, 'credited');
  assert.deepEqual(await c.entitlement(client, 'BTC'), { total: 123_456_789n, held: 0n, available: 123_456_789n, hot: 0n, cold: 123_456_789n });
  const { rows: events } = await c.db.app.query(`select type from events where subject = (select id::text from deposits where txid = $1) order by id`, [sent.txid]);
  assert.deepEqual(events.map((e) => e.type), ['deposit.pending', 'deposit.credited']);
});

test('KEY-07 SEG-02 100 address requests give 100 distinct addresses; no address is shared by two clients; deposits reach only the owner', async () => {
  const a = await c.newClient();
  const b = await c.newClient();
  const mine = new Set<string>();
  for (let i = 0; i < 100; i++) mine.add((await address(a)).address);
  assert.equal(mine.size, 100);
  const theirs = new Set<string>();
  for (let i = 0; i < 5; i++) theirs.add((await address(b)).address);
  for (const x of theirs) assert.ok(!mine.has(x));
  await assert.rejects(c.db.owner.query(
    `insert into wallet_addresses (wallet_id, chain, address, key_id, public_key, purpose)
     select (select id from wallets where client_id = $1 and chain = 'bitcoin' and tier = 'cold'), chain, address, key_id, public_key, purpose
     from wallet_addresses where address = $2`, [b, [...mine][0]]), /duplicate key/);
  await assert.rejects(c.db.owner.query(`update wallet_addresses set wallet_id = wallet_id where address = $1`, [[...mine][0]]), /IMMUTABLE/);
  const target = [...mine][42]!;
  await c.btc!.faucet(target, 50_000n, { confirmations: CONFIRMATIONS });
  await c.tick();
  assert.equal((await c.entitlement(a, 'BTC')).total, 50_000n);
  assert.equal((await c.entitlement(b, 'BTC')).total, 0n);
});

test('DEP-02 reorg: orphaning the block of a credited deposit reverses it, leaving the client nothing; mined again, it is credited exactly once', async () => {
  const client = await c.newClient();
  const a = await address(client);
  const sent = await c.btc!.faucet(a.address, 7_000_000n, { confirmations: CONFIRMATIONS });
  await c.tick();
  assert.equal((await c.entitlement(client, 'BTC')).total, 7_000_000n);
  const raw = await c.btc!.rpc.call<string>('getrawtransaction', [sent.txid, 0]);
  const depositRow = async () => (await c.db.app.query('select id, status, generation from deposits where txid = $1', [sent.txid])).rows[0];
  const eventsOf = async (id: string) => (await c.db.app.query('select type from events where subject = $1 order by id', [id])).rows.map((e) => e.type);
  // The deposit's block and every block above it orphaned, with no replacement yet: the scanner
  // sees the reversal on its own before the transfer can be mined again.
  await c.btc!.invalidateBlock(sent.blockHash!);
  const r = await c.tick();
  assert.deepEqual([r.reorgDepth, r.reversed], [CONFIRMATIONS, 1], JSON.stringify(r));
  const reversed = await depositRow();
  assert.deepEqual([reversed.status, reversed.generation], ['reversed', 1]);
  assert.deepEqual(await c.entitlement(client, 'BTC'), { total: 0n, held: 0n, available: 0n, hot: 0n, cold: 0n }, 'reversed: nothing left');
  assert.deepEqual(await eventsOf(reversed.id), ['deposit.pending', 'deposit.credited', 'deposit.reversed']);
  // bcoin's invalidateblock does not return the orphaned transactions to its mempool: the sender
  // broadcasts the same transaction again, and it is mined on the new branch (to another miner
  // address, so no new block can repeat an invalidated one).
  assert.equal((await c.btc!.rpc.getRawMempool()).includes(sent.txid), false);
  await c.btc!.rpc.call('sendrawtransaction', [raw]);
  await c.btc!.mine(CONFIRMATIONS, randomRegtestAddress());
  await c.tick();
  const final = await depositRow();
  assert.deepEqual([final.id, final.status, final.generation], [reversed.id, 'credited', 2]);
  assert.deepEqual(await eventsOf(final.id), ['deposit.pending', 'deposit.credited', 'deposit.reversed', 'deposit.pending', 'deposit.credited']);
  assert.deepEqual(await c.entitlement(client, 'BTC'), { total: 7_000_000n, held: 0n, available: 7_000_000n, hot: 0n, cold: 7_000_000n }, 'credited exactly once net');
  await c.btc!.mine(1);
  assert.equal((await c.tick()).credited, 0, 'a later block credits nothing more');
  assert.equal((await c.entitlement(client, 'BTC')).total, 7_000_000n);
});

test('DEP-08 a deposit to a retired wallet goes to suspense, not to the client', async () => {
  const client = await c.newClient();
  const a = await address(client);
  await inTransaction(c.db.app, (q) => c.wallets.setState(q, a.walletId, 'retiring'));
  await inTransaction(c.db.app, (q) => c.wallets.setState(q, a.walletId, 'retired'));
  await assert.rejects(inTransaction(c.db.app, (q) => c.wallets.setState(q, a.walletId, 'active')), /WALLET_STATE_TRANSITION|not allowed/);
  await c.btc!.faucet(a.address, 1_000n, { confirmations: CONFIRMATIONS });
  await c.tick();
  const { rows } = await c.db.app.query(`select id, status from deposits where address = $1`, [a.address]);
  assert.deepEqual(rows.map((r) => r.status), ['suspense']);
  assert.equal((await c.entitlement(client, 'BTC')).total, 0n);
  const { rows: events } = await c.db.app.query(`select type from events where subject = $1 order by id`, [rows[0].id]);
  assert.deepEqual(events.map((e) => e.type), ['deposit.pending', 'deposit.suspense']);
});

test('DEP-08 two scanner workers at once: every deposit is credited once', async () => {
  const client = await c.newClient();
  const addresses = [];
  for (let i = 0; i < 6; i++) addresses.push((await address(client)).address);
  for (const [i, addr] of addresses.entries()) await c.btc!.faucet(addr, BigInt(10_000 + i), { confirmations: 1 });
  await c.btc!.mine(CONFIRMATIONS);
  const other: DepositScanner = c.newScanner();
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? c.scanner : other).tick()));
  assert.equal(results.reduce((sum, r) => sum + r.credited, 0), 6, `each deposit credited by exactly one of the ticks: ${JSON.stringify(results)}`);
  assert.equal((await c.tick()).credited, 0, 'nothing left to credit');
  const expected = addresses.reduce((s, _a, i) => s + BigInt(10_000 + i), 0n);
  assert.equal((await c.entitlement(client, 'BTC')).total, expected);
  const { rows } = await c.db.app.query(
    `select count(*)::int as n from journal_entries e where e.type = 'deposit' and e.cause->>'depositId' in (select id::text from deposits where client_id = $1)`, [client]);
  assert.equal(rows[0].n, 6, 'one credit entry per deposit');
});
