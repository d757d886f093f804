// The Bitcoin payout adapter and the withdrawal store on their own, against a real bcoin regtest
// node, the SoftHSM signer and Postgres (WDR-03, WDR-07, KEY-08): coin selection reserves exactly
// the coins it spends and frees them when nothing is sent; a replacement spends exactly the same
// coins at a higher fee; the mined transaction is found with its confirmations; the store refuses
// columns it does not own and records each signed transaction once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Transaction } from 'bitcoinjs-lib';
import { inTransaction } from '../../src/platform/tx.ts';
import { intentHash } from '../../signer/src/intent.ts';
import { CoinStore } from '../../src/wallets/coin-store.ts';
import { BitcoinPayout } from '../../src/withdrawals/payout/bitcoin-payout.ts';
import { WithdrawalStore, type WithdrawalRow } from '../../src/withdrawals/withdrawal-store.ts';
import { approve } from '../../signer/test/helpers.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

let f: WithdrawalFixture;
let payout: BitcoinPayout;
const store = new WithdrawalStore();
const coins = new CoinStore();
before(async () => {
  f = await startWithdrawals('bitcoin');
  payout = new BitcoinPayout({ rpc: f.btc!.rpc, network: 'bcoin-regtest', wallets: f.wallets, coins, db: f.db.app,
    settings: { btcFeeRateFallbackSatPerVbyte: 5n, btcFeeRateCapSatPerVbyte: 500n } });
});
after(async () => { await f.close(); });

const coinStates = async (walletOf: string) => (await f.db.app.query<{ txid: string; vout: number; status: string; reserved_by: string | null }>(
  `select u.txid, u.vout, u.status, u.reserved_by from utxos u join wallets w on w.id = u.wallet_id where w.client_id = $1 order by u.txid, u.vout`, [walletOf])).rows;

/** A hot BTC withdrawal of the fixture, as the policy step leaves it (hot source), with its intent fixed by the adapter. */
async function prepared(amount: string): Promise<{ w: WithdrawalRow; client: string }> {
  const client = await f.fundedClient('BTC', 3_000_000n, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const requested = await f.request({ clientId: client, asset: 'BTC', amount, destination });
  await inTransaction(f.db.app, (q) => store.set(q, requested.id, { source_tier: 'hot' }));
  const row = (await store.get(f.db.app, requested.id))!;
  const asset = f.assets.get('BTC');
  const gathered = await payout.gather(row);
  const plan = await inTransaction(f.db.app, (q) => payout.prepare(q, row, asset, {
    intentId: row.id, asset: 'BTC', clientId: client, initiator: 'client-user-1', purpose: 'withdrawal', expiresAt: new Date(Date.now() + 3600_000).toISOString() }, gathered));
  await inTransaction(f.db.app, (q) => store.set(q, row.id, { intent: plan.intent as unknown as Record<string, unknown>, intent_hash: intentHash(plan.intent), build: plan.build }));
  return { w: (await store.get(f.db.app, row.id))!, client };
}

test('WDR-03 the Bitcoin payout reserves exactly the coins its PSBT spends, pays change to the same wallet, and frees them when nothing is sent', async () => {
  const { w, client } = await prepared('0.01');
  const build = w.build as { inputs: { txid: string; vout: number }[]; changeIndex: number; changeAddress: string };
  const reserved = (await coinStates(client)).filter((c) => c.status === 'reserved');
  assert.deepEqual(reserved.map((c) => `${c.txid}:${c.vout}`).sort(), build.inputs.map((i) => `${i.txid}:${i.vout}`).sort());
  assert.ok(reserved.every((c) => c.reserved_by === w.id));
  const intent = w.intent as { outputs: { address: string; amount: string }[]; change?: { address: string }; feeCap: string };
  assert.deepEqual(intent.outputs, [{ address: w.destination, amount: '1000000' }]);
  assert.equal(intent.change?.address, build.changeAddress, 'change to a fresh address of the same wallet');
  assert.equal(intent.feeCap, w.network_fee_max.toString());
  await inTransaction(f.db.app, (q) => payout.release(q, w));
  assert.ok((await coinStates(client)).every((c) => c.status === 'unspent' && c.reserved_by === null), show(await coinStates(client)));
});

test('KEY-08 WDR-07 a replacement spends exactly the same coins at a higher fee; the mined transaction is found with its confirmations; the store records each once', async () => {
  const { w } = await prepared('0.005');
  const signed = await f.signerClient.sign<{ txHex: string; txid: string }>({ requestId: w.id, intent: w.intent, transaction: { psbt: (w.build as { psbt: string }).psbt }, approvals: [] });
  const fee = BigInt((w.build as { fee: string }).fee);
  await inTransaction(f.db.app, async (q) => {
    await store.addSignedTransaction(q, w, { txid: signed.txid, raw: signed.txHex, fee });
    await store.addSignedTransaction(q, w, { txid: signed.txid, raw: signed.txHex, fee });
  });
  const txs = await store.signedTransactions(f.db.app, w.id);
  assert.equal(txs.length, 1, 'stored once');
  const { rows: own } = await f.db.app.query('select txid from own_transactions where withdrawal_id = $1', [w.id]);
  assert.deepEqual(own.map((r) => r.txid), [signed.txid.toLowerCase()], 'recorded as ours for the scanners');

  const plan = await payout.replacement(f.db.app, (await store.get(f.db.app, w.id))!, f.assets.get('BTC'), txs[0]!);
  assert.ok(typeof plan !== 'string', `a replacement is possible: ${String(plan)}`);
  const { Psbt } = await import('bitcoinjs-lib');
  const original = Transaction.fromHex(signed.txHex);
  const replacement = Psbt.fromBase64(plan.transaction.psbt!);
  const outpoints = (tx: { ins: { hash: Uint8Array; index: number }[] }) => tx.ins.map((i) => `${Buffer.from(i.hash).reverse().toString('hex')}:${i.index}`).sort();
  assert.deepEqual(outpoints({ ins: replacement.txInputs }), outpoints(original), 'the same coins, no more, no fewer');
  assert.ok(plan.fee > fee, `a higher fee: ${plan.fee} > ${fee}`);
  assert.ok(plan.fee <= w.network_fee_max, 'within the quoted maximum');

  await f.btc!.rpc.broadcast(signed.txHex);
  assert.equal(await payout.findMined(txs), undefined, 'in the mempool: not mined');
  await f.btc!.mine(2);
  const mined = await payout.findMined(txs);
  assert.deepEqual([mined?.tx.txid, mined?.confirmations, mined?.networkFee], [signed.txid, 2, fee]);
});

test('WDR-03 the store sets only the columns it owns for a step, never the state', async () => {
  const { w } = await prepared('0.002');
  await assert.rejects(inTransaction(f.db.app, (q) => store.set(q, w.id, { state: 'completed' } as never)), /not settable/);
  assert.equal((await store.get(f.db.app, w.id))!.state, 'requested');
  await inTransaction(f.db.app, (q) => store.waitFor(q, w.id, 3600, { code: 'X_WAIT', detail: 'later' }));
  assert.equal(await store.getIfDue(f.db.app, w.id), undefined, 'not due while it waits');
  await inTransaction(f.db.app, (q) => store.waitFor(q, w.id, 0));
  assert.equal((await store.getIfDue(f.db.app, w.id))?.id, w.id);
  // Approvals: distinct approvers with a live approval of this intent only.
  const [alice, bob] = f.approvers;
  for (const a of [approve(alice!, w.intent_hash!), approve(alice!, w.intent_hash!), approve(bob!, w.intent_hash!, { signedAt: new Date(Date.now() - 7200_000), expiresAt: new Date(Date.now() - 3600_000) })]) {
    await f.db.owner.query(`insert into withdrawal_approvals (withdrawal_id, approver_id, user_id, algorithm, intent_hash, signature, signed_at, expires_at, decision)
      values ($1, $2, $3, $4, $5, $6, $7, $8, 'approve') on conflict do nothing`, [w.id, a.approverId, a.approverId, a.algorithm, a.intentHash, a.signature, a.signedAt, a.expiresAt]);
  }
  assert.equal(await store.approvalCount(f.db.app, w), 1, 'alice once; bob\'s approval has expired');
});
