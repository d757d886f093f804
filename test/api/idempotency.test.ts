import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
before(async () => { app = await startTestApp(); });
after(async () => { await app.close(); });

const newClient = (ref: string, idem?: string) =>
  app.call('POST', '/v1/clients', { body: { externalRef: ref, classification: 'retail', kzResident: true }, idem });

test('API idempotency: the same key and body replays the first answer and writes once', async () => {
  const first = await newClient('idem-a', 'same-key-1');
  assert.equal(first.status, 201);
  const again = await newClient('idem-a', 'same-key-1');
  assert.equal(again.status, 201);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.deepEqual(again.body, first.body);
  const { rows } = await app.db.owner.query("select count(*)::int as n from clients where external_ref = 'idem-a'");
  assert.equal(rows[0].n, 1);
});

test('API idempotency: the same key with another body is a 422 and changes nothing', async () => {
  await newClient('idem-b', 'same-key-2');
  const other = await newClient('idem-c', 'same-key-2');
  assert.equal(other.status, 422);
  assert.equal(other.body.code, 'IDEMPOTENCY_KEY_REUSED');
  assert.match(other.headers.get('content-type') ?? '', /application\/problem\+json/);
  const { rows } = await app.db.owner.query("select count(*)::int as n from clients where external_ref = 'idem-c'");
  assert.equal(rows[0].n, 0);
});

test('API idempotency: a mutating call without a key is a 400 and writes nothing', async () => {
  const res = await app.call('POST', '/v1/clients', { body: { externalRef: 'idem-d', classification: 'retail', kzResident: true }, idem: null });
  assert.equal(res.status, 400);
  assert.equal(res.body.code, 'IDEMPOTENCY_KEY_REQUIRED');
});

test('API idempotency: 20 concurrent calls with one key create one client and all get the same answer', async () => {
  const results = await Promise.all(Array.from({ length: 20 }, () => newClient('idem-e', 'same-key-3')));
  for (const r of results) assert.equal(r.status, 201);
  assert.equal(new Set(results.map((r) => r.body.id)).size, 1);
  const { rows } = await app.db.owner.query("select count(*)::int as n from clients where external_ref = 'idem-e'");
  assert.equal(rows[0].n, 1);
});

test('API idempotency: a refused hold replays the same refusal; keys are scoped per API key', async () => {
  const c = await newClient('idem-f');
  const hold = { clientId: c.body.id, asset: 'BTC', amount: '1' };
  const refused = await app.call('POST', '/v1/holds', { body: hold, idem: 'hold-key' });
  assert.equal(refused.status, 409);
  assert.equal(refused.body.code, 'INSUFFICIENT_FUNDS');
  const replay = await app.call('POST', '/v1/holds', { body: hold, idem: 'hold-key' });
  assert.equal(replay.status, 409);
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  // Another caller's key space is its own.
  const admin = await app.call('POST', '/v1/clients', { key: app.keys.admin, idem: 'hold-key', body: { externalRef: 'idem-g', classification: 'professional', kzResident: false } });
  assert.equal(admin.status, 201);
});
