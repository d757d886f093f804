// The Travel Rule gate before signing (WDR-05, TR-06), on the path the service runs: withdrawals
// requested through the withdrawal service and worked by the real pipeline (its travel_rule step in
// src/withdrawals/withdrawal-pipeline.ts, the data from src/withdrawals/travel-rule-step.ts), the
// real signer on SoftHSM2 and bcoin regtest. "Never signed" is read from the signer's own replay log,
// which records the intent id of everything it signs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { inTransaction } from '../../src/platform/tx.ts';
import { decryptJson, loadKeyring, type PiiEnvelope } from '../../src/travel-rule/index.ts';
import { replayLogBytes } from '../../signer/test/helpers.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';
import type { WithdrawalRow } from '../../src/withdrawals/withdrawal-service.ts';

let f: WithdrawalFixture;
before(async () => { f = await startWithdrawals('bitcoin'); });
after(async () => { await f?.close(); });

/** Worker passes over a waiting withdrawal: each pass makes it due again, so the travel_rule step runs every time. */
const WORKER_PASSES = 5;

async function transitionsOf(id: string): Promise<string[]> {
  const { rows } = await f.db.app.query('select from_state, to_state from withdrawal_transitions where withdrawal_id = $1 order by id', [id]);
  return rows.map((t) => `${t.from_state ?? ''}>${t.to_state}`);
}

async function eventTypesOf(id: string): Promise<string[]> {
  return (await f.db.app.query('select type from events where subject = $1 order by id', [id])).rows.map((e) => e.type);
}

async function signedTransactionsOf(id: string): Promise<number> {
  return (await f.db.app.query('select count(*)::int as n from withdrawal_transactions where withdrawal_id = $1', [id])).rows[0].n;
}

/** Whether the signer ever signed an intent of this withdrawal (intent id = withdrawal id). */
const signerSaw = (id: string): boolean => replayLogBytes(f.signer.dir).toString('utf8').includes(id);

async function holdState(w: WithdrawalRow): Promise<string> {
  return (await f.db.app.query('select state from holds where id = $1', [w.hold_id])).rows[0].state;
}

/** Runs the default worker (TRAVEL_RULE_VASP=hold) over the withdrawal several times, as if time passed. */
async function workRepeatedly(id: string): Promise<WithdrawalRow> {
  for (let i = 0; i < WORKER_PASSES; i++) {
    await f.db.app.query('update withdrawals set next_run_at = now() where id = $1', [id]);
    await f.module.pipeline!.drain(20);
  }
  return f.module.service.get(f.db.app, id);
}

/** A funded retail client and a VASP-declared destination in its address book (past the cooling-off): the policy asks for no approval. */
async function vaspWithdrawal(amount: string): Promise<WithdrawalRow> {
  const client = await f.fundedClient('BTC', 20_000_000n, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  return f.request({ clientId: client, asset: 'BTC', amount, destination, destinationType: 'vasp' });
}

test('WDR-05 TR-06 a VASP-bound withdrawal of USD 1,000 or more, no Travel Rule message sent, waits in travel_rule: never built, signed or broadcast', async () => {
  const w = await vaspWithdrawal('0.02'); // USD 1,300 at the static BTC price
  assert.equal(w.usd_cents, 130_000n);
  await f.settle(w.id, { untilState: 'travel_rule' });
  const still = await workRepeatedly(w.id);
  assert.deepEqual(
    [still.state, still.destination_type, still.travel_rule_status, still.travel_rule_tier, still.approvals_required],
    ['travel_rule', 'vasp', 'pending', 'full', 0],
    show({ state: still.state, failure: still.failure_code, detail: still.failure_detail }));
  assert.equal((still.policy as { outcome: string }).outcome, 'allow', 'the policy alone would let it go: the Travel Rule is what holds it');
  assert.deepEqual([still.failure_code, still.attempts], [null, 0], 'waiting is not failing: every pass looks again without an error');
  assert.deepEqual([still.intent, still.intent_hash, still.build, still.signed_tx, still.txid], [null, null, null, null, null]);
  assert.deepEqual(await transitionsOf(w.id), ['>requested', 'requested>screening', 'screening>policy', 'policy>travel_rule']);
  assert.equal(await signedTransactionsOf(w.id), 0);
  assert.deepEqual(await eventTypesOf(w.id), ['withdrawal.requested'], 'no approvals_needed, no broadcast');
  assert.equal(signerSaw(w.id), false, 'the signer was never asked');
  assert.equal(await holdState(still), 'pending', 'the funds stay on hold meanwhile');
  // TR-06: what will go out is kept sealed at rest, and is the full data set for this withdrawal.
  const { rows } = await f.db.owner.query('select travel_rule_payload::text as p from withdrawals where id = $1', [w.id]);
  assert.ok(!rows[0].p.includes('Aigerim') && !rows[0].p.includes(still.destination), 'no personal data or address in the clear');
  const payload = decryptJson(loadKeyring(f.keyringFile), still.travel_rule_payload as unknown as PiiEnvelope, `travel-rule:${w.id}`) as any;
  assert.equal(payload.transfer.destinationType, 'vasp');
  assert.deepEqual(payload.ivms101.beneficiary.accountNumber, [still.destination]);
  assert.equal(payload.ivms101.originator.originatorPersons[0].naturalPerson.name.nameIdentifier[0].primaryIdentifier, 'Aigerim');
});

test('WDR-05 TR-03 below USD 1,000 a VASP-bound withdrawal waits as well (reduced data set): the gate is the message, not the amount', async () => {
  const w = await vaspWithdrawal('0.01'); // USD 650
  await f.settle(w.id, { untilState: 'travel_rule' });
  const still = await workRepeatedly(w.id);
  assert.deepEqual([still.state, still.travel_rule_status, still.travel_rule_tier, still.intent], ['travel_rule', 'pending', 'reduced', null]);
  assert.equal(await signedTransactionsOf(w.id), 0);
  assert.equal(signerSaw(w.id), false);
});

test('WDR-05 only the loudly named development switch TRAVEL_RULE_VASP=development-auto-ack lets a VASP-bound withdrawal on: acked, then signed and completed', async () => {
  const w = await vaspWithdrawal('0.02');
  // The default worker holds it first: it waits in travel_rule, the data set sealed and stored.
  const held = await workRepeatedly(w.id);
  assert.deepEqual([held.state, held.travel_rule_status, held.failure_code], ['travel_rule', 'pending', null]);
  // A worker configured with the switch, as a development service runs (production config refuses
  // it: test/platform/production-config.test.ts), then acks the withdrawal that waited.
  const development = f.pipelineWith({ TRAVEL_RULE_VASP: 'development-auto-ack' });
  let acked = w;
  for (let i = 0; i < 20 && ['requested', 'screening', 'policy', 'travel_rule'].includes(acked.state); i++) {
    await f.db.app.query('update withdrawals set next_run_at = now() where id = $1', [w.id]);
    await development.step();
    acked = await f.module.service.get(f.db.app, w.id);
  }
  assert.deepEqual([acked.state, acked.travel_rule_status], ['approvals', 'acked'], show({ state: acked.state, failure: acked.failure_code, detail: acked.failure_detail }));
  const { rows } = await f.db.app.query(
    `select detail from withdrawal_transitions where withdrawal_id = $1 and from_state = 'travel_rule' and to_state = 'approvals'`, [w.id]);
  assert.deepEqual(rows.map((r) => r.detail), [{ travelRule: 'acked', tier: 'full' }]);
  const done = await f.settle(w.id);
  assert.equal(done.state, 'completed', show({ state: done.state, failure: done.failure_code, detail: done.failure_detail }));
  assert.equal(done.travel_rule_status, 'acked', 'the status stays as it was when signing started');
  assert.equal(await signedTransactionsOf(w.id), 1);
  assert.equal(signerSaw(w.id), true);
});

test('WDR-05 DEP-05 a self-hosted destination of USD 1,000 or more is signed only once the information is held: without a proof it is rejected at travel_rule, with one it is signed', async () => {
  const client = await f.fundedClient('BTC', 20_000_000n, 'hot');
  const destination = f.externalKeyAddress();
  await f.bookAddress(client, destination.address);
  const unproven = await f.request({ clientId: client, asset: 'BTC', amount: '0.02', destination: destination.address });
  const refused = await f.settle(unproven.id);
  assert.deepEqual([refused.state, refused.failure_code, refused.intent], ['rejected', 'OWNERSHIP_PROOF_REQUIRED', null]);
  assert.deepEqual((await transitionsOf(unproven.id)).slice(-2), ['policy>travel_rule', 'travel_rule>rejected']);
  assert.equal(await signedTransactionsOf(unproven.id), 0);
  assert.equal(signerSaw(unproven.id), false);
  assert.equal(await holdState(refused), 'voided', 'the hold is released');

  const proven = await f.request({ clientId: client, asset: 'BTC', amount: '0.02', destination: destination.address, proveWith: destination.privateKey });
  const review = await f.settle(proven.id);
  assert.deepEqual([review.state, review.travel_rule_status, review.approvals_required], ['approvals', 'self_hosted_info_held', 1],
    show({ state: review.state, failure: review.failure_code, detail: review.failure_detail }));
  await f.approveAs(f.approvers[1]!, review);
  const done = await f.settle(proven.id);
  assert.equal(done.state, 'completed', show({ state: done.state, failure: done.failure_code, detail: done.failure_detail }));
  const transitions = await transitionsOf(proven.id);
  assert.ok(transitions.indexOf('travel_rule>approvals') < transitions.indexOf('approvals>signing'), transitions.join(' '));
  assert.equal(signerSaw(proven.id), true);
});

test('TR-04 WDR-05 a client whose KYC is no longer verified is refused at travel_rule at USD 1,000 (ORIGINATOR_NOT_VERIFIED) and nothing is signed', async () => {
  const client = await f.fundedClient('BTC', 20_000_000n, 'hot');
  await inTransaction(f.db.app, (q) => f.module.travelRule.storeKyc(q, client, { name: { primary: 'Aigerim', secondary: 'Nurlanovna' }, verified: false,
    nationalId: '900401400123', geographicAddress: { town: 'Astana', country: 'KZ' } }));
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.02', destination, destinationType: 'vasp' });
  const done = await f.settle(w.id);
  assert.deepEqual([done.state, done.failure_code], ['rejected', 'ORIGINATOR_NOT_VERIFIED'], show({ state: done.state, detail: done.failure_detail }));
  assert.deepEqual((await transitionsOf(w.id)).slice(-1), ['travel_rule>rejected']);
  assert.equal(signerSaw(w.id), false);
});
