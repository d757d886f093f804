// REC-05 (issue 12 §4-§5): the signed, immutable report store, its downloads and their offline
// verification. Real Postgres, the real HTTP app, the real signer on SoftHSM2 (the report key), the
// real CLI as a child process.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ReportService, renderPdf, toCsv, type Renderers } from '../../src/reports/index.ts';
import { SignerClient } from '../../src/signer-client/signer-client.ts';
import { isDomainError } from '../../src/platform/errors.ts';
import { runCli, startReportApp, tempDir, type ReportApp } from './report-app.ts';

let app: ReportApp;
let reports: ReportService;

const renderers: Renderers = {
  csv: (content) => toCsv([['asset', 'total'], ...(content as { rows: { asset: string; total: string }[] }).rows.map((r) => [r.asset, r.total])]),
  pdf: (content, meta) => renderPdf('Test report', [{ heading: 'Totals', table: [['Asset', 'Total'], ...(content as { rows: { asset: string; total: string }[] }).rows.map((r) => [r.asset, r.total])] }], meta),
};

const reportSignatures = (): number => app.signer.output().split('\n').filter((line) => line.includes('"event":"report-signed"')).length;

before(async () => {
  app = await startReportApp();
  reports = app.amanat.services.reports;
});

after(async () => {
  await app?.close();
});

test('REC-05 publish is idempotent per (kind, key): the same content returns the stored report, other content is REPORT_CONFLICT, concurrent publishes make one', async () => {
  const content = { type: 'test-report', date: '2026-12-03', rows: [{ asset: 'BTC', total: 150_000_000n }, { asset: 'ETH', total: '0' }] };
  const signedBefore = reportSignatures();
  const published = await Promise.all(Array.from({ length: 5 }, () => reports.publish({ kind: 'segregation', reportKey: '2026-12-03', content, renderers })));
  assert.equal(new Set(published.map((r) => r.id)).size, 1, 'one report');
  const first = published[0]!;
  assert.equal((await app.db.app.query(`select count(*)::int as n from reports where kind = 'segregation' and report_key = '2026-12-03'`)).rows[0].n, 1);
  assert.equal((await app.db.app.query('select count(*)::int as n from report_signatures where report_id = $1', [first.id])).rows[0].n, 1);
  assert.ok(reportSignatures() - signedBefore >= 1);
  // Same content (bigint or its decimal string: the same canonical JSON) -> the stored report, not signed again.
  const signedNow = reportSignatures();
  const again = await reports.publish({ kind: 'segregation', reportKey: '2026-12-03', content: { ...content, rows: [{ asset: 'BTC', total: '150000000' }, { asset: 'ETH', total: '0' }] }, renderers });
  assert.equal(again.id, first.id);
  assert.equal(reportSignatures(), signedNow, 'not signed again');
  // Other content under the same key.
  await assert.rejects(reports.publish({ kind: 'segregation', reportKey: '2026-12-03', content: { ...content, rows: [] }, renderers }),
    (error: unknown) => isDomainError(error) && error.code === 'REPORT_CONFLICT');
  // A number in the content has no canonical JSON: refused, nothing stored.
  await assert.rejects(reports.publish({ kind: 'segregation', reportKey: '2026-12-04', content: { total: 1.5 }, renderers }),
    (error: unknown) => isDomainError(error) && error.code === 'BAD_ARGUMENT');
  assert.equal(await reports.findByKey('segregation', '2026-12-04'), undefined);
  // The manifest names the content hash and each rendering's hash; the signature is the signer's report key's.
  const key = (await app.call('GET', '/v1/audit/report-key', { key: app.keys.auditor })).body;
  assert.equal(first.signature.publicKey, key.publicKey);
  assert.equal(first.manifest.contentHash, first.contentHash);
  assert.equal(first.manifest.files.json, first.contentHash);
});

test('REC-05 stored reports are immutable: the app role may not update, delete or truncate them', async () => {
  const report = await reports.publish({ kind: 'segregation', reportKey: 'immutable-1', content: { rows: [] }, renderers });
  for (const sql of [
    `update reports set content_hash = repeat('0', 64) where id = '${report.id}'`,
    `delete from reports where id = '${report.id}'`,
    `update report_signatures set signature = repeat('0', 128) where report_id = '${report.id}'`,
    `delete from report_signatures where report_id = '${report.id}'`,
    'truncate report_signatures',
  ]) {
    await assert.rejects(app.db.app.query(sql), /IMMUTABLE|permission denied/, sql);
  }
  assert.equal((await reports.get(report.id)).signature.signature, report.signature.signature);
});

test('REC-05 a publish interrupted between claim and signature resumes with the same manifest: one report', async () => {
  const failing = new ReportService(app.db.app, {
    reportKey: () => new SignerClient(app.signer.socketPath).reportKey(),
    signReport: () => Promise.reject(new Error('signer went away')),
  });
  const content = { rows: [{ asset: 'BTC', total: '7' }] };
  await assert.rejects(failing.publish({ kind: 'reconciliation', reportKey: 'resume-1', content, renderers }), /signer went away/);
  assert.equal(await reports.findByKey('reconciliation', 'resume-1'), undefined, 'claimed, not published');
  const claimed = (await app.db.app.query(`select manifest from reports where kind = 'reconciliation' and report_key = 'resume-1'`)).rows[0].manifest;
  const report = await reports.publish({ kind: 'reconciliation', reportKey: 'resume-1', content, renderers });
  assert.deepEqual(report.manifest, claimed, 'the claimed manifest is the one signed');
  assert.equal((await app.db.app.query(`select count(*)::int as n from reports where report_key = 'resume-1'`)).rows[0].n, 1);
});

test('REC-05 downloads: JSON, CSV and PDF with their content types verify offline with `amanat report verify`; one changed byte fails', async () => {
  const report = await reports.publish({ kind: 'reconciliation', reportKey: '2026-12-02', content: { type: 'test-report', rows: [{ asset: 'BTC', total: '123456789' }] }, renderers });
  const dir = tempDir('report-verify');
  const list = await app.call('GET', '/v1/audit/reports?kind=reconciliation', { key: app.keys.auditor });
  assert.equal(list.status, 200);
  assert.ok(list.body.reports.some((r: { id: string }) => r.id === report.id));
  const key = (await app.call('GET', '/v1/audit/report-key', { key: app.keys.auditor })).body;
  const signature = await app.call('GET', `/v1/audit/reports/${report.id}/signature`, { key: app.keys.auditor });
  assert.equal(signature.status, 200);
  const sigPath = path.join(dir, 'report.sig.json');
  writeFileSync(sigPath, signature.bytes);
  const types = { json: 'application/json', csv: 'text/csv', pdf: 'application/pdf' } as const;
  for (const format of ['json', 'csv', 'pdf'] as const) {
    const download = await app.call('GET', `/v1/audit/reports/${report.id}?format=${format}`, { key: app.keys.auditor });
    assert.equal(download.status, 200, download.bytes.toString());
    assert.match(download.headers.get('content-type') ?? '', new RegExp(`^${types[format]}`));
    if (format === 'pdf') assert.equal(download.bytes.subarray(0, 5).toString(), '%PDF-');
    const file = path.join(dir, `report.${format}`);
    writeFileSync(file, download.bytes);
    const args = format === 'json' ? ['report', 'verify', file] : ['report', 'verify', file, '--signature', sigPath];
    const withKey = await runCli([...args, '--public-key', key.publicKey]);
    assert.equal(withKey.code, 0, `${format}: ${withKey.stdout}${withKey.stderr}`);
    assert.match(withKey.stdout, /^VALID/);
    // One changed byte in the middle of the file.
    const tampered = Buffer.from(download.bytes);
    const at = Math.floor(tampered.length / 2);
    tampered[at] = tampered[at]! ^ 0x01;
    const tamperedPath = path.join(dir, `tampered.${format}`);
    writeFileSync(tamperedPath, tampered);
    const broken = await runCli([...args.slice(0, 2), tamperedPath, ...args.slice(3), '--public-key', key.publicKey]);
    assert.equal(broken.code, 1, `${format}: ${broken.stdout}${broken.stderr}`);
    assert.match(broken.stdout, /^INVALID/);
  }
  // Without --public-key the key in the file is used, with its fingerprint and a warning.
  const own = await runCli(['report', 'verify', path.join(dir, 'report.json')]);
  assert.equal(own.code, 0, own.stdout + own.stderr);
  assert.match(own.stdout, new RegExp(key.fingerprint));
  assert.match(own.stdout, /WARNING/);
  // Another key than the published one: invalid.
  const other = await runCli(['report', 'verify', path.join(dir, 'report.json'), '--public-key', `02${'1'.repeat(64)}`]);
  assert.equal(other.code, 1);
  // A CSV without its signature file: invalid, with the reason.
  const bare = await runCli(['report', 'verify', path.join(dir, 'report.csv')]);
  assert.equal(bare.code, 1);
  assert.match(bare.stdout, /detached signature/);
});

test('REC-05 an auditor\'s download is in the audit log; auditors may not publish', async () => {
  const report = await reports.publish({ kind: 'reconciliation', reportKey: 'audited-1', content: { rows: [] }, renderers });
  const download = await app.call('GET', `/v1/audit/reports/${report.id}?format=pdf`, { key: app.keys.auditor });
  assert.equal(download.status, 200);
  const { rows } = await app.db.app.query(
    `select action, subject, outcome from audit_log where actor = $1 and action = 'GET /v1/audit/reports/:reportId' order by id desc limit 1`,
    [`apikey:${app.keyIds.auditor}`]);
  assert.equal(rows.length, 1, 'the download is in the audit log');
  assert.equal(rows[0].subject, `/v1/audit/reports/${report.id}`);
  assert.equal(rows[0].outcome, 'ok');
  assert.equal((await app.call('POST', '/v1/reports/proof-of-reserves', { key: app.keys.auditor, body: {} })).status, 403);
  const client = await app.newClient();
  assert.equal((await app.call('POST', `/v1/clients/${client}/statements`, { key: app.keys.auditor })).status, 403);
  assert.equal((await app.call('GET', `/v1/audit/reports/${report.id}`, { key: app.keys.exchange })).status, 403);
  assert.equal((await app.call('GET', '/v1/audit/reports/00000000-0000-4000-8000-000000000000', { key: app.keys.auditor })).status, 404);
});
