// On the real components (Postgres, bcoin regtest, the signer on SoftHSM2): WDR-09 payouts to
// affiliates while a breach is open; the auditor's end-to-end trail of a withdrawal (REC-06), the
// txid lookup (SEG-08) and the key inventory reconciled with the wallet registry (KEY-09).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAmanat, type Amanat } from '../../src/app.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { createIncidentService } from '../../src/incidents/index.ts';
import { tempDir } from '../../signer/test/helpers.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

let f: WithdrawalFixture;
let amanat: Amanat;
let server: Server;
let url: string;
const keys: Record<string, string> = {};

before(async () => {
  f = await startWithdrawals('bitcoin');
  const config = loadConfig({
    AMANAT_ENV: 'test', LOG_LEVEL: 'silent', API_KEY_CACHE_MS: '0', AMANAT_DATA_DIR: tempDir('incidents-app'),
    TREASURY_APPROVERS_FILE: path.join(f.signer.dir, 'signer-policy.json'), PII_KEYRING_FILE: f.keyringFile, BITCOIN_NETWORK: 'bcoin-regtest',
  });
  amanat = await createAmanat({ pool: f.db.app, config, log: createLogger(process.env.AMANAT_TEST_LOG ?? 'silent'), signer: f.signerClient, wallets: f.wallets });
  for (const role of ['treasury', 'exchange', 'admin', 'auditor'] as const) {
    keys[role] = (await inTransaction(f.db.app, (q) => amanat.services.apiKeys.create(q, { name: `inc-${role}`, role, createdBy: null }))).secret;
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

let seq = 0;
async function call(method: string, p: string, role: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${keys[role]}` };
  if (method !== 'GET') headers['idempotency-key'] = `inc-${process.pid}-${++seq}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  try { return { status: res.status, body: JSON.parse(text) }; } catch { return { status: res.status, body: text }; }
}

let completedId = '';
let blockedId = '';
let completedClient = '';

test('WDR-09 while a breach is open a payout to an affiliate is BLOCKED (funds released); with an AFSA consent and 2 treasury approvals it goes through', async () => {
  const breach = await inTransaction(f.db.app, (q) => amanat.services.incidents.open(q, { type: 'recon_break', dedupeKey: 'wdr09', summary: 'unexplained difference BTC' }));
  assert.equal(await amanat.services.incidents.hasOpenBreach(f.db.app), true);
  const affiliate = f.externalAddress();
  const registered = await call('POST', '/v1/affiliate-destinations', 'admin', { asset: 'BTC', address: affiliate, tag: 'AFFILIATE', name: 'Amanat Holding LLP' });
  assert.equal(registered.status, 201, JSON.stringify(registered.body));
  assert.equal((await call('POST', '/v1/affiliate-destinations', 'auditor', { asset: 'BTC', address: affiliate, tag: 'AFFILIATE', name: 'x' })).status, 403);

  const client = await f.fundedClient('BTC', 100_000_000n, 'hot');
  await f.bookAddress(client, affiliate);
  const first = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination: affiliate });
  const blocked = await f.settle(first.id);
  assert.equal(blocked.state, 'rejected', show(blocked));
  assert.equal(blocked.failure_code, 'AFFILIATE_PAYOUT_BLOCKED');
  assert.equal(blocked.signed_tx, null, 'nothing signed');
  const afterBlock = await f.entitlement(client, 'BTC');
  assert.equal(afterBlock.held, 0n, 'the hold was released');
  assert.equal(afterBlock.available, 100_000_000n, 'the funds are the client\'s again');
  blockedId = blocked.id;

  const consent = await call('POST', `/v1/affiliate-destinations/${registered.body.id}/consents`, 'admin', { afsaReference: 'AFSA/CONSENT/2026/117' });
  assert.equal(consent.status, 201, JSON.stringify(consent.body));
  const second = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination: affiliate, initiator: 'client-user-1' });
  const waiting = await f.settle(second.id);
  assert.equal(waiting.state, 'approvals', show({ state: waiting.state, code: waiting.failure_code, detail: waiting.failure_detail }));
  assert.equal(waiting.source_tier, 'hot');
  assert.equal(waiting.approvals_required, 2, 'a consented affiliate payout needs 2 treasury approvals even from the hot wallet');
  const [, bob, carol] = f.approvers;
  await f.approveAs(bob!, waiting);
  await f.module.pipeline!.drain(10);
  assert.equal((await f.module.service.get(f.db.app, second.id)).state, 'approvals', 'one approval is not enough');
  await f.approveAs(carol!, waiting);
  const done = await f.settle(second.id);
  assert.equal(done.state, 'completed', show(done));
  const register = await call('GET', '/v1/affiliate-destinations', 'treasury');
  assert.equal(register.status, 200);
  const mine = register.body.destinations.find((d: { id: string }) => d.id === registered.body.id);
  assert.deepEqual(mine.consents.map((c: { afsaReference: string; withdrawalId: string }) => [c.afsaReference, c.withdrawalId]), [['AFSA/CONSENT/2026/117', second.id]], 'the consent is used by that payout, once');
  const { rows } = await f.db.app.query(`select detail from withdrawal_transitions where withdrawal_id = $1 and to_state = 'travel_rule'`, [second.id]);
  assert.equal(rows[0].detail.affiliatePayout.afsaReference, 'AFSA/CONSENT/2026/117', 'the consent reference is on the withdrawal\'s record');
  completedId = done.id;
  completedClient = client;

  // The consent was single use: the next payout is blocked again while the breach is open; once it is closed, it is not.
  const third = await f.settle((await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination: affiliate })).id);
  assert.equal(third.failure_code, 'AFFILIATE_PAYOUT_BLOCKED');
  await inTransaction(f.db.app, (q) => amanat.services.incidents.close(q, breach.id, { reference: 'AFSA-2026-0099', actor: 'test' }));
  const fourth = await f.settle((await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination: affiliate })).id);
  assert.equal(fourth.state, 'completed', show({ state: fourth.state, code: fourth.failure_code }));
});

test('REC-06 the audit trail of a completed withdrawal has every step from request to journal under one correlation id; a blocked one names what is missing', async () => {
  assert.ok(completedId, 'runs after WDR-09');
  const trail = await call('GET', `/v1/audit/trail/${completedId}`, 'auditor');
  assert.equal(trail.status, 200, JSON.stringify(trail.body));
  assert.deepEqual(trail.body.missing, [], JSON.stringify(trail.body.steps));
  assert.equal(trail.body.complete, true);
  assert.equal(trail.body.correlationId, completedId);
  assert.deepEqual(trail.body.steps.map((s: { step: string }) => s.step),
    ['request', 'quote', 'screening', 'policy', 'travel_rule', 'intent', 'approvals', 'sign', 'broadcast', 'confirmations', 'journal', 'audit']);
  assert.ok(trail.body.steps.every((s: { present: boolean }) => s.present));
  assert.equal(trail.body.steps.find((s: { step: string }) => s.step === 'approvals').evidence.approvals.length, 2);
  assert.ok(trail.body.journalEntries.some((e: { cause: { withdrawalId?: string } }) => e.cause.withdrawalId === completedId));
  assert.deepEqual(trail.body.transitions.map((t: { to: string }) => t.to).slice(0, 1), ['requested']);
  assert.equal(trail.body.transitions.at(-1).to, 'completed');

  const partial = await call('GET', `/v1/audit/trail/${blockedId}`, 'auditor');
  assert.equal(partial.body.complete, false);
  assert.deepEqual(partial.body.missing, ['travel_rule', 'intent', 'sign', 'broadcast', 'confirmations', 'journal']);
  assert.equal((await call('GET', '/v1/audit/trail/00000000-0000-4000-8000-000000000000', 'auditor')).status, 404);
  assert.equal((await call('GET', `/v1/audit/trail/${completedId}`, 'exchange')).status, 403);
});

test('SEG-08 a custody txid gives its owning client, the originating instruction, the approvals and the journal entries', async () => {
  const w = await f.module.service.get(f.db.app, completedId);
  const found = await call('GET', `/v1/audit/transactions/${w.txid}`, 'auditor');
  assert.equal(found.status, 200, JSON.stringify(found.body));
  assert.equal(found.body.ownerClientId, completedClient);
  assert.equal(found.body.withdrawalId, completedId);
  assert.equal(found.body.instruction.initiator, 'client-user-1');
  assert.equal(found.body.instruction.consent.method, 'webauthn');
  assert.ok(found.body.instruction.quote.quoteId);
  assert.equal(found.body.approvals.approvals.length, 2);
  assert.equal(found.body.intentHash, w.intent_hash);
  assert.ok(found.body.journalEntries.length >= 1 && found.body.journalEntries.every((e: { cause: { withdrawalId: string } }) => e.cause.withdrawalId === completedId));
  // An incoming one: the deposit that funded the client.
  const { rows } = await f.db.app.query<{ txid: string }>('select txid from deposits where client_id = $1 limit 1', [completedClient]);
  const deposit = await call('GET', `/v1/audit/transactions/${rows[0]!.txid}`, 'auditor');
  assert.equal(deposit.status, 200, JSON.stringify(deposit.body));
  assert.equal(deposit.body.direction, 'incoming');
  assert.equal(deposit.body.ownerClientId, completedClient);
  assert.ok(deposit.body.journalEntries.length >= 1);
  assert.equal((await call('GET', `/v1/audit/transactions/${'ab'.repeat(32)}`, 'auditor')).status, 404);
});

test('KEY-09 the key count equals the signer\'s HSM enumeration; an HSM key no wallet knows is flagged as an orphan', async () => {
  const clean = await call('GET', '/v1/audit/keys', 'auditor');
  assert.equal(clean.status, 200, JSON.stringify(clean.body));
  const enumeration = await f.signerClient.keyCount() as { total: number };
  assert.equal(clean.body.total, enumeration.total, 'the count is the HSM enumeration');
  assert.equal(clean.body.keys.length, enumeration.total, 'every enumerated key is listed');
  assert.equal(clean.body.byOwner.client + clean.body.byOwner.house, clean.body.total);
  assert.ok(clean.body.byOwner.client > 0, 'client keys');
  assert.deepEqual(clean.body.orphans.hsmKeysNoWalletKnows, [], JSON.stringify(clean.body.orphans));
  assert.deepEqual(clean.body.orphans.walletKeysNotInHsm, []);
  assert.equal(clean.body.reconciled, true);
  assert.match(clean.body.method, /Each private-key object in an HSM token is one key/);

  // As of a past instant (the year end of the annual return): the keys created by then.
  const cut = new Date();
  await new Promise((r) => setTimeout(r, 5));
  const orphan = await f.signerClient.createKey({ label: 'stray', tier: 'cold' });
  const asOf = await call('GET', `/v1/audit/keys?asOf=${encodeURIComponent(cut.toISOString())}`, 'auditor');
  assert.equal(asOf.status, 200, JSON.stringify(asOf.body));
  assert.equal(asOf.body.asOfCount.total, enumeration.total, 'the key created after the cut-off is not in the as-of count');
  const flagged = await call('GET', '/v1/audit/keys', 'auditor');
  assert.equal(flagged.body.total, enumeration.total + 1);
  assert.deepEqual(flagged.body.orphans.hsmKeysNoWalletKnows.map((o: { keyId: string }) => o.keyId), [orphan.keyId]);
  assert.equal(flagged.body.reconciled, false);
  assert.equal((await call('GET', '/v1/audit/keys', 'treasury')).status, 403);
});

test('REG-07 a compromised API that swaps the destination of an approved intent: the signer refuses, and the refusal opens a SEV-1 security incident with an immediate AFSA task, once; the detector cursor is kept in the database, so a restarted detector goes on from it', async () => {
  const client = await f.fundedClient('BTC', 30_000_000n, 'cold');
  const [, bob, carol] = f.approvers;
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination: f.externalAddress() });
  const waiting = await f.settle(w.id);
  await f.approveAs(bob!, waiting);
  await f.approveAs(carol!, waiting);
  await f.db.owner.query(`update withdrawals set intent = jsonb_set(intent, '{outputs,0,address}', to_jsonb($2::text)) where id = $1`, [w.id, f.externalAddress()]);
  const refused = await f.settle(w.id);
  assert.equal(refused.state, 'rejected');
  assert.match(refused.failure_code!, /^SIGNER_/);
  const incidents = amanat.services.incidents;
  const { opened } = await inTransaction(f.db.app, (q) => incidents.detectSignerRefusals(q, 0));
  const mine = opened.filter((i) => i.detail.withdrawalId === w.id);
  assert.equal(mine.length, 1, `${refused.failure_code}: ${JSON.stringify(opened.map((i) => i.detail))}`);
  assert.equal(mine[0]!.severity, 'sev1');
  assert.equal(mine[0]!.notification, 'immediate');
  assert.deepEqual(mine[0]!.clientIds, [client]);
  assert.equal((await inTransaction(f.db.app, (q) => incidents.detectSignerRefusals(q, 0))).opened.length, 0, 'a rescan opens nothing new');
  await inTransaction(f.db.app, (q) => incidents.close(q, mine[0]!.id, { reference: 'AFSA-CYBER-1', actor: 'test' }));
  assert.equal((await inTransaction(f.db.app, (q) => incidents.detectSignerRefusals(q, 0))).opened.length, 0, 'nor after it was closed');
  // The service's loop reads from a cursor kept in the database: it passes this refusal once, and a
  // restarted service (another IncidentService) goes on from there instead of reading the feed again.
  const drain = async (service: typeof incidents) => {
    let last = { cursor: 0, opened: [] as unknown[], more: true };
    for (let page = 0; last.more && page < 100; page++) last = await inTransaction(f.db.app, (q) => service.detectSignerRefusalsFromCursor(q, 10));
    return last.cursor;
  };
  const cursor = await drain(incidents);
  const { rows: [newest] } = await f.db.app.query<{ id: string }>(`select max(id)::text as id from events where type = 'withdrawal.rejected'`);
  assert.equal(String(cursor), newest!.id, 'the cursor is past the refusal');
  const restarted = createIncidentService(loadConfig({ AMANAT_ENV: 'test' }));
  const again = await inTransaction(f.db.app, (q) => restarted.detectSignerRefusalsFromCursor(q));
  assert.equal(again.cursor, cursor, 'a restarted detector starts where the last one stopped');
  assert.equal(again.more, false);
});
