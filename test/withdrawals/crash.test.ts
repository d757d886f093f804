// Crash safety: the worker is SIGKILLed at random points across 50 withdrawals and restarted.
// Every withdrawal ends with exactly one signed transaction, paid to its destination exactly once,
// and the ledger equals the chain.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Transaction } from 'bitcoinjs-lib';
import { inTransaction } from '../../src/platform/tx.ts';
import { decodeAddress } from '../../src/chains/bitcoin/address.ts';
import { CONFIRMATIONS } from '../helpers/custody.ts';
import { killUntilCompleted } from '../helpers/crash.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

const WITHDRAWALS = 50;
let f: WithdrawalFixture;
before(async () => { f = await startWithdrawals('bitcoin'); });
after(async () => { await f.close(); });
const workerEnv = () => ({ WORKER_DB_URL: f.db.appUrl, WORKER_SIGNER_SOCKET: f.signer.socketPath, WORKER_BTC_RPC_URL: f.btc!.rpcUrl,
  WORKER_BTC_API_KEY: f.btc!.apiKey, WORKER_APPROVERS_FILE: path.join(f.signer.dir, 'signer-policy.json'),
  WORKER_KEYRING_FILE: f.keyringFile, WORKER_CONFIRMATIONS: String(CONFIRMATIONS) });

test('WDR crash safety: SIGKILL at random points across 50 withdrawals; each is broadcast once; ledger equals chain', async () => {
  // One client, 60 separate deposits to its hot wallet: enough coins for 50 withdrawals in flight.
  const client = await f.newClient();
  await inTransaction(f.db.app, (q) => f.module.travelRule.storeKyc(q, client, { name: { primary: 'Crash', secondary: 'Test' }, verified: true, nationalId: '1', geographicAddress: { town: 'Astana', country: 'KZ' } }));
  for (let i = 0; i < 60; i++) {
    const a = await inTransaction(f.db.app, (q) => f.wallets.depositAddress(q, client, 'bitcoin', 'hot'));
    await f.btc!.faucet(a.address, 2_000_000n, { confirmations: 1 });
  }
  await f.btc!.mine(CONFIRMATIONS);
  await f.tick();
  assert.equal((await f.entitlement(client, 'BTC')).hot, 120_000_000n);
  const ids: string[] = [];
  const destinations = new Map<string, string>();
  for (let i = 0; i < WITHDRAWALS; i++) {
    const destination = f.externalAddress();
    await f.bookAddress(client, destination);
    const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.001', destination });
    ids.push(w.id);
    destinations.set(w.id, destination);
  }
  const kills = await killUntilCompleted({ pool: f.db.app, ids, env: workerEnv(), between: () => f.btc!.mine(1) });
  const { rows: states } = await f.db.app.query(`select state, failure_code, count(*)::int as n from withdrawals where id = any($1) group by 1, 2`, [ids]);
  assert.deepEqual(states.map((s) => [s.state, s.n]), [['completed', WITHDRAWALS]], show(states));
  assert.ok(kills >= 3, `the worker was killed ${kills} times`);
  // Exactly one signed transaction per withdrawal, and it paid its destination exactly once.
  const { rows: txs } = await f.db.app.query(`select withdrawal_id, count(*)::int as n from withdrawal_transactions where withdrawal_id = any($1) group by 1`, [ids]);
  assert.equal(txs.length, WITHDRAWALS);
  for (const t of txs) assert.equal(t.n, 1, `withdrawal ${t.withdrawal_id} has ${t.n} signed transactions`);
  let paid = 0n;
  for (const id of ids) {
    const w = await f.module.service.get(f.db.app, id);
    const tx = Transaction.fromHex(await f.btc!.rpc.call<string>('getrawtransaction', [w.txid, false]));
    const script = Buffer.from(decodeAddress(destinations.get(id)!, 'bcoin-regtest').script).toString('hex');
    const toDestination = tx.outs.filter((o) => Buffer.from(o.script).toString('hex') === script);
    assert.equal(toDestination.length, 1);
    assert.equal(BigInt(toDestination[0]!.value), 100_000n);
    paid += 100_000n + w.network_fee!;
  }
  // Scanning the 50 withdrawals' blocks books nothing: their change is ours already.
  await f.btc!.mine(CONFIRMATIONS);
  await f.tick();
  // Ledger equals chain: the hot wallet's holdings are exactly our unspent coins, each unspent on-chain.
  const { rows: utxos } = await f.db.app.query<{ txid: string; vout: number; value: bigint }>(
    `select u.txid, u.vout, u.value from utxos u join wallets w on w.id = u.wallet_id where w.client_id = $1 and u.status = 'unspent'`, [client]);
  let onChain = 0n;
  for (const u of utxos) {
    const out = await f.btc!.rpc.call<{ value: number } | null>('gettxout', [u.txid, u.vout, false]);
    assert.ok(out, `utxo ${u.txid}:${u.vout} is unspent on-chain`);
    onChain += u.value;
  }
  const ledger = await f.entitlement(client, 'BTC');
  assert.equal(ledger.hot, onChain, 'hot wallet holdings = the chain');
  assert.equal(ledger.total, 120_000_000n - paid);
  assert.equal(ledger.held, 0n);
});
