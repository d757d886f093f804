// The treasury console's module, run in Node 20 against the real API (WDR-06, KEY-08): officers'
// PKCS#8 keys imported through WebCrypto sign approvals and rejections exactly as the API and the
// signer check them. On a real bcoin regtest node, the real signer on SoftHSM2 and a Postgres
// clone, two console approvals (one Ed25519, one P-256) bring a cold BTC withdrawal to completed;
// one console rejection ends another TREASURY_REJECTED. API errors reach the officer with their code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { approvalMessage } from '../../signer/src/intent.ts';
import { verify as nodeVerify, createPublicKey } from 'node:crypto';
import type { TestApprover } from '../../signer/test/helpers.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';
import { coldWaiting, startTreasuryHttp, type TreasuryHttp } from '../helpers/treasury.ts';
import * as consoleModule from '../../src/console/static/console-core.js';

let f: WithdrawalFixture;
let http: TreasuryHttp;

before(async () => {
  f = await startWithdrawals('bitcoin');
  http = await startTreasuryHttp(f, 'console');
});

after(async () => {
  await http?.close();
  await f?.close();
});

/** What the officer selects in the browser: their key as a PKCS#8 PEM file. */
const pemFile = (approver: TestApprover) => approver.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

const apiFor = (role: keyof TreasuryHttp['keys']) => consoleModule.createApiClient({ apiKey: http.keys[role], baseUrl: http.url });

async function pendingItem(api: consoleModule.ApiClient, id: string) {
  const item = (await api.pending()).find((p) => p.withdrawal.id === id);
  assert.ok(item, `${id} is listed as pending`);
  return item;
}

test('WDR-06 KEY-08 two approvals made with the console module (Ed25519 and P-256 keys, signed by WebCrypto) bring a real cold BTC withdrawal to signing and completed', async () => {
  const { client, w } = await coldWaiting(f, '0.01');
  const [alice, bob] = f.approvers;
  assert.equal(alice!.algorithm, 'ed25519');
  assert.equal(bob!.algorithm, 'p256');
  const api = apiFor('treasury');
  const assets = await api.assets();
  let item = await pendingItem(api, w.id);
  // What the officer sees is what they sign: the console recomputes the hash from the intent.
  const check = await consoleModule.checkIntent(item, assets);
  assert.deepEqual(check, { ok: true, computedHash: w.intent_hash, problems: [] }, show(check));
  assert.equal(item.withdrawal.sourceTier, 'cold');
  assert.equal(consoleModule.liveApprovals(item).length, 0);

  const aliceKey = await consoleModule.importSigningKey(pemFile(alice!));
  const first = await consoleModule.approveWithdrawal({ api, signingKey: aliceKey, approverId: alice!.id, item, assets });
  assert.deepEqual(first, { withdrawalId: w.id, approvals: 1, required: 2 });

  // The same officer again counts once; the list shows who approved.
  item = await pendingItem(api, w.id);
  assert.deepEqual(item.approvals.map((a) => a.approverId), [alice!.id]);
  assert.deepEqual(await consoleModule.approveWithdrawal({ api, signingKey: aliceKey, approverId: alice!.id, item, assets }), { withdrawalId: w.id, approvals: 1, required: 2 });

  const bobKey = await consoleModule.importSigningKey(pemFile(bob!));
  assert.equal(bobKey.algorithm, 'p256');
  const second = await consoleModule.approveWithdrawal({ api, signingKey: bobKey, approverId: bob!.id, item, assets, validMinutes: 30 });
  assert.deepEqual(second, { withdrawalId: w.id, approvals: 2, required: 2 });

  // The stored P-256 approval is DER and verifies as the signer will verify it.
  const { rows } = await f.db.app.query('select approver_id, algorithm, signature, signed_at, expires_at from withdrawal_approvals where withdrawal_id = $1 order by approver_id', [w.id]);
  assert.deepEqual(rows.map((r) => [r.approver_id, r.algorithm]), [[alice!.id, 'ed25519'], [bob!.id, 'p256']]);
  const stored = rows[1]!;
  const message = approvalMessage({ intentHash: w.intent_hash!, approverId: bob!.id, signedAt: stored.signed_at.toISOString(), expiresAt: stored.expires_at.toISOString() });
  assert.ok(nodeVerify('sha256', message, { key: createPublicKey(bob!.publicKeyPem), dsaEncoding: 'der' }, Buffer.from(stored.signature, 'base64')));

  // The pipeline hands both approvals to the signer, which checks them again and signs; the chain confirms.
  const done = await f.settle(w.id, { untilState: 'completed' });
  assert.equal(done.state, 'completed', show({ state: done.state, failure: done.failure_code, detail: done.failure_detail }));
  assert.ok(done.signed_tx, 'signed by the signer under the console approvals');
  assert.ok(done.txid);
  const { rows: transitions } = await f.db.app.query('select to_state from withdrawal_transitions where withdrawal_id = $1 order by id', [w.id]);
  const states = transitions.map((t) => t.to_state);
  assert.ok(states.indexOf('signing') > states.indexOf('approvals'), show(states));
  assert.equal(states.at(-1), 'completed');
  assert.equal((await f.entitlement(client, 'BTC')).held, 0n);
  assert.equal((await api.pending()).some((p) => p.withdrawal.id === w.id), false, 'no longer pending');

  // Too late now: the API's refusal reaches the officer verbatim, with its code.
  const late = await consoleModule.approveWithdrawal({ api, signingKey: aliceKey, approverId: alice!.id, item, assets }).catch((e: unknown) => e);
  assert.ok(late instanceof consoleModule.ApiError);
  assert.equal(late.status, 409);
  assert.equal(late.code, 'WITHDRAWAL_STATE');
  assert.match(consoleModule.describeError(late), /^409 WITHDRAWAL_STATE: /);
});

test('WDR-06 a rejection signed with the console module (P-256) ends a real cold BTC withdrawal TREASURY_REJECTED, its hold released', async () => {
  const { client, w, availableBefore } = await coldWaiting(f, '0.01');
  const [, bob] = f.approvers;
  const api = apiFor('treasury');
  const item = await pendingItem(api, w.id);
  const signingKey = await consoleModule.importSigningKey(pemFile(bob!));
  const reason = 'Client reported the destination as not theirs – call logged';
  // The reason is checked as the API checks it before anything is signed.
  await assert.rejects(consoleModule.rejectWithdrawal({ api, signingKey, approverId: bob!.id, item, reason: '  ' }), { code: 'REASON_INVALID' });
  const result = await consoleModule.rejectWithdrawal({ api, signingKey, approverId: bob!.id, item, reason });
  assert.equal(result.state, 'rejected');
  assert.deepEqual(result.failure, { code: 'TREASURY_REJECTED', detail: 'rejected by treasury' });
  await f.module.pipeline!.drain(20);
  const done = await f.module.service.get(f.db.app, w.id);
  assert.equal(done.state, 'rejected');
  assert.equal(done.failure_code, 'TREASURY_REJECTED');
  assert.equal(done.signed_tx, null, 'nothing was signed');
  const { rows: [stored] } = await f.db.app.query('select approver_id, algorithm, reason from withdrawal_rejections where withdrawal_id = $1', [w.id]);
  assert.deepEqual(stored, { approver_id: bob!.id, algorithm: 'p256', reason });
  const balance = await f.entitlement(client, 'BTC');
  assert.equal(balance.available, availableBefore);
  assert.equal(balance.held, 0n);
});

test('WDR-06 API errors reach the officer with their code: an unknown approver, a key that is not theirs, the initiator, an auditor; nothing changes', async () => {
  const [alice, bob] = f.approvers;
  const { w } = await coldWaiting(f, '0.01', alice!.userId);
  const api = apiFor('treasury');
  const item = await pendingItem(api, w.id);
  const aliceKey = await consoleModule.importSigningKey(pemFile(alice!));
  const bobKey = await consoleModule.importSigningKey(pemFile(bob!));
  const refusals: [string, () => Promise<unknown>, number, string, string | undefined][] = [
    ['unknown approver', () => consoleModule.approveWithdrawal({ api, signingKey: bobKey, approverId: 'officer-x', item }), 422, 'APPROVAL_INVALID', 'APPROVER_UNKNOWN'],
    ['Alice’s key as Bob', () => consoleModule.approveWithdrawal({ api, signingKey: aliceKey, approverId: bob!.id, item }), 422, 'APPROVAL_INVALID', 'ALGORITHM_MISMATCH'],
    ['the initiator approving', () => consoleModule.approveWithdrawal({ api, signingKey: aliceKey, approverId: alice!.id, item }), 422, 'APPROVAL_INVALID', 'APPROVAL_BY_INITIATOR'],
    ['an auditor approving', () => consoleModule.approveWithdrawal({ api: apiFor('auditor'), signingKey: bobKey, approverId: bob!.id, item }), 403, 'FORBIDDEN', undefined],
    ['an auditor rejecting', () => consoleModule.rejectWithdrawal({ api: apiFor('auditor'), signingKey: bobKey, approverId: bob!.id, item, reason: 'no' }), 403, 'FORBIDDEN', undefined],
    ['an unknown API key', () => consoleModule.createApiClient({ apiKey: `amk_${'A'.repeat(43)}`, baseUrl: http.url }).pending(), 401, 'UNAUTHENTICATED', undefined],
  ];
  for (const [what, attempt, status, code, reason] of refusals) {
    const error = await attempt().then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof consoleModule.ApiError, `${what}: ${String(error)}`);
    assert.equal(error.status, status, what);
    assert.equal(error.code, code, what);
    assert.equal(error.problem.reason, reason, what);
    const line = consoleModule.describeError(error);
    assert.ok(line.startsWith(`${status} ${code}: `), line);
    if (reason) assert.ok(line.endsWith(`(reason: ${reason})`), line);
    for (const secret of Object.values(http.keys)) assert.ok(!line.includes(secret), `${what}: no key in the message`);
  }
  // Auditors read the same view (read-only).
  const seen = await pendingItem(apiFor('auditor'), w.id);
  assert.equal(seen.intentHash, w.intent_hash);
  const { rows } = await f.db.app.query('select count(*)::int as n from withdrawal_approvals where withdrawal_id = $1', [w.id]);
  assert.equal(rows[0].n, 0, 'no approval was recorded');
  assert.equal((await f.module.service.get(f.db.app, w.id)).state, 'approvals');
});
