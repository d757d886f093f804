// SEG-06 / audit trail: hash-chained, append-only; the verify command names the first altered or missing row.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
const root = path.resolve(import.meta.dirname, '../..');

async function activity(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await app.call('POST', '/v1/clients', { body: { externalRef: `audit-${Date.now()}-${i}-${Math.random()}`, classification: 'retail', kzResident: false } });
    assert.equal(res.status, 201);
  }
}

function cliVerify(): { status: number | null; stdout: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), 'audit', 'verify'], {
    cwd: root, encoding: 'utf8',
    env: { ...process.env, DATABASE_URL: app.db.ownerUrl, DATABASE_APP_URL: app.db.appUrl, LOG_LEVEL: 'silent' },
  });
  return { status: r.status, stdout: r.stdout + r.stderr };
}

before(async () => { app = await startTestApp(); });
after(async () => { await app.close(); });

test('SEG-06 audit: every state-changing call is recorded with actor, request hash and outcome, and the chain verifies', async () => {
  await activity(5);
  await app.amanat.services.audit.sealAll();
  const { rows } = await app.db.owner.query("select actor, action, request_hash, outcome from audit_log where action = 'POST /v1/clients'");
  assert.equal(rows.length, 5);
  for (const r of rows) {
    assert.match(r.actor, /^apikey:/);
    assert.match(r.request_hash, /^[0-9a-f]{64}$/);
    assert.equal(r.outcome, 'ok');
  }
  const report = await app.amanat.services.audit.verify();
  assert.equal(report.ok, true, JSON.stringify(report));
  assert.ok(report.checkedRows >= 5);
  const cli = cliVerify();
  assert.equal(cli.status, 0, cli.stdout);
  assert.match(cli.stdout, /audit chain OK/);
});

test('SEG-06 audit: the application role cannot change or remove audit rows', async () => {
  await assert.rejects(app.db.app.query("update audit_log set outcome = 'x'"), /permission denied/);
  await assert.rejects(app.db.app.query('delete from audit_chain'), /permission denied/);
  await assert.rejects(app.db.owner.query("update audit_log set outcome = 'x'"), /IMMUTABLE/);
});

test('SEG-06 audit: altering one audit row makes verify (and the CLI) name that row', async () => {
  await activity(3);
  await app.amanat.services.audit.sealAll();
  const { rows } = await app.db.owner.query("select id from audit_log where action = 'POST /v1/clients' order by id limit 1 offset 2");
  const victim = rows[0].id as number;
  const client = await app.db.owner.connect();
  try {
    await client.query('set session_replication_role = replica'); // bypasses triggers: what an attacker with superuser could do
    await client.query("update audit_log set outcome = 'rejected:FORGED' where id = $1", [victim]);
  } finally {
    await client.query('set session_replication_role = origin');
    client.release();
  }
  const report = await app.amanat.services.audit.verify();
  assert.equal(report.ok, false);
  assert.equal(report.firstProblem?.auditId, victim);
  assert.equal(report.firstProblem?.problem, 'row_hash_mismatch');
  const cli = cliVerify();
  assert.equal(cli.status, 1);
  assert.match(cli.stdout, new RegExp(`audit row ${victim}\\b`));
});

test('SEG-06 audit: a removed row and a tampered posting are found', async () => {
  const other = await startTestApp();
  try {
    for (let i = 0; i < 4; i++) {
      await other.call('POST', '/v1/clients', { body: { externalRef: `rm-${i}`, classification: 'retail', kzResident: false } });
    }
    await other.amanat.services.audit.sealAll();
    const { rows } = await other.db.owner.query("select id from audit_log order by id limit 1 offset 1");
    const victim = rows[0].id as number;
    const c = await other.db.owner.connect();
    try {
      await c.query('set session_replication_role = replica');
      await c.query('delete from audit_log where id = $1', [victim]);
    } finally { await c.query('set session_replication_role = origin'); c.release(); }
    const report = await other.amanat.services.audit.verify();
    assert.equal(report.firstProblem?.problem, 'row_missing');
    assert.equal(report.firstProblem?.auditId, victim);
  } finally {
    await other.close();
  }

  const third = await startTestApp();
  try {
    const c1 = await third.call('POST', '/v1/clients', { body: { externalRef: 'p-1', classification: 'retail', kzResident: false } });
    const c2 = await third.call('POST', '/v1/clients', { body: { externalRef: 'p-2', classification: 'retail', kzResident: false } });
    const { ledger } = third.amanat.services;
    const world = await ledger.systemAccountId(third.db.app, 'BTC', 'external_world');
    const a1 = await ledger.clientAccountId(third.db.app, c1.body.id, 'BTC');
    await ledger.postEntry(third.db.app, { idempotencyId: 'dep-1', type: 'deposit', actor: 'test', postings: [{ accountId: world, amount: -500n }, { accountId: a1, amount: 500n }] });
    const t = await third.call('POST', '/v1/transfers', { body: { fromClientId: c1.body.id, toClientId: c2.body.id, asset: 'BTC', amount: '0.000001' } });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    await third.amanat.services.audit.sealAll();
    assert.equal((await third.amanat.services.audit.verify()).ok, true);
    const c = await third.db.owner.connect();
    try {
      await c.query('set session_replication_role = replica');
      await c.query('update postings set amount = amount * 2 where entry_id = $1', [t.body.entryId]);
    } finally { await c.query('set session_replication_role = origin'); c.release(); }
    const report = await third.amanat.services.audit.verify();
    assert.equal(report.ok, false);
    assert.equal(report.entries.firstBadEntryId, t.body.entryId);
  } finally {
    await third.close();
  }
});

test('SEG-06 audit: sealAll seals every row committed before it, even while an older transaction (any database on the server) holds the horizon back', async () => {
  const holder = await app.db.owner.connect();
  try {
    await holder.query('begin');
    await holder.query('select pg_current_xact_id()'); // an open transaction older than the rows below
    await activity(2);
    const { rows: [newest] } = await app.db.owner.query<{ id: number }>('select max(id)::int as id from audit_log');
    let sealed = false;
    const sealing = app.amanat.services.audit.sealAll().then(() => { sealed = true; });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sealed, false, 'rows above the horizon cannot be chained yet: sealAll waits instead of returning with them unsealed');
    await holder.query('commit');
    await sealing;
    const { rows } = await app.db.owner.query('select 1 from audit_chain where audit_id = $1', [newest!.id]);
    assert.equal(rows.length, 1, 'the newest row is in the chain once sealAll returns');
  } finally {
    await holder.query('rollback').catch(() => undefined);
    holder.release();
  }
});
