// WDR-08 on real components (Postgres, SoftHSM signer, bcoin regtest): a dispute filed while a
// withdrawal is in flight freezes it before anything is signed; the hold stays; once the case is
// resolved and the client unfrozen, the same withdrawal goes on and completes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { inTransaction } from '../../src/platform/tx.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

let f: WithdrawalFixture;
before(async () => { f = await startWithdrawals('bitcoin'); });
after(async () => { await f.close(); });

test('WDR-08 a dispute filed while a withdrawal waits to be signed freezes it: nothing is signed, the hold stays; resolved and unfrozen, it completes', async () => {
  const client = await f.fundedClient('BTC', 20_000_000n, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination });
  await f.stepUntil(w.id, 'signing');
  assert.equal((await f.module.service.get(f.db.app, w.id)).state, 'signing');

  const cases = f.module.cases;
  const dispute = await inTransaction(f.db.app, async (q) => {
    const c = await cases.open(q, { kind: 'dispute', clientId: client, summary: 'suspected compromise', actor: 'test' });
    await cases.freezeClient(q, client, { reasonCode: 'DISPUTE', caseId: c.id, actor: 'test' });
    return c;
  });
  for (let i = 0; i < 5; i++) {
    await f.module.pipeline!.drain(20);
    await f.db.app.query('update withdrawals set next_run_at = now() where id = $1', [w.id]);
  }
  const frozen = await f.module.service.get(f.db.app, w.id);
  assert.deepEqual([frozen.state, frozen.failure_code, frozen.signed_tx], ['signing', 'CLIENT_FROZEN', null], show(frozen.failure_detail));
  assert.equal((await f.db.app.query('select count(*)::int as n from withdrawal_transactions where withdrawal_id = $1', [w.id])).rows[0].n, 0, 'nothing signed');
  assert.equal((await f.entitlement(client, 'BTC')).held, 1_000_000n + 200_000n, 'the hold stays while frozen');

  const { unfrozen } = await inTransaction(f.db.app, (q) => cases.resolve(q, dispute.id, { decision: 'withdrawn', note: 'the client withdrew it', unfreeze: true, actor: 'test' }));
  assert.equal(unfrozen, true);
  const done = await f.settle(w.id);
  assert.equal(done.state, 'completed', show(done.failure_detail));
});
