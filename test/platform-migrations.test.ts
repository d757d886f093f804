import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

let db: TestDatabase;
before(async () => { db = await createTestDatabase(); });
after(async () => { await db.drop(); });

test('migrations create the asset registry with BTC 8, ETH 18, USDT 6 decimals', async () => {
  const { rows } = await db.app.query('select code, decimals, chain, state from assets order by code');
  assert.deepEqual(rows.map((r) => [r.code, r.decimals, r.chain]), [['BTC', 8, 'bitcoin'], ['ETH', 18, 'ethereum'], ['USDT', 6, 'ethereum']]);
});
