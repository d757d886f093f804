// Withdrawal requests over HTTP: bad input is a 4xx with a stable code and nothing is held.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p2wpkhFromPublicKey } from '../../src/chains/bitcoin/address.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
let client: string;
before(async () => {
  app = await startTestApp();
  const res = await app.call('POST', '/v1/clients', { body: { externalRef: 'wd-http', classification: 'retail', kzResident: true } });
  client = res.body.id;
  const { ledger } = app.amanat.services;
  const world = await ledger.systemAccountId(app.db.app, 'BTC', 'external_world');
  const acct = await ledger.clientAccountId(app.db.app, client, 'BTC');
  await ledger.postEntry(app.db.app, { idempotencyId: 'wd-http-fund', type: 'deposit', actor: 'test', postings: [{ accountId: world, amount: -100_000_000n }, { accountId: acct, amount: 100_000_000n }] });
});
after(async () => { await app.close(); });

// A valid bcoin-regtest P2WPKH address of a fixed key.
const REGTEST = p2wpkhFromPublicKey(secp256k1.getPublicKey(new Uint8Array(32).fill(7), true), 'bcoin-regtest').address;

test('WDR-02 a quote names the asset, amount, itemised fees, USD value, the irreversibility warning and an expiry', async () => {
  const res = await app.call('POST', '/v1/withdrawals/quotes', { body: { clientId: client, asset: 'BTC', amount: '0.01', destination: REGTEST } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(res.body.asset, 'BTC');
  assert.equal(res.body.amount, '0.01');
  assert.equal(typeof res.body.fees.networkFeeMax, 'string');
  assert.equal(res.body.fees.serviceFee, '0');
  assert.equal(res.body.usdValue, '650.00');
  assert.match(res.body.warning.text, /cannot be reversed/);
  assert.ok(Date.parse(res.body.expiresAt) > Date.now());
});

test('WDR bad input: unknown asset, invalid or other-network address, zero, negative and too-precise amounts are 4xx with a stable code; nothing is held', async () => {
  const cases: [Record<string, unknown>, number, string][] = [
    [{ asset: 'DOGE', amount: '1', destination: REGTEST }, 404, 'ASSET_NOT_FOUND'],
    [{ asset: 'BTC', amount: '1', destination: 'not-an-address' }, 400, 'ADDRESS_INVALID'],
    [{ asset: 'BTC', amount: '1', destination: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4' }, 400, 'ADDRESS_WRONG_NETWORK'],
    [{ asset: 'BTC', amount: '1', destination: '0x52908400098527886E0F7030069857D2E4169EE7' }, 400, 'ADDRESS_INVALID'],
    [{ asset: 'ETH', amount: '1', destination: REGTEST }, 400, 'ADDRESS_INVALID'],
    [{ asset: 'ETH', amount: '1', destination: '0x52908400098527886e0F7030069857D2E4169EE7' }, 400, 'ADDRESS_INVALID'],
    [{ asset: 'BTC', amount: '0', destination: REGTEST }, 400, 'AMOUNT_INVALID'],
    [{ asset: 'BTC', amount: '-1', destination: REGTEST }, 400, 'VALIDATION_FAILED'],
    [{ asset: 'BTC', amount: '0.000000001', destination: REGTEST }, 400, 'AMOUNT_INVALID'],
    [{ asset: 'USDT', amount: '1.0000001', destination: '0x52908400098527886E0F7030069857D2E4169EE7' }, 400, 'AMOUNT_INVALID'],
  ];
  for (const [body, status, code] of cases) {
    const res = await app.call('POST', '/v1/withdrawals/quotes', { body: { clientId: client, ...body } });
    assert.equal(res.status, status, `${JSON.stringify(body)} -> ${JSON.stringify(res.body)}`);
    assert.equal(res.body.code, code, JSON.stringify(body));
  }
  const { rows } = await app.db.owner.query('select count(*)::int as n from holds');
  assert.equal(rows[0].n, 0);
});

test('WDR-01 WDR-02 WDR-03 confirming needs the acknowledged warning and a consent artefact; too large is INSUFFICIENT_FUNDS with nothing held', async () => {
  const quote = async (amount: string) => (await app.call('POST', '/v1/withdrawals/quotes', { body: { clientId: client, asset: 'BTC', amount, destination: REGTEST } })).body;
  const consent = { method: 'webauthn', reference: 'assertion-1', at: new Date().toISOString() };
  const base = { clientId: client, initiatorUserId: 'u-1', destinationType: 'self_hosted', beneficiary: { name: 'Self' } };
  const q1 = await quote('0.01');
  const noConsent = await app.call('POST', '/v1/withdrawals', { body: { ...base, quoteId: q1.quoteId, acknowledgedWarningId: q1.warning.id } });
  assert.equal(noConsent.status, 400);
  const wrongWarning = await app.call('POST', '/v1/withdrawals', { body: { ...base, quoteId: q1.quoteId, acknowledgedWarningId: 'other', consent } });
  assert.equal(wrongWarning.status, 400);
  assert.equal(wrongWarning.body.code, 'CONSENT_REQUIRED');
  const tooMuch = await quote('5');
  const refused = await app.call('POST', '/v1/withdrawals', { body: { ...base, quoteId: tooMuch.quoteId, acknowledgedWarningId: tooMuch.warning.id, consent } });
  assert.equal(refused.status, 409);
  assert.equal(refused.body.code, 'INSUFFICIENT_FUNDS');
  const { rows } = await app.db.owner.query(`select count(*)::int as n from holds where state = 'pending'`);
  assert.equal(rows[0].n, 0);
  const ok = await app.call('POST', '/v1/withdrawals', { body: { ...base, quoteId: q1.quoteId, acknowledgedWarningId: q1.warning.id, consent } });
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  assert.equal(ok.body.state, 'requested');
  const stored = await app.call('GET', `/v1/withdrawals/${ok.body.id}`);
  assert.deepEqual(stored.body.consent, { ...consent, acknowledgedWarningId: q1.warning.id }, 'WDR-01: the consent evidence is retrievable by the request id');
  const balances = await app.call('GET', `/v1/clients/${client}/balances`);
  assert.equal(balances.body.balances.find((b: { asset: string }) => b.asset === 'BTC').entitlement.held, '0.012');
  const again = await app.call('POST', '/v1/withdrawals', { body: { ...base, quoteId: q1.quoteId, acknowledgedWarningId: q1.warning.id, consent } });
  assert.equal(again.status, 409);
  assert.equal(again.body.code, 'WITHDRAWAL_STATE');
});

test('KEY-08 WDR-01 an initiator id that cannot be signed (not NFC, a lone surrogate) is a 400 at the confirmation, nothing held; the networkFeeAsset is named', async () => {
  const { body: q } = await app.call('POST', '/v1/withdrawals/quotes', { body: { clientId: client, asset: 'BTC', amount: '0.001', destination: REGTEST } });
  const consent = { method: 'webauthn', reference: 'assertion-nfc', at: new Date().toISOString() };
  const base = { clientId: client, quoteId: q.quoteId, acknowledgedWarningId: q.warning.id, consent, destinationType: 'self_hosted', beneficiary: { name: 'Self' } };
  const heldBefore = (await app.db.owner.query(`select count(*)::int as n from holds`)).rows[0].n;
  for (const initiatorUserId of ['e\u0301ric', 'user-\ud800']) {
    const res = await app.call('POST', '/v1/withdrawals', { body: { ...base, initiatorUserId } });
    assert.deepEqual([res.status, res.body.code], [400, 'VALIDATION_FAILED'], JSON.stringify(res.body));
  }
  assert.equal((await app.db.owner.query(`select count(*)::int as n from holds`)).rows[0].n, heldBefore, 'nothing held');
  const ok = await app.call('POST', '/v1/withdrawals', { body: { ...base, initiatorUserId: '\u00e9ric' } });
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  assert.equal(ok.body.networkFeeAsset, 'BTC');
});
