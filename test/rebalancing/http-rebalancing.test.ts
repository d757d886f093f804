// Rebalancing over the real HTTP app and the CLI: the dry-run plan, the auditor's hot-ratio history
// (audit-logged), and the maker-checker configuration with two different keys.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { runCli } from '../helpers/treasury.ts';
import { tempDir } from '../../signer/test/helpers.ts';

let app: TestApp;
let client: string;
const BTC = 100_000_000n;

before(async () => {
  app = await startTestApp();
  const created = await app.call('POST', '/v1/clients', { body: { externalRef: `hot-http-${Date.now()}`, classification: 'retail', kzResident: true } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  client = created.body.id;
  // Its wallets (rows only: this app has no signer) and a deposit of 0.01 BTC that sits all in hot.
  await app.db.owner.query(`insert into wallets (owner, client_id, chain, tier, state) select 'client', $1, 'bitcoin', t, 'active' from unnest(array['hot', 'cold']) t`, [client]);
  const { ledger } = app.amanat.services;
  const q = app.db.app;
  await ledger.postEntry(q, { idempotencyId: `hot-http-${client}`, type: 'deposit', actor: 'test', postings: [
    { accountId: await ledger.systemAccountId(q, 'BTC', 'external_world'), amount: -BTC / 100n },
    { accountId: await ledger.clientAccountId(q, client, 'BTC'), amount: BTC / 100n },
    { accountId: await ledger.systemAccountId(q, 'BTC', 'external_chain'), amount: -BTC / 100n },
    { accountId: await ledger.clientAccountId(q, client, 'BTC', 'client_wallet_hot'), amount: BTC / 100n },
  ] });
});
after(async () => { await app.close(); });

test('HOT-02 CLI: amanat rebalance --dry-run prints the ratios and the plan, client by client, and moves nothing', async () => {
  const run = await runCli(['rebalance', '--dry-run'], { apiUrl: app.url, apiKey: app.keys.auditor, stateDir: tempDir('cli-rebalance') });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /BTC {2}retail hot 0\.01 \/ cold 0 = 100\.00 %.*BREACH/);
  assert.match(run.stdout, /plan \(dry run, nothing moves\): 1 move\(s\)/);
  assert.match(run.stdout, new RegExp(`sweep 0\\.0085 BTC {2}client ${client} {2}hot wallet \\S+ -> cold wallet`));
  assert.equal((await app.db.app.query('select count(*)::int as n from withdrawals')).rows[0].n, 0, 'a dry run creates nothing');
  assert.equal((await app.db.app.query('select count(*)::int as n from hot_ratio_snapshots')).rows[0].n, 0, 'nor a snapshot');
  const json = await runCli(['rebalance', '--dry-run', '--json'], { apiUrl: app.url, apiKey: app.keys.treasury, stateDir: tempDir('cli-rebalance') });
  const body = JSON.parse(json.stdout);
  assert.deepEqual(body.plan.moves.map((m: { clientId: string; sourceClientId: string; destinationClientId: string }) => [m.clientId, m.sourceClientId, m.destinationClientId]),
    [[client, client, client]]);
});

test('HOT-01 HOT-06 the auditor reads the hot-ratio history (every read audit-logged); a run records a snapshot and opens the breach incident; the auditor cannot run it', async () => {
  assert.equal((await app.call('POST', '/v1/rebalancing/run', { key: app.keys.auditor, body: {} })).status, 403);
  const ran = await app.call('POST', '/v1/rebalancing/run', { key: app.keys.treasury, body: {} });
  assert.equal(ran.status, 200, JSON.stringify(ran.body));
  assert.deepEqual(ran.body.created, [], 'without signer-backed wallets nothing is created');
  const from = new Date(Date.now() - 60_000).toISOString();
  const history = await app.call('GET', `/v1/audit/hot-ratio?from=${encodeURIComponent(from)}&asset=BTC`, { key: app.keys.auditor });
  assert.equal(history.status, 200, JSON.stringify(history.body));
  const retail = history.body.snapshots.find((s: { pool: string }) => s.pool === 'retail');
  assert.deepEqual([retail.hot, retail.cold, retail.shareBp, retail.capBp, retail.breach, retail.hard], ['0.01', '0', 10_000, 3000, true, true]);
  const { rows: logged } = await app.db.app.query(`select actor, action from audit_log where action = 'GET /v1/audit/hot-ratio'`);
  assert.equal(logged.length, 1, 'the auditor\'s read is in the audit log');
  const incidents = await app.call('GET', '/v1/incidents', { key: app.keys.auditor });
  assert.equal(incidents.status, 200);
  assert.ok(JSON.stringify(incidents.body).includes('hot_cap_breach'), JSON.stringify(incidents.body));
  const empty = await app.call('GET', `/v1/audit/hot-ratio?to=${encodeURIComponent(from)}`, { key: app.keys.auditor });
  assert.deepEqual(empty.body.snapshots, []);
  assert.equal((await app.call('GET', '/v1/audit/hot-ratio?from=yesterday', { key: app.keys.auditor })).status, 400);
});

test('HOT-02 over HTTP: a configuration change without a different checker is refused (403 CHECKER_REQUIRED); another key checks it; above 30 % is a 400', async () => {
  const proposed = await app.call('POST', '/v1/rebalancing/config', { key: app.keys.treasury,
    body: { asset: 'BTC', targetBp: 1000, alertBp: 2000, capBp: 2500, minHotFloor: '0.001', reason: 'tighter band' } });
  assert.equal(proposed.status, 201, JSON.stringify(proposed.body));
  const self = await app.call('POST', `/v1/rebalancing/config/${proposed.body.version}/approve`, { key: app.keys.treasury });
  assert.equal(self.status, 403);
  assert.equal(self.body.code, 'CHECKER_REQUIRED');
  let listed = await app.call('GET', '/v1/rebalancing/config?asset=BTC', { key: app.keys.auditor });
  assert.equal(listed.body.active.find((c: { asset: string }) => c.asset === 'BTC').version, null, 'unchanged');
  const checked = await app.call('POST', `/v1/rebalancing/config/${proposed.body.version}/approve`, { key: app.keys.admin });
  assert.equal(checked.status, 200, JSON.stringify(checked.body));
  listed = await app.call('GET', '/v1/rebalancing/config?asset=BTC', { key: app.keys.auditor });
  const active = listed.body.active.find((c: { asset: string }) => c.asset === 'BTC');
  assert.deepEqual([active.version, active.targetBp, active.alertBp, active.capBp, active.minHotFloor, active.state], [proposed.body.version, 1000, 2000, 2500, '0.001', 'active']);
  assert.notEqual(active.checker, active.maker);
  const tooHigh = await app.call('POST', '/v1/rebalancing/config', { key: app.keys.treasury,
    body: { asset: 'BTC', targetBp: 1000, alertBp: 2000, capBp: 3001, minHotFloor: '0', reason: 'no' } });
  assert.equal(tooHigh.status, 400);
  const tiers = await app.call('GET', '/v1/rebalancing/tiers', { key: app.keys.auditor });
  assert.equal(tiers.status, 200);
  assert.deepEqual(tiers.body.wallets.filter((w: { clientId: string }) => w.clientId === client).map((w: { tier: string; countsAs: string }) => [w.tier, w.countsAs]),
    [['cold', 'cold'], ['hot', 'hot']]);
});
