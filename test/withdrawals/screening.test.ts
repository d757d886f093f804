// WDR-04 destination screening on real components: Postgres, the real signer on SoftHSM2, bcoin
// regtest, and the HTTP app for what the exchange and treasury see. The screening list and the
// VASP directory are fixture files written here (SCREENING_LIST_FILE, VASP_DIRECTORY_FILE).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { createAmanat } from '../../src/app.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { p2wpkhFromPublicKey } from '../../src/chains/bitcoin/address.ts';
import { screeningHash, type ScreeningRecord } from '../../src/screening/index.ts';
import { intentHash, type Intent } from '../../signer/src/intent.ts';
import { tempDir } from '../../signer/test/helpers.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';
import type { WithdrawalRow } from '../../src/withdrawals/withdrawal-service.ts';

const regtestAddress = () => p2wpkhFromPublicKey(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true), 'bcoin-regtest').address;
const SANCTIONED = regtestAddress();
const MIXER = regtestAddress();
const HIGH_RISK = regtestAddress();
const VASP = regtestAddress();
const LIST_NAME = 'TEST-SANCTIONS-LIST (designation T-0042)';

let f: WithdrawalFixture;
let env: Record<string, string>;
let server: Server;
let url: string;
let keys: Record<'treasury' | 'exchange', string>;
let seq = 0;

before(async () => {
  const dir = tempDir('screening-fixture');
  env = { SCREENING_LIST_FILE: path.join(dir, 'screening-list.json'), VASP_DIRECTORY_FILE: path.join(dir, 'vasp-directory.json') };
  writeFileSync(env.SCREENING_LIST_FILE!, JSON.stringify({
    kind: 'screening-list', version: 'test-1', defaults: { riskScore: { vasp: 10, self_hosted: 20, unknown: 25 } },
    entries: [
      // Written in upper case: bech32 compares case-insensitively.
      { chain: 'bitcoin', address: SANCTIONED.toUpperCase(), sanctionsList: LIST_NAME, riskScore: 100, tags: ['sanctioned-entity'] },
      { chain: 'bitcoin', address: MIXER, privacyDevice: true, riskScore: 90, tags: ['mixer'] },
      { chain: 'bitcoin', address: HIGH_RISK, classification: 'self_hosted', riskScore: 80, tags: ['darknet-market-exposure'] },
    ],
  }));
  writeFileSync(env.VASP_DIRECTORY_FILE!, JSON.stringify({
    kind: 'vasp-directory', version: 'test-1', vasps: [{ id: 'test-vasp', name: 'Test Counterparty VASP', addresses: [{ chain: 'bitcoin', address: VASP }] }],
  }));
  f = await startWithdrawals('bitcoin', env);
  const config = loadConfig({
    AMANAT_ENV: 'test', LOG_LEVEL: 'silent', API_KEY_CACHE_MS: '0', AMANAT_DATA_DIR: tempDir('screening-app'),
    TREASURY_APPROVERS_FILE: path.join(f.signer.dir, 'signer-policy.json'), PII_KEYRING_FILE: f.keyringFile, BITCOIN_NETWORK: 'bcoin-regtest', ...env,
  });
  const amanat = await createAmanat({ pool: f.db.app, config, log: createLogger(process.env.AMANAT_TEST_LOG ?? 'silent') });
  keys = {} as typeof keys;
  for (const role of ['treasury', 'exchange'] as const) {
    keys[role] = (await inTransaction(f.db.app, (q) => amanat.services.apiKeys.create(q, { name: `screening-test-${role}`, role, createdBy: null }))).secret;
  }
  server = amanat.http.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await f?.close();
});

async function call(method: string, route: string, key: string): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (method !== 'GET') headers['idempotency-key'] = `screening-${process.pid}-${++seq}`;
  const res = await fetch(`${url}${route}`, { method, headers });
  return { status: res.status, body: await res.json() };
}

async function casesOf(withdrawalId: string): Promise<{ id: string; kind: string; status: string; details: Record<string, unknown> }[]> {
  return (await f.db.app.query('select id, kind, status, details from cases where withdrawal_id = $1 order by opened_at', [withdrawalId])).rows;
}
async function clientState(clientId: string): Promise<string> {
  return (await f.db.app.query('select state from clients where id = $1', [clientId])).rows[0].state;
}
async function holdOf(w: WithdrawalRow): Promise<{ state: string; amount: bigint; expires_at: Date; frozen: Record<string, unknown> | null }> {
  return (await f.db.app.query('select state, amount, expires_at, frozen from holds where id = $1', [w.hold_id])).rows[0];
}
async function signedCount(withdrawalId: string): Promise<number> {
  return (await f.db.app.query('select count(*)::int as n from withdrawal_transactions where withdrawal_id = $1', [withdrawalId])).rows[0].n;
}
const record = (w: WithdrawalRow) => w.screening as unknown as ScreeningRecord;
const screeningFileHash = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

test('WDR-04 a sanctioned destination is blocked, the client frozen, a case opened; the funds stay frozen, nothing is signed, the exchange is not told why', async () => {
  const client = await f.fundedClient('BTC', 20_000_000n, 'hot');
  await f.bookAddress(client, SANCTIONED);
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination: SANCTIONED });
  const done = await f.settle(w.id);
  assert.deepEqual([done.state, done.failure_code], ['rejected', 'SANCTIONED'], show({ state: done.state, failure: done.failure_code, detail: done.failure_detail }));
  // Blocked before the policy, before any intent: nothing for anyone to approve or sign.
  assert.equal(done.policy, null);
  assert.equal(done.intent, null);
  assert.equal(done.signed_tx, null);
  assert.equal(await signedCount(w.id), 0, 'nothing was signed');
  assert.equal(record(done).outcome, 'sanctioned');
  assert.equal(record(done).result.sanctionsList, LIST_NAME);
  assert.equal(done.screening_hash, screeningHash(done.screening!));

  // Frozen, not released: still held, not available, and the client is frozen under a sanctions case.
  const hold = await holdOf(done);
  assert.equal(hold.state, 'frozen');
  const balance = await f.entitlement(client, 'BTC');
  assert.equal(balance.held, 1_000_000n + 200_000n, 'amount + maximum fee stay held');
  assert.equal(balance.available, 20_000_000n - 1_200_000n);
  assert.equal(await clientState(client), 'frozen');
  const cases = await casesOf(w.id);
  assert.deepEqual(cases.map((c) => [c.kind, c.status]), [['sanctions_hit', 'open']]);
  assert.equal(hold.frozen!.caseId, cases[0]!.id, 'the hold is frozen under that case');
  assert.equal(cases[0]!.details.screeningHash, done.screening_hash);
  const { rows: changes } = await f.db.app.query('select to_state, reason, case_id from client_state_changes where client_id = $1', [client]);
  assert.deepEqual(changes.map((c) => [c.to_state, c.reason, c.case_id]), [['frozen', 'COMPLIANCE', cases[0]!.id]]);

  // The exchange: a neutral code, in the withdrawal and on the feed, and no trace of the sanctions hit anywhere it can read.
  const seen = await call('GET', `/v1/withdrawals/${w.id}`, keys.exchange);
  assert.equal(seen.status, 200);
  assert.deepEqual(seen.body.failure, { code: 'COMPLIANCE_HOLD', detail: 'the withdrawal is held for compliance review' });
  const feed = await call('GET', `/v1/events?after=0&clientId=${client}&limit=500`, keys.exchange);
  const rejected = feed.body.events.filter((e: { type: string; subject: string }) => e.type === 'withdrawal.rejected' && e.subject === w.id);
  assert.deepEqual(rejected.map((e: { payload: unknown }) => e.payload), [{ withdrawalId: w.id, code: 'COMPLIANCE_HOLD' }]);
  const frozenEvent = feed.body.events.find((e: { type: string }) => e.type === 'client.frozen');
  assert.deepEqual(frozenEvent?.payload, { clientId: client, reasonCode: 'COMPLIANCE' });
  const listing = await call('GET', `/v1/withdrawals?clientId=${client}`, keys.exchange);
  const holdView = await call('GET', `/v1/holds/${done.hold_id}`, keys.exchange);
  for (const body of [seen.body, feed.body, listing.body, holdView.body]) {
    assert.doesNotMatch(JSON.stringify(body), /sanction|T-0042|SANCTIONED/i, 'no tipping-off');
  }
  // A frozen client starts nothing new.
  await assert.rejects(f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination: f.externalAddress() }), /CLIENT_NOT_ACTIVE|not active|frozen/i);
});

test('WDR-04 a frozen hold survives the expiry loop and the exchange\'s void; only the case that froze it gives the funds back', async () => {
  const client = await f.fundedClient('BTC', 10_000_000n, 'hot');
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.02', destination: SANCTIONED });
  const done = await f.settle(w.id);
  assert.equal(done.failure_code, 'SANCTIONED');
  const held = 2_000_000n + 200_000n;
  // Its expiry passes: the expiry loop releases pending holds only.
  await f.db.owner.query(`update holds set expires_at = now() - interval '1 day' where id = $1`, [done.hold_id]);
  await f.ledger.expireHolds(10_000);
  assert.equal((await holdOf(done)).state, 'frozen');
  assert.equal((await f.entitlement(client, 'BTC')).held, held, 'the expiry loop gave nothing back');
  // The exchange voids it: refused.
  const voided = await call('POST', `/v1/holds/${done.hold_id}/void`, keys.exchange);
  assert.deepEqual([voided.status, voided.body.code], [409, 'HOLD_NOT_OWNER']);
  await assert.rejects(inTransaction(f.db.app, (q) => f.ledger.releaseHold(q, done.hold_id!, `withdrawal:${done.id}`, 'test')), /HOLD_NOT_PENDING|not pending|frozen/i);
  // Cancelling the rejected withdrawal is refused too.
  await assert.rejects(inTransaction(f.db.app, (q) => f.module.service.cancel(q, w.id, 'test')), /WITHDRAWAL_STATE|only unsigned|rejected/);
  assert.equal((await f.entitlement(client, 'BTC')).held, held);
  // Only the freezing case releases it.
  const [sanctionsCase] = await casesOf(w.id);
  const other = await inTransaction(f.db.app, (q) => f.module.cases.open(q, { kind: 'dispute', clientId: client, summary: 'another case', actor: 'test' }));
  await assert.rejects(inTransaction(f.db.app, (q) => f.ledger.releaseFrozenHold(q, done.hold_id!, other.id, 'test')), /another case/);
  const released = await inTransaction(f.db.app, (q) => f.ledger.releaseFrozenHold(q, done.hold_id!, sanctionsCase!.id, 'compliance-officer'));
  assert.equal(released.state, 'voided');
  assert.equal((await f.entitlement(client, 'BTC')).held, 0n);
  assert.equal((await f.entitlement(client, 'BTC')).total, 10_000_000n, 'never lost: the client still owns every satoshi');
});

test('WDR-04 a mixer-tagged destination is blocked with PRIVACY_DEVICE; the hold is released', async () => {
  const client = await f.fundedClient('BTC', 10_000_000n, 'hot');
  await f.bookAddress(client, MIXER);
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination: MIXER });
  const done = await f.settle(w.id);
  assert.deepEqual([done.state, done.failure_code], ['rejected', 'PRIVACY_DEVICE'], show({ state: done.state, failure: done.failure_code }));
  assert.equal(done.intent, null);
  assert.equal(await signedCount(w.id), 0);
  assert.equal((await holdOf(done)).state, 'voided');
  assert.deepEqual(await f.entitlement(client, 'BTC'), { total: 10_000_000n, held: 0n, available: 10_000_000n, hot: 10_000_000n, cold: 0n });
  assert.deepEqual((await casesOf(w.id)).map((c) => [c.kind, c.status]), [['privacy_device', 'open']]);
  assert.equal(await clientState(client), 'active', 'a privacy device blocks the transfer, it does not freeze the client');
  assert.deepEqual(record(done).result.tags, ['mixer']);
  const seen = await call('GET', `/v1/withdrawals/${w.id}`, keys.exchange);
  assert.equal(seen.body.failure.code, 'PRIVACY_DEVICE');
  const { rows: events } = await f.db.app.query(`select payload from events where type = 'withdrawal.rejected' and subject = $1`, [w.id]);
  assert.equal(events[0].payload.code, 'PRIVACY_DEVICE');
});

test('WDR-04 a clean VASP destination moves on to the Travel Rule step', async () => {
  const client = await f.fundedClient('BTC', 10_000_000n, 'hot');
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination: VASP, destinationType: 'vasp' });
  const waiting = await f.settle(w.id, { untilState: 'travel_rule' });
  assert.equal(waiting.state, 'travel_rule', show({ state: waiting.state, failure: waiting.failure_code, detail: waiting.failure_detail }));
  const r = record(waiting);
  assert.deepEqual([r.outcome, r.result.classification, r.result.vasp?.id, r.classificationMismatch], ['clear', 'vasp', 'test-vasp', false]);
  assert.deepEqual(r.result.listHashes, {
    'screening-list': screeningFileHash(env.SCREENING_LIST_FILE!), 'vasp-directory': screeningFileHash(env.VASP_DIRECTORY_FILE!) });
  // VASP-bound: it waits in travel_rule for the VASP-to-VASP exchange (WDR-05), nothing built yet.
  await f.module.pipeline!.drain(20);
  const still = await f.module.service.get(f.db.app, w.id);
  assert.deepEqual([still.state, still.travel_rule_status, still.intent], ['travel_rule', 'pending', null]);
  assert.ok(still.policy, 'the policy ran after the screening');
  const { rows: transitions } = await f.db.app.query('select from_state, to_state from withdrawal_transitions where withdrawal_id = $1 order by id', [w.id]);
  assert.deepEqual(transitions.map((t) => `${t.from_state ?? ''}>${t.to_state}`), ['>requested', 'requested>screening', 'screening>policy', 'policy>travel_rule']);
  assert.deepEqual(await casesOf(w.id), [], 'a clean destination opens no case');
  assert.equal((await holdOf(still)).state, 'pending');
});

test('WDR-04 TR-07 a directory VASP declared self-hosted is treated as VASP-bound: it waits for the VASP Travel Rule exchange, the mismatch recorded', async () => {
  const client = await f.fundedClient('BTC', 10_000_000n, 'hot');
  await f.bookAddress(client, VASP);
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination: VASP, destinationType: 'self_hosted' });
  await f.settle(w.id, { untilState: 'travel_rule' });
  await f.module.pipeline!.drain(20);
  const still = await f.module.service.get(f.db.app, w.id);
  assert.deepEqual([still.state, still.destination_type, still.travel_rule_status], ['travel_rule', 'vasp', 'pending'],
    'not self_hosted_info_held: a self-hosted declaration does not skip the VASP data exchange');
  assert.deepEqual([record(still).declaredDestinationType, record(still).destinationType, record(still).classificationMismatch], ['self_hosted', 'vasp', true]);
});

test('WDR-04 a high-risk destination opens a compliance case and needs treasury approval even from the hot wallet', async () => {
  const client = await f.fundedClient('BTC', 20_000_000n, 'hot');
  const [, bob, carol] = f.approvers;
  // The control: the same client, a clean booked destination, goes without approvals.
  const clean = f.externalAddress();
  await f.bookAddress(client, clean);
  const control = await f.settle((await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination: clean })).id);
  assert.deepEqual([control.state, control.approvals_required], ['completed', 0], show({ state: control.state, failure: control.failure_code }));

  await f.bookAddress(client, HIGH_RISK);
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination: HIGH_RISK });
  const waiting = await f.settle(w.id);
  assert.deepEqual([waiting.state, waiting.source_tier], ['approvals', 'hot'], show({ state: waiting.state, failure: waiting.failure_code, detail: waiting.failure_detail }));
  assert.equal((waiting.policy as { outcome: string }).outcome, 'allow', 'the policy alone would let it go');
  assert.equal(waiting.approvals_required, 2, 'at least the approver quorum');
  assert.deepEqual((await casesOf(w.id)).map((c) => [c.kind, c.status]), [['high_risk_destination', 'open']]);
  assert.equal(await clientState(client), 'active');
  // The approval screen shows the screening result (WDR-06) and its case.
  const view = await call('GET', '/v1/treasury/approvals', keys.treasury);
  const item = view.body.pending.find((p: { withdrawal: { id: string } }) => p.withdrawal.id === w.id);
  assert.ok(item, 'it waits on the approval screen');
  assert.deepEqual({ outcome: item.screening.outcome, riskScore: item.screening.riskScore, threshold: item.screening.highRiskScore, tags: item.screening.tags,
    hash: item.screening.screeningHash, caseKinds: item.screening.cases.map((c: { kind: string }) => c.kind) },
  { outcome: 'high_risk', riskScore: 80, threshold: 70, tags: ['darknet-market-exposure'], hash: waiting.screening_hash, caseKinds: ['high_risk_destination'] });
  assert.equal(item.intent.screeningHash, waiting.screening_hash);

  await f.approveAs(bob!, waiting);
  await f.module.pipeline!.drain(10);
  assert.equal((await f.module.service.get(f.db.app, w.id)).state, 'approvals', 'one approval is not enough');
  await f.approveAs(carol!, waiting);
  const done = await f.settle(w.id);
  assert.equal(done.state, 'completed', show({ state: done.state, failure: done.failure_code, detail: done.failure_detail }));
});

test('WDR-04 KEY-08 the screening result is hashed into the intent: approvals and the signature cover it', async () => {
  const client = await f.fundedClient('BTC', 50_000_000n, 'cold');
  const [, bob, carol] = f.approvers;
  const waitForApprovals = async () => {
    const destination = f.externalAddress();
    await f.bookAddress(client, destination);
    const w = await f.settle((await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination })).id);
    assert.equal(w.state, 'approvals', show({ state: w.state, failure: w.failure_code, detail: w.failure_detail }));
    await f.approveAs(bob!, w);
    await f.approveAs(carol!, w);
    return w;
  };

  const first = await waitForApprovals();
  const intent = first.intent as unknown as Intent;
  assert.match(first.screening_hash!, /^[0-9a-f]{64}$/);
  assert.equal(intent.screeningHash, first.screening_hash, 'the intent carries the stored screening hash');
  assert.equal(screeningHash(first.screening!), first.screening_hash, 'which is the hash of the stored record');
  assert.equal(intentHash(intent), first.intent_hash, 'the approved intent hash covers it');
  assert.notEqual(intentHash({ ...intent, screeningHash: undefined }), first.intent_hash);

  // After approval, a compromised API swaps in another screening result, consistently (record, hash, intent): the signer refuses.
  const swapped = { ...record(first), result: { ...record(first).result, riskScore: 1, tags: ['whitewashed'] } };
  const swappedHash = screeningHash(swapped);
  await f.db.owner.query(`update withdrawals set screening = $2, screening_hash = $3, intent = jsonb_set(intent, '{screeningHash}', to_jsonb($3::text)) where id = $1`,
    [first.id, swapped, swappedHash]);
  const refused = await f.settle(first.id);
  assert.deepEqual([refused.state, refused.failure_code], ['rejected', 'SIGNER_APPROVAL_INTENT_MISMATCH'], show({ state: refused.state, failure: refused.failure_code, detail: refused.failure_detail }));
  assert.equal(await signedCount(first.id), 0, 'nothing was signed');

  // The stored record alone is changed (the intent still carries the approved hash): refused before the signer.
  const second = await waitForApprovals();
  await f.db.owner.query(`update withdrawals set screening = jsonb_set(screening, '{result,riskScore}', '1') where id = $1`, [second.id]);
  const mismatch = await f.settle(second.id);
  assert.deepEqual([mismatch.state, mismatch.failure_code], ['rejected', 'SCREENING_MISMATCH'], show({ state: mismatch.state, failure: mismatch.failure_code }));
  assert.equal(await signedCount(second.id), 0);

  // Untouched, it is signed: the signer's replay log records the intent hash that includes the screening hash.
  const third = await waitForApprovals();
  const done = await f.settle(third.id);
  assert.equal(done.state, 'completed', show({ state: done.state, failure: done.failure_code, detail: done.failure_detail }));
  const entries = readFileSync(path.join(f.signer.dir, 'data', 'replay-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { requestId: string; intentHash: string });
  const signed = entries.find((e) => e.requestId === third.id);
  assert.equal(signed?.intentHash, third.intent_hash, 'the signature is over the intent with its screening hash');
  assert.equal(intentHash({ ...(third.intent as unknown as Intent) }), third.intent_hash);
  assert.equal((await f.entitlement(client, 'BTC')).held, 0n, 'the refused ones released their holds');
});

test('WDR-04 resolving a sanctions case: a confirmed match keeps funds and client frozen; a false positive gives the frozen funds back and the client may be unfrozen', async () => {
  const held = 2_000_000n + 200_000n;
  const confirmedClient = await f.fundedClient('BTC', 10_000_000n, 'hot');
  const confirmed = await f.settle((await f.request({ clientId: confirmedClient, asset: 'BTC', amount: '0.02', destination: SANCTIONED })).id);
  const [confirmedCase] = await casesOf(confirmed.id);
  const resolve = (caseId: string, decision: string, unfreeze: boolean) =>
    inTransaction(f.db.app, (q) => f.module.cases.resolve(q, caseId, { decision, note: 'compliance review', unfreeze, actor: 'compliance-officer' }));
  await assert.rejects(resolve(confirmedCase!.id, 'no_refund', false), /sanctions_hit case is resolved as one of false_positive, confirmed_match/);
  await assert.rejects(resolve(confirmedCase!.id, 'confirmed_match', true), /keeps the client and the funds frozen/);
  const kept = await resolve(confirmedCase!.id, 'confirmed_match', false);
  assert.deepEqual([kept.case.status, kept.releasedHolds, kept.unfrozen], ['resolved', [], false]);
  assert.equal((await holdOf(confirmed)).state, 'frozen');
  assert.equal((await f.entitlement(confirmedClient, 'BTC')).held, held, 'a confirmed match keeps the funds frozen');
  assert.equal((await f.db.app.query('select state from clients where id = $1', [confirmedClient])).rows[0].state, 'frozen');

  const clearedClient = await f.fundedClient('BTC', 10_000_000n, 'hot');
  const cleared = await f.settle((await f.request({ clientId: clearedClient, asset: 'BTC', amount: '0.02', destination: SANCTIONED })).id);
  const [clearedCase] = await casesOf(cleared.id);
  const released = await resolve(clearedCase!.id, 'false_positive', true);
  assert.deepEqual([released.releasedHolds, released.unfrozen], [[cleared.hold_id], true]);
  assert.equal((await holdOf(cleared)).state, 'voided');
  assert.deepEqual(await f.entitlement(clearedClient, 'BTC'), { total: 10_000_000n, held: 0n, available: 10_000_000n, hot: 10_000_000n, cold: 0n },
    'a false positive gives every satoshi back');
  assert.equal((await f.db.app.query('select state from clients where id = $1', [clearedClient])).rows[0].state, 'active');
});

test('WDR-04 screened again just before signing: a destination designated while the withdrawal waited for approvals is blocked and frozen, nothing signed', async () => {
  const late = regtestAddress();
  const client = await f.fundedClient('BTC', 10_000_000n, 'cold');
  const [, bob, carol] = f.approvers;
  const waiting = await f.settle((await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination: late })).id);
  assert.equal(waiting.state, 'approvals', show(waiting.failure_detail));
  assert.equal((waiting.screening as unknown as ScreeningRecord).outcome, 'clear', 'clean when it was first screened');
  await f.approveAs(bob!, waiting);
  await f.approveAs(carol!, waiting);
  // The list is updated (a new designation) and the workers restart with it.
  const list = JSON.parse(readFileSync(env.SCREENING_LIST_FILE!, 'utf8')) as { version: string; entries: unknown[] };
  const updatedFile = path.join(path.dirname(env.SCREENING_LIST_FILE!), 'screening-list-2.json');
  writeFileSync(updatedFile, JSON.stringify({ ...list, version: 'test-2', entries: [...list.entries, { chain: 'bitcoin', address: late, sanctionsList: LIST_NAME, riskScore: 100 }] }));
  const updated = f.pipelineWith({ SCREENING_LIST_FILE: updatedFile });
  for (let i = 0; i < 10; i++) {
    await updated.drain(20);
    await f.db.app.query('update withdrawals set next_run_at = now() where id = $1', [waiting.id]);
  }
  const blocked = await f.module.service.get(f.db.app, waiting.id);
  assert.deepEqual([blocked.state, blocked.failure_code, blocked.signed_tx], ['rejected', 'SANCTIONED', null], show(blocked.failure_detail));
  assert.equal((await holdOf(blocked)).state, 'frozen', 'the funds are frozen, not given back');
  assert.equal((await f.db.app.query('select state from clients where id = $1', [client])).rows[0].state, 'frozen');
  assert.deepEqual((await casesOf(blocked.id)).map((c) => c.kind), ['sanctions_hit']);
  assert.equal((await f.db.app.query('select count(*)::int as n from withdrawal_transactions where withdrawal_id = $1', [blocked.id])).rows[0].n, 0, 'nothing signed');
});
