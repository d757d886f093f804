// The reconciliation over HTTP with the real signer (REC-05, REC-01): admin "run now" is idempotent per
// date and publishes a signed report; auditors list the runs with the gaps of missed days and drill
// into a report's breaks, GET only, every access in the audit log; `amanat recon run --date`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startReportApp, tempDir, type ReportApp } from '../reports/report-app.ts';

const root = path.resolve(import.meta.dirname, '../..');
let app: ReportApp;

before(async () => { app = await startReportApp(); });
after(async () => { await app?.close(); });

test('REC-05 REC-01 run now (admin, idempotent per date), the runs with their gaps and a report\'s breaks (auditor, GET only, audit-logged)', async () => {
  const run = await app.call('POST', '/v1/reconciliations', { key: app.keys.admin, body: { reportDate: '2026-11-20' } });
  assert.equal(run.status, 200, JSON.stringify(run.body));
  assert.equal(run.body.run.state, 'done');
  assert.match(run.body.run.reportId, /^[0-9a-f-]{36}$/);
  const again = await app.call('POST', '/v1/reconciliations', { key: app.keys.admin, body: { reportDate: '2026-11-20' } });
  assert.equal(again.body.run.id, run.body.run.id, 'one run per date');
  assert.equal(again.body.run.reportId, run.body.run.reportId);
  // The published report downloads as a PDF.
  const pdf = await app.call('GET', `/v1/audit/reports/${run.body.run.reportId}?format=pdf`, { key: app.keys.auditor });
  assert.equal(pdf.status, 200);
  assert.equal(pdf.bytes.subarray(0, 5).toString('latin1'), '%PDF-');

  // An earlier day's run with a break (as a run would have written it), and a day with no run.
  const { rows } = await app.db.owner.query<{ id: string }>(
    `insert into recon_runs (report_date, trigger, state, cutoff_at, snapshot_at, por_secret, finished_at)
     values ('2026-11-18', 'schedule', 'done', '2026-11-18T18:00:00Z', '2026-11-18T18:00:05Z', '\\x00', now()) returning id`);
  await app.db.owner.query(
    `insert into recon_breaks (run_id, break_key, class, owner, asset, tier, chain, expected, actual, difference, explained, explanation, first_seen_at)
     values ($1, 'unknown_inflow|x|tx1', 'unknown_inflow', 'client', 'BTC', 'hot', 'bitcoin', 0, 10000, 10000, false, 'coins arrived', '2026-11-18T18:00:05Z')`, [rows[0]!.id]);

  const before = Number((await app.db.owner.query('select coalesce(max(id), 0) as n from audit_log')).rows[0].n);
  const list = await app.call('GET', '/v1/audit/reconciliations?from=2026-11-18&to=2026-11-20', { key: app.keys.auditor });
  assert.equal(list.status, 200, JSON.stringify(list.body));
  assert.deepEqual(list.body.runs.map((r: { reportDate: string }) => r.reportDate), ['2026-11-18', '2026-11-20']);
  assert.deepEqual(list.body.gaps, [{ reportDate: '2026-11-19', reason: 'missing report: no run' }]);
  const breaks = await app.call('GET', '/v1/audit/reports/2026-11-18/breaks', { key: app.keys.auditor });
  assert.equal(breaks.status, 200);
  assert.equal(breaks.body.breaks.length, 1);
  assert.equal(breaks.body.breaks[0].class, 'unknown_inflow');
  assert.equal(breaks.body.breaks[0].difference, '10000');
  const none = await app.call('GET', `/v1/audit/reports/${run.body.run.reportId}/breaks`, { key: app.keys.auditor });
  assert.equal(none.status, 200);
  assert.deepEqual(none.body.breaks, []);
  assert.equal((await app.call('GET', '/v1/audit/reports/00000000-0000-4000-8000-000000000000/breaks', { key: app.keys.auditor })).status, 404);
  const { rows: logged } = await app.db.owner.query<{ action: string; outcome: string }>(
    `select action, outcome from audit_log where id > $1 and actor = $2 order by id`, [before, `apikey:${app.keyIds.auditor}`]);
  assert.deepEqual(logged.map((r) => [r.action, r.outcome]), [
    ['GET /v1/audit/reconciliations', 'ok'], ['GET /v1/audit/reports/:reportId/breaks', 'ok'], ['GET /v1/audit/reports/:reportId/breaks', 'ok'],
    ['GET /v1/audit/reports/:reportId/breaks', 'rejected:REPORT_NOT_FOUND'],
  ]);

  const recomputed = await app.call('GET', '/v1/audit/reconciliations/2026-11-20/recompute', { key: app.keys.auditor });
  assert.equal(recomputed.status, 200, JSON.stringify(recomputed.body));
  assert.equal(recomputed.body.equal, true);
  assert.equal((await app.call('GET', '/v1/audit/reconciliations/2026-11-19/recompute', { key: app.keys.auditor })).status, 404);
  // Auditors and the exchange may not run it; the exchange may not read it; bad dates are 400s.
  assert.equal((await app.call('POST', '/v1/reconciliations', { key: app.keys.auditor, body: {} })).status, 403);
  assert.equal((await app.call('POST', '/v1/reconciliations', { key: app.keys.treasury, body: {} })).status, 403);
  assert.equal((await app.call('GET', '/v1/audit/reconciliations', { key: app.keys.exchange })).status, 403);
  assert.equal((await app.call('POST', '/v1/reconciliations', { key: app.keys.admin, body: { reportDate: '2999-01-01' } })).status, 400);
  assert.equal((await app.call('POST', '/v1/reconciliations', { key: app.keys.admin, body: { reportDate: '2026-13-45' } })).status, 400);
  assert.equal((await app.call('GET', '/v1/audit/reconciliations?from=2026-11-20&to=2026-11-18', { key: app.keys.auditor })).status, 400);
});

test('REC-01 amanat recon run --date runs the reconciliation of that date through the API, once', async () => {
  const cli = (): Promise<{ code: number | null; stdout: string; stderr: string }> => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), 'recon', 'run', '--date', '2026-11-21'], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AMANAT_API_URL: app.url, AMANAT_API_KEY: app.keys.admin, AMANAT_DATA_DIR: tempDir('recon-cli') },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
  const first = await cli();
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /reconciliation 2026-11-21: done; report [0-9a-f-]{36}/);
  const second = await cli();
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout, first.stdout);
  const { rows } = await app.db.owner.query<{ n: number }>(`select count(*)::int as n from reports where kind = 'reconciliation' and report_key = '2026-11-21'`);
  assert.equal(rows[0]!.n, 1);
});
