// Treasury over HTTP (WDR-06): the approval view, signed approvals and signed rejections (a
// maker-checker veto), on a real bcoin regtest node, the real signer on SoftHSM2 and a Postgres
// clone. The HTTP app runs the real routes on the fixture's database; the fixture's worker runs
// the pipeline.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { sign as cryptoSign, verify as cryptoVerify, createPublicKey } from 'node:crypto';
import { inTransaction } from '../../src/platform/tx.ts';
import { ApproverRegistry, rejectionMessage } from '../../src/withdrawals/approvers.ts';
import type { WithdrawalRow } from '../../src/withdrawals/withdrawal-service.ts';
import { approve, tempDir, type TestApprover } from '../../signer/test/helpers.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';
import { coldWaiting as coldWaitingOn, runCli, startTreasuryHttp, type CliRun, type TreasuryHttp } from '../helpers/treasury.ts';


let f: WithdrawalFixture;
let http: TreasuryHttp;
let url: string;
let keys: TreasuryHttp['keys'];
let seq = 0;

before(async () => {
  f = await startWithdrawals('bitcoin');
  http = await startTreasuryHttp(f);
  ({ url, keys } = http);
});

after(async () => {
  await http?.close();
  await f?.close();
});

async function call(method: string, route: string, options: { key?: string; body?: unknown; idem?: string } = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { authorization: `Bearer ${options.key ?? keys.treasury}` };
  if (method !== 'GET') headers['idempotency-key'] = options.idem ?? `treasury-${process.pid}-${++seq}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}${route}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

/** An officer's signed rejection, as `treasury reject` makes it. */
function signRejection(approver: TestApprover, intentHash: string, reason: string, window?: { signedAt?: Date; expiresAt?: Date }): Record<string, string> {
  const signedAt = (window?.signedAt ?? new Date()).toISOString();
  const expiresAt = (window?.expiresAt ?? new Date(Date.now() + 3600_000)).toISOString();
  const message = rejectionMessage({ intentHash, approverId: approver.id, signedAt, expiresAt, reason });
  const signature = approver.algorithm === 'ed25519'
    ? cryptoSign(null, message, approver.privateKey)
    : cryptoSign('sha256', message, { key: approver.privateKey, dsaEncoding: 'der' });
  return { approverId: approver.id, algorithm: approver.algorithm, intentHash, signature: signature.toString('base64'), signedAt, expiresAt, reason };
}

/** A cold BTC withdrawal of `amount` waiting for its 2 treasury approvals, intent fixed. */
const coldWaiting = (amount?: string, initiator?: string) => coldWaitingOn(f, amount, initiator);

/** Everything a refused call must leave as it was. */
async function snapshot(w: WithdrawalRow, client: string): Promise<unknown> {
  const { rows: [row] } = await f.db.app.query('select state, failure_code, updated_at, intent_hash, signed_tx from withdrawals where id = $1', [w.id]);
  const { rows: [counts] } = await f.db.app.query(
    `select (select count(*)::int from withdrawal_approvals where withdrawal_id = $1) as approvals,
            (select count(*)::int from withdrawal_rejections where withdrawal_id = $1) as rejections,
            (select count(*)::int from withdrawal_transitions where withdrawal_id = $1) as transitions,
            (select count(*)::int from utxos where reserved_by = $1 and status = 'reserved') as reserved,
            (select state from holds where id = $2) as hold`, [w.id, w.hold_id]);
  return show({ row, counts, balance: await f.entitlement(client, 'BTC') });
}

test('WDR-06 one officer’s signed rejection ends a cold withdrawal: rejected TREASURY_REJECTED, hold released, coins freed, nothing signed, withdrawal.rejected on the feed', async () => {
  const { client, w, availableBefore } = await coldWaiting();
  const [, , carol] = f.approvers;
  const held = await f.entitlement(client, 'BTC');
  assert.equal(held.available, availableBefore - 1_000_000n - 200_000n, 'amount + maximum fee are held while it waits');
  const { rows: reserved } = await f.db.app.query(`select txid, vout from utxos where reserved_by = $1 and status = 'reserved'`, [w.id]);
  assert.ok(reserved.length > 0, 'the intent reserved coins');
  // Carol approved first; she may still veto before anything is signed, and her approval stays on record.
  await f.approveAs(carol!, w);
  const reason = 'Destination flagged by the exchange’s fraud desk; client contacted';
  const rejection = signRejection(carol!, w.intent_hash!, reason);
  const idem = `reject-${w.id}`;
  const res = await call('POST', `/v1/treasury/approvals/${w.id}/reject`, { body: rejection, idem });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.state, 'rejected');
  assert.deepEqual(res.body.failure, { code: 'TREASURY_REJECTED', detail: 'rejected by treasury' }, 'the officer’s reason never reaches the exchange (tipping-off)');

  // Idempotent: the same key and body answer the same; another key is a 409 and changes nothing.
  const replay = await call('POST', `/v1/treasury/approvals/${w.id}/reject`, { body: rejection, idem });
  assert.equal(replay.status, 200);
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  assert.deepEqual(replay.body, res.body);
  const again = await call('POST', `/v1/treasury/approvals/${w.id}/reject`, { body: rejection });
  assert.equal(again.status, 409);
  assert.equal(again.body.code, 'WITHDRAWAL_STATE');

  // The pipeline has nothing left to do with it: nothing is signed or broadcast.
  await f.module.pipeline!.drain(20);
  const done = await f.module.service.get(f.db.app, w.id);
  assert.equal(done.state, 'rejected');
  assert.equal(done.failure_code, 'TREASURY_REJECTED');
  assert.equal(done.signed_tx, null, 'nothing was signed');
  assert.equal(done.txid, null, 'nothing was broadcast');
  assert.ok(done.completed_at);
  const { rows: [txs] } = await f.db.app.query(
    `select (select count(*)::int from withdrawal_transactions where withdrawal_id = $1) as signed,
            (select count(*)::int from own_transactions where withdrawal_id = $1) as own`, [w.id]);
  assert.deepEqual(txs, { signed: 0, own: 0 });

  // The client's money is back: the hold is voided in full and the coins are unspent again.
  const afterBalance = await f.entitlement(client, 'BTC');
  assert.equal(afterBalance.available, availableBefore, 'available is back to what it was');
  assert.equal(afterBalance.held, 0n);
  assert.equal((await f.ledger.getHold(f.db.app, w.hold_id!))!.state, 'voided');
  for (const u of reserved) {
    const { rows } = await f.db.app.query('select status, reserved_by from utxos where txid = $1 and vout = $2', [u.txid, u.vout]);
    assert.deepEqual(rows[0], { status: 'unspent', reserved_by: null });
  }

  // What was recorded: the transition, the rejection with its signature (verifiable again later), and the earlier approval.
  const { rows: transitions } = await f.db.app.query('select from_state, to_state, detail from withdrawal_transitions where withdrawal_id = $1 order by id', [w.id]);
  const last = transitions.at(-1)!;
  assert.equal(last.from_state, 'approvals');
  assert.equal(last.to_state, 'rejected');
  assert.equal(last.detail.code, 'TREASURY_REJECTED');
  assert.equal(last.detail.rejectedBy, carol!.id);
  const { rows: [stored] } = await f.db.app.query('select * from withdrawal_rejections where withdrawal_id = $1', [w.id]);
  assert.equal(stored.approver_id, carol!.id);
  assert.equal(stored.user_id, carol!.userId);
  assert.equal(stored.reason, reason);
  assert.equal(stored.intent_hash, w.intent_hash);
  assert.match(stored.recorded_by, /^apikey:/);
  const message = rejectionMessage({ intentHash: stored.intent_hash, approverId: stored.approver_id, signedAt: rejection.signedAt!, expiresAt: rejection.expiresAt!, reason: stored.reason });
  assert.equal(stored.signed_at.toISOString(), rejection.signedAt);
  assert.ok(cryptoVerify(null, message, createPublicKey(carol!.publicKeyPem), Buffer.from(stored.signature, 'base64')), 'the stored rejection verifies under the officer’s key');
  const { rows: approvals } = await f.db.app.query('select approver_id, decision from withdrawal_approvals where withdrawal_id = $1', [w.id]);
  assert.deepEqual(approvals, [{ approver_id: carol!.id, decision: 'approve' }], 'the earlier approval is not lost');

  // The exchange learns it from the events feed.
  const feed = await call('GET', `/v1/events?after=0&clientId=${client}`, { key: keys.exchange });
  assert.equal(feed.status, 200);
  const rejected = feed.body.events.filter((e: { type: string; subject: string }) => e.type === 'withdrawal.rejected' && e.subject === w.id);
  assert.equal(rejected.length, 1, JSON.stringify(feed.body.events.map((e: { type: string }) => e.type)));
  assert.deepEqual(rejected[0].payload, { withdrawalId: w.id, code: 'TREASURY_REJECTED' }, 'neither reason nor officer on the exchange’s feed');

  // A late approval changes nothing; the freed coins pay the client's next withdrawal.
  const late = await call('POST', `/v1/treasury/approvals/${w.id}`, { body: approve(f.approvers[1]!, w.intent_hash!) });
  assert.equal(late.status, 409);
  assert.equal(late.body.code, 'WITHDRAWAL_STATE');
  const next = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination: f.externalAddress() });
  assert.equal((await f.settle(next.id)).state, 'approvals', 'the coins are spendable again');
});

test('WDR-06 an approval signature is never a rejection and a rejection signature is never an approval: APPROVAL_INVALID, nothing changes', async () => {
  const { client, w } = await coldWaiting();
  const [, bob, carol] = f.approvers;
  const before = await snapshot(w, client);
  const reason = 'not this one';
  const approvalSig = approve(bob!, w.intent_hash!);
  const rejectionSig = signRejection(bob!, w.intent_hash!, reason);
  const attempts: [string, string, Record<string, string>][] = [
    ['an approval submitted as a rejection', `/v1/treasury/approvals/${w.id}/reject`, { ...approvalSig, reason }],
    ['a rejection submitted as an approval', `/v1/treasury/approvals/${w.id}`, { ...rejectionSig, reason: undefined! }],
    ['a rejection with another reason than the one signed', `/v1/treasury/approvals/${w.id}/reject`, { ...rejectionSig, reason: 'another reason' }],
    ['a rejection signed by bob in carol’s name', `/v1/treasury/approvals/${w.id}/reject`, { ...rejectionSig, approverId: carol!.id, algorithm: carol!.algorithm }],
  ];
  for (const [what, route, body] of attempts) {
    const res = await call('POST', route, { body: JSON.parse(JSON.stringify(body)) });
    assert.equal(res.status, 422, `${what}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.code, 'APPROVAL_INVALID', what);
    assert.equal(res.body.reason, 'APPROVAL_SIGNATURE_INVALID', what);
  }
  await f.module.pipeline!.drain(10);
  assert.equal(await snapshot(w, client), before, 'nothing changed');
  // Both signatures are still good for what they were made for.
  const approved = await call('POST', `/v1/treasury/approvals/${w.id}`, { body: approvalSig });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  assert.deepEqual({ approvals: approved.body.approvals, required: approved.body.required }, { approvals: 1, required: 2 });
  const rejected = await call('POST', `/v1/treasury/approvals/${w.id}/reject`, { body: rejectionSig });
  assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
  assert.equal(rejected.body.state, 'rejected');
});

test('WDR-06 An expired approval is rejected (APPROVAL_EXPIRED) and the withdrawal stays waiting; so is an expired rejection', async () => {
  const { client, w } = await coldWaiting();
  const [, bob, carol] = f.approvers;
  const before = await snapshot(w, client);
  const window = { signedAt: new Date(Date.now() - 2 * 3600_000), expiresAt: new Date(Date.now() - 3600_000) };
  const expiredApproval = await call('POST', `/v1/treasury/approvals/${w.id}`, { body: approve(bob!, w.intent_hash!, window) });
  assert.equal(expiredApproval.status, 422, JSON.stringify(expiredApproval.body));
  assert.equal(expiredApproval.body.code, 'APPROVAL_INVALID');
  assert.equal(expiredApproval.body.reason, 'APPROVAL_EXPIRED');
  const expiredRejection = await call('POST', `/v1/treasury/approvals/${w.id}/reject`, { body: signRejection(carol!, w.intent_hash!, 'too late', window) });
  assert.equal(expiredRejection.status, 422, JSON.stringify(expiredRejection.body));
  assert.equal(expiredRejection.body.reason, 'APPROVAL_EXPIRED');
  await f.module.pipeline!.drain(10);
  assert.equal(await snapshot(w, client), before, 'nothing changed');
  assert.equal((await f.module.service.get(f.db.app, w.id)).state, 'approvals', 'still waiting for approvals');
});

test('WDR-06 a rejection gets the approval’s checks (officer, algorithm, intent, window) but not the initiator rule; bad bodies are 400', async () => {
  const [alice, bob] = f.approvers;
  // Alice is a treasury officer who initiated this movement: she may not approve it, she may veto it.
  const { client, w } = await coldWaiting('0.01', alice!.userId);
  const before = await snapshot(w, client);
  const now = Date.now();
  const reason = 'checks';
  const stranger = { ...bob!, id: 'officer-x' };
  const refused: [string, Record<string, string>, string][] = [
    ['unknown officer', signRejection(stranger, w.intent_hash!, reason), 'APPROVER_UNKNOWN'],
    ['algorithm not the registered one', { ...signRejection(bob!, w.intent_hash!, reason), algorithm: 'ed25519' }, 'ALGORITHM_MISMATCH'],
    ['another intent', signRejection(bob!, 'ab'.repeat(32), reason), 'APPROVAL_INTENT_MISMATCH'],
    ['expires before it was signed', signRejection(bob!, w.intent_hash!, reason, { signedAt: new Date(now), expiresAt: new Date(now - 1000) }), 'APPROVAL_WINDOW_INVALID'],
    ['signed in the future', signRejection(bob!, w.intent_hash!, reason, { signedAt: new Date(now + 3600_000), expiresAt: new Date(now + 7200_000) }), 'APPROVAL_FROM_FUTURE'],
    ['valid longer than policy allows', signRejection(bob!, w.intent_hash!, reason, { signedAt: new Date(now), expiresAt: new Date(now + 2 * 86_400_000) }), 'APPROVAL_TOO_LONG'],
  ];
  for (const [what, body, why] of refused) {
    const res = await call('POST', `/v1/treasury/approvals/${w.id}/reject`, { body });
    assert.equal(res.status, 422, `${what}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.code, 'APPROVAL_INVALID', what);
    assert.equal(res.body.reason, why, what);
  }
  const good = signRejection(bob!, w.intent_hash!, reason);
  const malformed: [string, unknown][] = [
    ['no reason', { ...good, reason: undefined }],
    ['empty reason', { ...good, reason: '' }],
    ['blank reason', { ...good, reason: '   ' }],
    ['reason over 500 characters', { ...good, reason: 'x'.repeat(501) }],
    ['control characters', { ...good, reason: 'line\nbreak' }],
    ['unknown field', { ...good, extra: 1 }],
    ['unknown algorithm', { ...good, algorithm: 'rsa' }],
    ['intent hash not hex', { ...good, intentHash: 'z'.repeat(64) }],
    ['signedAt not an instant', { ...good, signedAt: 'yesterday' }],
  ];
  for (const [what, body] of malformed) {
    const res = await call('POST', `/v1/treasury/approvals/${w.id}/reject`, { body: JSON.parse(JSON.stringify(body)) });
    assert.equal(res.status, 400, `${what}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.code, 'VALIDATION_FAILED', what);
  }
  for (const role of ['exchange', 'admin', 'auditor'] as const) {
    const res = await call('POST', `/v1/treasury/approvals/${w.id}/reject`, { key: keys[role], body: good });
    assert.equal(res.status, 403, `${role} may not reject`);
  }
  await f.module.pipeline!.drain(10);
  assert.equal(await snapshot(w, client), before, 'nothing changed');
  const approveOwn = await call('POST', `/v1/treasury/approvals/${w.id}`, { body: approve(alice!, w.intent_hash!) });
  assert.equal(approveOwn.status, 422);
  assert.equal(approveOwn.body.reason, 'APPROVAL_BY_INITIATOR');
  const veto = await call('POST', `/v1/treasury/approvals/${w.id}/reject`, { body: signRejection(alice!, w.intent_hash!, 'I initiated this in error') });
  assert.equal(veto.status, 200, JSON.stringify(veto.body));
  assert.equal(veto.body.state, 'rejected');
  assert.equal((await f.entitlement(client, 'BTC')).held, 0n);
});

test('WDR-06 only a withdrawal waiting for approvals can be rejected: otherwise 409 WITHDRAWAL_STATE (404 for none)', async () => {
  const [, bob] = f.approvers;
  const reject = (w: WithdrawalRow, hash: string) => call('POST', `/v1/treasury/approvals/${w.id}/reject`, { body: signRejection(bob!, hash, 'state check') });
  // Just requested: the pipeline has not fixed an intent yet.
  const client = await f.fundedClient('BTC', 20_000_000n, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const requested = await f.request({ clientId: client, asset: 'BTC', amount: '0.001', destination });
  const early = await reject(requested, 'ab'.repeat(32));
  assert.equal(early.status, 409, JSON.stringify(early.body));
  assert.equal(early.body.code, 'WITHDRAWAL_STATE');
  // Completed (a hot withdrawal needs no approvals): a correctly signed rejection of its intent is refused.
  const done = await f.settle(requested.id);
  assert.equal(done.state, 'completed', show({ state: done.state, failure: done.failure_code }));
  const late = await reject(done, done.intent_hash!);
  assert.equal(late.status, 409);
  assert.equal(late.body.code, 'WITHDRAWAL_STATE');
  assert.equal((await f.module.service.get(f.db.app, done.id)).state, 'completed');
  // Cancelled while waiting.
  const { w } = await coldWaiting();
  await inTransaction(f.db.app, (q) => f.module.service.cancel(q, w.id, 'test'));
  const cancelled = await reject(w, w.intent_hash!);
  assert.equal(cancelled.status, 409);
  assert.equal(cancelled.body.code, 'WITHDRAWAL_STATE');
  assert.equal((await f.module.service.get(f.db.app, w.id)).state, 'cancelled');
  const none = await call('POST', '/v1/treasury/approvals/00000000-0000-4000-8000-000000000000/reject', { body: signRejection(bob!, 'ab'.repeat(32), 'none') });
  assert.equal(none.status, 404);
  assert.equal(none.body.code, 'WITHDRAWAL_NOT_FOUND');
  const { rows } = await f.db.app.query('select count(*)::int as n from withdrawal_rejections where withdrawal_id = any($1)', [[requested.id, w.id]]);
  assert.equal(rows[0].n, 0);
});

test('WDR-06 the approval view shows the client, the policy trace, the Travel Rule status and the hot ratio after the move, never the PII', async () => {
  const { client, w } = await coldWaiting();
  const res = await call('GET', '/v1/treasury/approvals');
  assert.equal(res.status, 200);
  const item = res.body.pending.find((p: { withdrawal: { id: string } }) => p.withdrawal.id === w.id);
  assert.ok(item, 'the withdrawal is listed');
  assert.equal(item.client.id, client);
  assert.ok(Array.isArray(item.policyTrace) && item.policyTrace.length > 0, 'the policy decision with its trace');
  assert.match(item.hotRatioRetailPct.after, /^\d+\.\d\d$/);
  assert.equal(item.intentHash, w.intent_hash);
  assert.deepEqual(item.travelRule, { status: w.travel_rule_status, tier: w.travel_rule_tier, destinationType: 'self_hosted' });
  assert.equal(item.travelRule.status, 'self_hosted_info_held', show(item.travelRule));
  const text = JSON.stringify(res.body);
  assert.ok(!text.includes('Aigerim') && !text.includes('900401400123'), 'no originator PII');
  assert.ok(!/payload|ciphertext|"iv"/i.test(text), 'no encrypted Travel Rule payload');
  const auditor = await call('GET', '/v1/treasury/approvals', { key: keys.auditor });
  assert.equal(auditor.status, 200);
});

/** The CLI's request journal: in a directory of the test's own, never the user's home. */
const cliStateDir = tempDir('treasury-cli-state');

function cli(args: string[]): Promise<CliRun> {
  return runCli(args, { apiUrl: url, apiKey: keys.treasury, stateDir: cliStateDir });
}

test('WDR-06 CLI: treasury pending prints the Travel Rule status; treasury reject signs the rejection with the officer’s PEM key', async () => {
  const { client, availableBefore, w } = await coldWaiting();
  const [, bob] = f.approvers; // P-256
  const pending = await cli(['treasury', 'pending']);
  assert.equal(pending.code, 0, pending.stderr);
  const block = pending.stdout.slice(pending.stdout.indexOf(w.id)).split('\n').slice(0, 3).join('\n');
  assert.match(block, new RegExp(`travel rule: ${w.travel_rule_status} \\(tier ${w.travel_rule_tier ?? '-'}, self_hosted\\)`));
  const keyFile = path.join(tempDir('officer'), 'officer-b.pem');
  writeFileSync(keyFile, bob!.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const usage = await cli(['treasury', 'reject', w.id, '--approver', bob!.id, '--key', keyFile]);
  assert.equal(usage.code, 2, 'a rejection needs a reason');
  const rejected = await cli(['treasury', 'reject', w.id, '--approver', bob!.id, '--key', keyFile, '--reason', 'Client asked to stop it by phone']);
  assert.equal(rejected.code, 0, rejected.stderr);
  assert.match(rejected.stdout, /rejected: .* is rejected \(TREASURY_REJECTED\)/);
  const done = await f.module.service.get(f.db.app, w.id);
  assert.equal(done.state, 'rejected');
  assert.equal(done.failure_detail, 'rejected by treasury');
  const { rows: [stored] } = await f.db.app.query('select reason from withdrawal_rejections where withdrawal_id = $1', [w.id]);
  assert.equal(stored.reason, 'Client asked to stop it by phone', 'the reason is kept for treasury and auditors');
  assert.equal((await f.entitlement(client, 'BTC')).available, availableBefore);
  const again = await cli(['treasury', 'reject', w.id, '--approver', bob!.id, '--key', keyFile, '--reason', 'twice']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /not waiting for approvals/);
});

test('KEY-06 WDR-06 an approval whose times are not written as toISOString writes them is refused (the signer could never verify it); nothing changes', async () => {
  const { client, w } = await coldWaiting();
  const [, bob] = f.approvers;
  const before = await snapshot(w, client);
  const signedAt = new Date(Date.now() - 60_000).toISOString().replace('Z', '+00:00');
  const expiresAt = new Date(Date.now() + 3600_000).toISOString();
  const message = (await import('../../signer/src/intent.ts')).approvalMessage({ intentHash: w.intent_hash!, approverId: bob!.id, signedAt, expiresAt });
  const signature = cryptoSign('sha256', message, { key: bob!.privateKey, dsaEncoding: 'der' }).toString('base64');
  const res = await call('POST', `/v1/treasury/approvals/${w.id}`, { body: { approverId: bob!.id, algorithm: bob!.algorithm, intentHash: w.intent_hash, signature, signedAt, expiresAt } });
  assert.deepEqual([res.status, res.body.code, res.body.reason], [422, 'APPROVAL_INVALID', 'APPROVAL_WINDOW_INVALID'], JSON.stringify(res.body));
  assert.equal(await snapshot(w, client), before, 'nothing changed');
});

test('KEY-06 the approver registry refuses a policy that registers one person under two approver ids (a quorum counts people)', () => {
  const dir = tempDir('one-person-two-ids');
  const [alice, bob] = f.approvers;
  const registry = (approvers: { id: string; userId: string; algorithm: string; publicKeyPem: string }[]) => {
    const file = path.join(dir, `policy-${approvers.map((a) => a.id).join('-')}.json`);
    writeFileSync(file, JSON.stringify({ version: 't', approvals: { quorum: 2, maxLifetimeSeconds: 86_400, clockSkewSeconds: 60 }, approvers }));
    return () => new ApproverRegistry(file);
  };
  const pem = (a: TestApprover) => createPublicKey(a.privateKey).export({ type: 'spki', format: 'pem' }).toString();
  assert.throws(registry([{ id: 'officer-x', userId: 'Alice', algorithm: alice!.algorithm, publicKeyPem: pem(alice!) },
    { id: 'officer-y', userId: ' alice ', algorithm: bob!.algorithm, publicKeyPem: pem(bob!) }]), /alice.*two approver ids/i);
  const ok = registry([{ id: 'officer-x', userId: 'alice', algorithm: alice!.algorithm, publicKeyPem: pem(alice!) },
    { id: 'officer-y', userId: 'bob', algorithm: bob!.algorithm, publicKeyPem: pem(bob!) }])();
  assert.equal(ok.quorum, 2);
});
