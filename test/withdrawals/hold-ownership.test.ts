// Holds have owners (SEG-05, WDR-03): a withdrawal's hold is ended only by that withdrawal, never
// through the exchange's hold routes, and once its transaction is signed it no longer expires.
// On a real bcoin regtest node, SoftHSM signer and Postgres, through the real HTTP routes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ROLES } from '../../src/auth/api-keys.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';
import { startTreasuryHttp, type TreasuryHttp } from '../helpers/treasury.ts';
import { CONFIRMATIONS } from '../helpers/custody.ts';

let f: WithdrawalFixture;
let http: TreasuryHttp;
before(async () => { f = await startWithdrawals('bitcoin'); http = await startTreasuryHttp(f, 'holds'); });
after(async () => { await http.close(); await f.close(); });

async function call(method: string, path: string, key: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${http.url}${path}`, {
    method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const holdRow = async (id: string) => (await f.db.owner.query<{ state: string; owner: string; committed_at: Date | null; expires_at: Date }>(
  'select * from holds where id = $1', [id])).rows[0]!;

test('SEG-05 WDR-03 no role can void or post a withdrawal\'s hold through the hold routes: 409 HOLD_NOT_OWNER or 403, and nothing changes', async () => {
  const client = await f.fundedClient('BTC', 20_000_000n, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.01', destination });
  const other = await f.newClient();
  // Every mutating route that names a hold, as the service declares them: a hold route added later is covered too.
  const routes = (await fetch(`${http.url}/openapi.json`).then((r) => r.json()) as { paths: Record<string, Record<string, { requestBody?: unknown }>> }).paths;
  const holdPaths = Object.entries(routes).filter(([p]) => p.includes('{holdId}')).flatMap(([p, ops]) =>
    Object.entries(ops).filter(([m]) => m !== 'get').map(([m, op]) => ({ method: m.toUpperCase(), path: p.replace('{holdId}', w.hold_id!), hasBody: op.requestBody !== undefined })));
  assert.ok(holdPaths.length >= 2, `the hold routes: ${show(holdPaths)}`);
  for (const stage of ['before signing', 'after signing'] as const) {
    if (stage === 'after signing') {
      const signed = await f.settle(w.id, { untilState: 'confirming' });
      assert.equal(signed.state, 'confirming', show(signed.failure_detail));
    }
    const before = await f.entitlement(client, 'BTC');
    for (const { method, path, hasBody } of holdPaths) {
      for (const role of ROLES) {
        const res = await call(method, path, http.keys[role], hasBody ? { amount: '0.01', toClientId: other } : undefined);
        if (role === 'exchange') assert.deepEqual([res.status, res.body.code], [409, 'HOLD_NOT_OWNER'], `${stage}: exchange ${method} ${path}: ${show(res.body)}`);
        else assert.equal(res.status, 403, `${stage}: ${role} ${method} ${path}`);
      }
    }
    assert.equal((await holdRow(w.hold_id!)).state, 'pending', stage);
    assert.deepEqual(await f.entitlement(client, 'BTC'), before, `${stage}: the client's balance did not move`);
    assert.equal((await f.entitlement(other, 'BTC')).total, 0n);
  }
  const done = await f.settle(w.id);
  assert.equal(done.state, 'completed', show(done.failure_detail));
  assert.equal((await holdRow(w.hold_id!)).state, 'posted', 'the withdrawal itself posted its hold');
});

test('SEG-05 the exchange still voids and posts the holds it placed itself', async () => {
  const client = await f.fundedClient('BTC', 1_000_000n, 'hot');
  const other = await f.newClient();
  const placed = await call('POST', '/v1/holds', http.keys.exchange, { clientId: client, asset: 'BTC', amount: '0.001' });
  assert.equal(placed.status, 201, show(placed.body));
  assert.deepEqual([placed.body.owner, placed.body.purpose], ['exchange', 'exchange']);
  const posted = await call('POST', `/v1/holds/${String(placed.body.id)}/post`, http.keys.exchange, { amount: '0.001', toClientId: other });
  assert.equal(posted.status, 200, show(posted.body));
  const second = await call('POST', '/v1/holds', http.keys.exchange, { clientId: client, asset: 'BTC', amount: '0.001' });
  const voided = await call('POST', `/v1/holds/${String(second.body.id)}/void`, http.keys.exchange);
  assert.deepEqual([voided.status, voided.body.state], [200, 'voided']);
});

test('WDR-03 a signed withdrawal\'s hold does not expire while its transaction can still confirm', async () => {
  const client = await f.fundedClient('BTC', 20_000_000n, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const w = await f.request({ clientId: client, asset: 'BTC', amount: '0.005', destination });
  const signed = await f.settle(w.id, { untilState: 'confirming' });
  assert.equal(signed.state, 'confirming', show(signed.failure_detail));
  const held = (await f.entitlement(client, 'BTC')).held;
  assert.ok(held > 500_000n);
  // Its 30-day lifetime runs out while the transaction waits in the mempool.
  await f.db.owner.query(`update holds set expires_at = now() - interval '1 second' where id = $1`, [w.hold_id]);
  await f.ledger.expireHolds(10_000);
  const hold = await holdRow(w.hold_id!);
  assert.equal(hold.state, 'pending', 'the expiry loop did not give the client its funds back while the coins are leaving');
  assert.ok(hold.committed_at, 'committed when signed');
  assert.equal((await f.entitlement(client, 'BTC')).held, held);
  await f.btc!.mine(CONFIRMATIONS);
  const done = await f.settle(w.id);
  assert.equal(done.state, 'completed', show(done.failure_detail));
  assert.equal((await holdRow(w.hold_id!)).state, 'posted', 'posted with the real fee, past its original expiry');
  assert.equal((await f.entitlement(client, 'BTC')).held, 0n);
});
