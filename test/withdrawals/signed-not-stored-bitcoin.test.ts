// KEY-08 / WDR-03 (R2): the worker dies after the signer signed and before the signed transaction
// was stored. The next attempt must get the same transaction back (the signer's replay log), never
// a REPLAY_CONFLICT for ever, and the withdrawal completes with exactly one payment. Real bcoin
// regtest, real SoftHSM signer, real Postgres.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';
import { DyingSignerClient } from '../helpers/dying-signer.ts';
import { paymentsTo } from '../helpers/bitcoin-payments.ts';

let f: WithdrawalFixture;
before(async () => { f = await startWithdrawals('bitcoin'); });
after(async () => { await f.close(); });

test('KEY-08 R2 BTC: the worker dies between signature and storage; the retry gets the same transaction and the withdrawal pays once', async () => {
  const client = await f.fundedClient('BTC', 30_000_000n, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const startHeight = await f.btc!.rpc.getBlockCount();
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination });
  const signing = await f.stepUntil(w.id, 'signing', 20);
  assert.equal(signing.state, 'signing', show(signing));
  const dying = new DyingSignerClient(f.signer.socketPath, (requestId) => requestId === w.id);
  const worker = f.pipelineWithSigner(dying);
  for (let i = 0; i < 2; i++) {
    await worker.step();
    await f.db.app.query('update withdrawals set next_run_at = now() where id = $1', [w.id]);
  }
  assert.ok(dying.signedThenLost.length >= 2, `the signer signed and the worker died, twice: ${show(dying.signedThenLost)}`);
  const afterDeaths = await f.module.service.get(f.db.app, w.id);
  assert.deepEqual([afterDeaths.state, afterDeaths.signed_tx], ['signing', null], 'nothing was stored, the withdrawal waits');
  await f.btc!.mine(1);
  const done = await f.settle(w.id);
  assert.equal(done.state, 'completed', show({ code: done.failure_code, detail: done.failure_detail }));
  const payments = await paymentsTo(f.btc!.rpc, destination, startHeight);
  assert.equal(payments.length, 1, `exactly one payment: ${show(payments)}`);
  assert.equal(payments[0]!.txid, done.txid);
  const { rows } = await f.db.app.query('select txid from withdrawal_transactions where withdrawal_id = $1', [w.id]);
  assert.equal(rows.length, 1, 'one signed transaction stored');
});
