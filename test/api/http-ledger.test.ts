// The ledger over HTTP: holds race, hold lifecycle, transfers, balances and journal reads.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
before(async () => { app = await startTestApp(); });
after(async () => { await app.close(); });

async function client(ref: string): Promise<string> {
  const res = await app.call('POST', '/v1/clients', { body: { externalRef: ref, classification: 'retail', kzResident: true } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.id;
}

async function fund(clientId: string, asset: string, amount: bigint): Promise<void> {
  const { ledger } = app.amanat.services;
  const world = await ledger.systemAccountId(app.db.app, asset, 'external_world');
  const acct = await ledger.clientAccountId(app.db.app, clientId, asset);
  await ledger.postEntry(app.db.app, { idempotencyId: `fund-${clientId}-${asset}-${amount}-${Math.random()}`, type: 'deposit', actor: 'test',
    postings: [{ accountId: world, amount: -amount }, { accountId: acct, amount }] });
}

async function balance(clientId: string, asset: string) {
  const res = await app.call('GET', `/v1/clients/${clientId}/balances`);
  assert.equal(res.status, 200);
  return res.body.balances.find((b: { asset: string }) => b.asset === asset);
}

test('SEG-05 200 concurrent HTTP holds against a balance covering 100: exactly 100 placed, available exactly 0', async () => {
  const c = await client('race-http');
  await fund(c, 'USDT', 100n * 1_000_000n); // 100 USDT
  const results = await Promise.all(Array.from({ length: 200 }, () =>
    app.call('POST', '/v1/holds', { body: { clientId: c, asset: 'USDT', amount: '1' } })));
  assert.equal(results.filter((r) => r.status === 201).length, 100);
  assert.equal(results.filter((r) => r.status === 409 && r.body.code === 'INSUFFICIENT_FUNDS').length, 100);
  const b = await balance(c, 'USDT');
  assert.deepEqual(b.entitlement, { total: '100', held: '100', available: '0' });
});

test('SEG-05 hold lifecycle over HTTP: place, partial post with a disclosed fee, remainder released', async () => {
  const buyer = await client('buyer');
  const seller = await client('seller');
  await fund(buyer, 'BTC', 200_000_000n); // 2 BTC
  const hold = await app.call('POST', '/v1/holds', { body: { clientId: buyer, asset: 'BTC', amount: '1.5', expiresInSeconds: 600, reference: { orderId: 'o-1' } } });
  assert.equal(hold.status, 201);
  assert.equal(hold.body.amount, '1.5');
  assert.deepEqual((await balance(buyer, 'BTC')).entitlement, { total: '2', held: '1.5', available: '0.5' });
  const tooPrecise = await app.call('POST', `/v1/holds/${hold.body.id}/post`, { body: { amount: '1.000000001', toClientId: seller } });
  assert.equal(tooPrecise.status, 400);
  assert.equal(tooPrecise.body.code, 'AMOUNT_INVALID');
  const noSchedule = await app.call('POST', `/v1/holds/${hold.body.id}/post`, { body: { amount: '1', toClientId: seller, fee: { amount: '0.001' } } });
  assert.equal(noSchedule.status, 400, 'a fee without a fee-schedule version is refused');
  const posted = await app.call('POST', `/v1/holds/${hold.body.id}/post`, { body: { amount: '1.2', toClientId: seller, fee: { amount: '0.002', feeScheduleVersion: '2026-11' } } });
  assert.equal(posted.status, 200, JSON.stringify(posted.body));
  assert.equal(posted.body.hold.state, 'posted');
  assert.equal(posted.body.hold.postedAmount, '1.2');
  assert.deepEqual((await balance(buyer, 'BTC')).entitlement, { total: '0.8', held: '0', available: '0.8' });
  assert.deepEqual((await balance(seller, 'BTC')).entitlement, { total: '1.198', held: '0', available: '1.198' });
  const entry = await app.call('GET', `/v1/journal/entries/${posted.body.entryId}`, { key: app.keys.auditor });
  assert.equal(entry.status, 200);
  assert.equal(entry.body.type, 'fee');
  assert.equal(entry.body.cause.feeScheduleVersion, '2026-11');
  assert.deepEqual(entry.body.postings.map((p: { amount: string }) => p.amount).sort(), ['-1.2', '0.002', '1.198']);
  const again = await app.call('POST', `/v1/holds/${hold.body.id}/void`);
  assert.equal(again.status, 409);
  assert.equal(again.body.code, 'HOLD_NOT_PENDING');
});

test('SEG-07 transfers are book entries; journal reads page by client', async () => {
  const a = await client('t-a');
  const b = await client('t-b');
  await fund(a, 'ETH', 10n ** 18n);
  const t = await app.call('POST', '/v1/transfers', { body: { fromClientId: a, toClientId: b, asset: 'ETH', amount: '0.25' } });
  assert.equal(t.status, 201);
  const bad = await app.call('POST', '/v1/transfers', { body: { fromClientId: a, toClientId: b, asset: 'ETH', amount: '5' } });
  assert.equal(bad.status, 409);
  assert.equal(bad.body.code, 'INSUFFICIENT_FUNDS');
  assert.equal((await balance(b, 'ETH')).entitlement.total, '0.25');
  const journal = await app.call('GET', `/v1/journal/entries?clientId=${b}`, { key: app.keys.treasury });
  assert.equal(journal.status, 200);
  assert.equal(journal.body.entries.length, 1);
  const totals = await app.call('GET', '/v1/ledger/control-totals', { key: app.keys.auditor });
  assert.ok(totals.body.totals.every((t: { balanced: boolean }) => t.balanced));
});

test('API bad input: unknown asset, zero, negative and too-precise amounts are 4xx with a stable code and hold nothing', async () => {
  const c = await client('bad-input');
  await fund(c, 'BTC', 100_000_000n);
  const cases: [unknown, number, string][] = [
    [{ clientId: c, asset: 'DOGE', amount: '1' }, 404, 'ASSET_NOT_FOUND'],
    [{ clientId: c, asset: 'BTC', amount: '0' }, 400, 'AMOUNT_INVALID'],
    [{ clientId: c, asset: 'BTC', amount: '-1' }, 400, 'VALIDATION_FAILED'],
    [{ clientId: c, asset: 'BTC', amount: '0.000000001' }, 400, 'AMOUNT_INVALID'],
    [{ clientId: c, asset: 'BTC', amount: 1 }, 400, 'VALIDATION_FAILED'],
    [{ clientId: c, asset: 'BTC', amount: '1e3' }, 400, 'VALIDATION_FAILED'],
  ];
  for (const [body, status, code] of cases) {
    const res = await app.call('POST', '/v1/holds', { body });
    assert.equal(res.status, status, JSON.stringify(body));
    assert.equal(res.body.code, code);
  }
  assert.deepEqual((await balance(c, 'BTC')).entitlement, { total: '1', held: '0', available: '1' });
});

test('API system: healthz, readyz, metrics and an OpenAPI document covering every route', async () => {
  assert.equal((await app.call('GET', '/healthz', { key: null })).status, 200);
  assert.equal((await app.call('GET', '/readyz', { key: null })).body.status, 'ready');
  const metrics = await app.call('GET', '/metrics', { key: null });
  assert.match(String(metrics.body), /amanat_http_requests_total/);
  const doc = await app.call('GET', '/openapi.json', { key: null });
  assert.equal(doc.body.openapi, '3.0.3');
  for (const r of app.amanat.routes) {
    const p = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    assert.ok(doc.body.paths[p]?.[r.method], `${r.method} ${r.path} is documented`);
  }
  assert.ok(doc.body.paths['/v1/holds'].post.requestBody.content['application/json'].schema.properties.amount);
});

test('API money: wei amounts beyond 2^53 round-trip exactly through holds and balances', async () => {
  const c = await client('big-wei');
  await fund(c, 'ETH', 10n ** 24n); // 1,000,000 ETH
  const hold = await app.call('POST', '/v1/holds', { body: { clientId: c, asset: 'ETH', amount: '123456.789012345678' } });
  assert.equal(hold.status, 201, JSON.stringify(hold.body));
  assert.equal(hold.body.amount, '123456.789012345678');
  const b = await balance(c, 'ETH');
  assert.deepEqual(b.entitlement, { total: '1000000', held: '123456.789012345678', available: '876543.210987654322' });
});
