// WDR-08 disputes over HTTP against a real Postgres: filing one freezes the client at once, opens
// a case and logs a notice through the agreed channel; the resolution is recorded against the
// redress policy's version; new withdrawals are refused while the client is frozen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p2wpkhFromPublicKey } from '../../src/chains/bitcoin/address.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
before(async () => { app = await startTestApp(); });
after(async () => { await app.close(); });

const REGTEST = p2wpkhFromPublicKey(secp256k1.getPublicKey(new Uint8Array(32).fill(7), true), 'bcoin-regtest').address;
const newClient = async (ref: string) => (await app.call('POST', '/v1/clients', { body: { externalRef: ref, classification: 'retail', kzResident: true } })).body.id as string;
const count = async (table: string) => (await app.db.owner.query(`select count(*)::int as n from ${table}`)).rows[0].n as number;
const dispute = { category: 'unauthorised_transfer', description: 'I did not send this.\nMy phone was stolen on Monday.', channel: 'email', reportedBy: 'support-agent-7' };

test('WDR-08 filing a dispute freezes the client at once, opens a case and logs a notice; while frozen no withdrawal can be quoted', async () => {
  const client = await newClient('dispute-1');
  const earlierQuote = await app.call('POST', '/v1/withdrawals/quotes', { body: { clientId: client, asset: 'BTC', amount: '0.01', destination: REGTEST } });
  assert.equal(earlierQuote.status, 201, JSON.stringify(earlierQuote.body));
  const filed = await app.call('POST', `/v1/clients/${client}/disputes`, { body: dispute });
  assert.equal(filed.status, 201, JSON.stringify(filed.body));
  assert.equal(filed.body.clientState, 'frozen', 'frozen in the same transaction as the filing');
  assert.equal(filed.body.case.kind, 'dispute');
  assert.equal(filed.body.case.status, 'open');
  assert.equal((await app.call('GET', `/v1/clients/${client}`)).body.state, 'frozen');

  const c = await app.call('GET', `/v1/cases/${filed.body.case.id}`, { key: app.keys.auditor });
  assert.equal(c.status, 200);
  assert.deepEqual(c.body.notices.map((n: { channel: string; template: string }) => [n.channel, n.template]), [['email', 'dispute-received']], 'the notice log');
  assert.deepEqual(c.body.stateChanges.map((s: { from: string; to: string; reason: string }) => [s.from, s.to, s.reason]), [['active', 'frozen', 'DISPUTE']]);
  assert.equal(c.body.case.details.description, dispute.description);

  const events = (await app.call('GET', '/v1/events?after=0')).body.events as { type: string; clientId: string; payload: Record<string, unknown> }[];
  const mine = events.filter((e) => e.clientId === client).map((e) => e.type);
  assert.deepEqual(mine, ['client.frozen', 'client.notice'], 'the exchange hears of the freeze and the notice to deliver');

  const quote = await app.call('POST', '/v1/withdrawals/quotes', { body: { clientId: client, asset: 'BTC', amount: '0.01', destination: REGTEST } });
  assert.equal(quote.status, 409);
  assert.equal(quote.body.code, 'CLIENT_NOT_ACTIVE');
  const confirm = await app.call('POST', '/v1/withdrawals', { body: { quoteId: earlierQuote.body.quoteId, clientId: client, acknowledgedWarningId: 'irreversible-v1',
    consent: { method: 'webauthn', reference: 'a-1', at: new Date().toISOString() }, initiatorUserId: 'u-1', destinationType: 'self_hosted', beneficiary: { name: 'Self' } } });
  assert.equal(confirm.status, 409, 'a quote taken before the freeze cannot be confirmed after it');
  assert.equal(confirm.body.code, 'CLIENT_NOT_ACTIVE');
});

test('WDR-08 a resolution is recorded against the redress policy version; the client is unfrozen only when no other case is open', async () => {
  const client = await newClient('dispute-2');
  const first = (await app.call('POST', `/v1/clients/${client}/disputes`, { body: dispute })).body.case.id as string;
  const second = (await app.call('POST', `/v1/clients/${client}/disputes`, { body: { ...dispute, category: 'suspected_compromise', channel: 'sms' } }));
  assert.equal(second.status, 201);
  assert.equal(second.body.frozenNow, false, 'already frozen');

  const unknownDecision = await app.call('POST', `/v1/cases/${first}/resolve`, { key: app.keys.admin, body: { decision: 'pay_double', note: 'no', unfreeze: true } });
  assert.equal(unknownDecision.status, 400);
  assert.equal(unknownDecision.body.code, 'BAD_ARGUMENT');
  assert.equal((await app.call('GET', `/v1/cases/${first}`, { key: app.keys.admin })).body.case.status, 'open', 'nothing changed');

  const resolved = await app.call('POST', `/v1/cases/${first}/resolve`, { key: app.keys.admin, body: { decision: 'no_refund', note: 'Authorised with WebAuthn; see consent a-1.', unfreeze: true } });
  assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
  assert.equal(resolved.body.case.resolution.decision, 'no_refund');
  assert.equal(resolved.body.case.resolution.redressPolicyVersion, '2026-12-dev.1');
  assert.match(resolved.body.case.resolution.redressPolicyHash, /^[0-9a-f]{64}$/);
  assert.equal(resolved.body.unfrozen, false, 'another dispute of the client is still open');
  assert.equal(resolved.body.clientState, 'frozen');
  const again = await app.call('POST', `/v1/cases/${first}/resolve`, { key: app.keys.admin, body: { decision: 'no_refund', note: 'again', unfreeze: true } });
  assert.equal(again.status, 409);
  assert.equal(again.body.code, 'CASE_STATE');

  const last = await app.call('POST', `/v1/cases/${second.body.case.id}/resolve`, { key: app.keys.admin, body: { decision: 'withdrawn', note: 'Client found the phone.', unfreeze: true } });
  assert.equal(last.body.unfrozen, true);
  assert.equal((await app.call('GET', `/v1/clients/${client}`)).body.state, 'active');
  const notices = (await app.call('GET', `/v1/cases/${second.body.case.id}`, { key: app.keys.treasury })).body.notices as { channel: string; template: string; payload: { decision?: string } }[];
  assert.deepEqual(notices.map((n) => [n.channel, n.template, n.payload.decision ?? null]), [['sms', 'dispute-received', null], ['sms', 'dispute-resolved', 'withdrawn']],
    'the outcome goes out through the channel the dispute came by');
  const open = (await app.call('GET', `/v1/cases?clientId=${client}&status=open`, { key: app.keys.auditor })).body.cases;
  assert.equal(open.length, 0);
});

test('WDR-08 bad input is a 4xx with a stable code and changes nothing: unknown client, another client’s withdrawal, a bad category, control characters', async () => {
  const client = await newClient('dispute-3');
  const before = await Promise.all(['cases', 'case_notices', 'client_state_changes'].map(count));
  const cases: [string, string, unknown, number, string][] = [
    ['unknown client', `/v1/clients/00000000-0000-4000-8000-000000000000/disputes`, dispute, 404, 'CLIENT_NOT_FOUND'],
    ['another client’s withdrawal', `/v1/clients/${client}/disputes`, { ...dispute, withdrawalId: '00000000-0000-4000-8000-000000000001' }, 404, 'WITHDRAWAL_NOT_FOUND'],
    ['a bad category', `/v1/clients/${client}/disputes`, { ...dispute, category: 'other' }, 400, 'VALIDATION_FAILED'],
    ['control characters', `/v1/clients/${client}/disputes`, { ...dispute, description: 'a\u0000b' }, 400, 'VALIDATION_FAILED'],
    ['no channel', `/v1/clients/${client}/disputes`, { ...dispute, channel: undefined }, 400, 'VALIDATION_FAILED'],
  ];
  for (const [what, path, body, status, code] of cases) {
    const res = await app.call('POST', path, { body });
    assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.code, code, what);
  }
  assert.deepEqual(await Promise.all(['cases', 'case_notices', 'client_state_changes'].map(count)), before, 'no row written');
  assert.equal((await app.call('GET', `/v1/clients/${client}`)).body.state, 'active');
  const unknownCase = await app.call('POST', '/v1/cases/00000000-0000-4000-8000-000000000000/resolve', { key: app.keys.admin, body: { decision: 'withdrawn', note: 'x', unfreeze: true } });
  assert.equal(unknownCase.status, 404);
  assert.equal(unknownCase.body.code, 'CASE_NOT_FOUND');
});
