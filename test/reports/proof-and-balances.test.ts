// SEG-08 (balances as of an instant reproduce that instant's report after later movements) and the
// proof-of-reserves acceptance end to end (REC-05 PoR): a published report's liability roots, every
// client's inclusion proof from the API checked offline with `amanat proof verify` against the signed
// report, a changed proof refused. Reserves here are the HOLDINGS BOOK as of the instant (the daily
// reconciliation checks them against the nodes' balances).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildLiabilityTree, renderPdf, verifyInclusion, type Renderers } from '../../src/reports/index.ts';
import { runCli, startReportApp, tempDir, type ReportApp } from './report-app.ts';

let app: ReportApp;
const clients: string[] = [];

before(async () => {
  app = await startReportApp();
  for (let i = 0; i < 5; i += 1) clients.push(await app.newClient());
  for (const [i, client] of clients.entries()) {
    await app.deposit(client, 'BTC', BigInt(10_000 * (i + 1)), i % 2 === 0 ? 'hot' : 'cold');
    if (i < 3) await app.deposit(client, 'ETH', BigInt(10 ** 15) * BigInt(i + 1));
  }
});

after(async () => {
  await app?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('SEG-08 balances as of an instant reproduce that instant\'s report after later movements', async () => {
  await sleep(20);
  const asOf = new Date();
  await sleep(20);
  const published = await app.call('POST', '/v1/reports/proof-of-reserves', { key: app.keys.treasury, body: { asOf: asOf.toISOString() } });
  assert.equal(published.status, 201, JSON.stringify(published.body));
  const expected = new Map<string, { entitlement: string; hot: string; cold: string }>();
  for (const client of clients) {
    for (const b of await app.amanat.services.ledger.clientBalances(app.db.app, client)) {
      if (b.entitlement.total > 0n || b.holdings.total > 0n) expected.set(`${client}/${b.asset}`, { entitlement: b.entitlement.total.toString(), hot: b.holdings.hot.toString(), cold: b.holdings.cold.toString() });
    }
  }
  // Later movements: more in, some out, a new client.
  await app.deposit(clients[0]!, 'BTC', 77n);
  await app.withdraw(clients[1]!, 'BTC', 5_000n, 'cold');
  const late = await app.newClient();
  await app.deposit(late, 'ETH', 9n);

  const answer = await app.call('GET', `/v1/audit/balances?asOf=${encodeURIComponent(asOf.toISOString())}`, { key: app.keys.auditor });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const { assets } = app.amanat.services;
  const got = new Map<string, { entitlement: string; hot: string; cold: string }>();
  for (const row of answer.body.balances) {
    got.set(`${row.clientId}/${row.asset}`, {
      entitlement: assets.fromDecimal(row.asset, row.entitlement).toString(), hot: assets.fromDecimal(row.asset, row.holdings.hot).toString(), cold: assets.fromDecimal(row.asset, row.holdings.cold).toString(),
    });
  }
  assert.deepEqual(got, expected);
  // ... and the report published for that instant has the same totals.
  const report = (await app.call('GET', `/v1/audit/reports/${published.body.id}?format=json`, { key: app.keys.auditor })).body.content;
  for (const asset of ['BTC', 'ETH']) {
    const total = [...expected.entries()].filter(([key]) => key.endsWith(`/${asset}`)).reduce((sum, [, b]) => sum + BigInt(b.entitlement), 0n);
    const line = report.assets.find((a: { asset: string }) => a.asset === asset);
    assert.equal(line.liabilities, total.toString(), asset);
    assert.equal(line.root.sum, total.toString(), asset);
  }
  // Now (no asOf in the past) shows the later movements.
  const now = await app.call('GET', `/v1/audit/balances?asOf=${encodeURIComponent(new Date().toISOString())}&asset=ETH`, { key: app.keys.auditor });
  assert.ok(now.body.balances.some((row: { clientId: string }) => row.clientId === late));
  assert.equal((await app.call('GET', '/v1/audit/balances?asOf=yesterday', { key: app.keys.auditor })).status, 400);
  assert.equal((await app.call('GET', `/v1/audit/balances?asOf=${encodeURIComponent(asOf.toISOString())}`, { key: app.keys.exchange })).status, 403);
});

test('REC-05 PoR every client\'s proof from the API verifies offline against the signed report; a changed proof is refused; reserves >= liabilities against the holdings book', async () => {
  const published = await app.call('POST', '/v1/reports/proof-of-reserves', { key: app.keys.admin, body: {} });
  assert.equal(published.status, 201, JSON.stringify(published.body));
  const reportId = published.body.id as string;
  const dir = tempDir('proof-verify');
  const reportFile = path.join(dir, 'report.json');
  const reportJson = await app.call('GET', `/v1/audit/reports/${reportId}?format=json`, { key: app.keys.auditor });
  writeFileSync(reportFile, reportJson.bytes);
  const content = reportJson.body.content;
  for (const line of content.assets) {
    assert.equal(line.covered, true, `${line.asset}: reserves ${line.reserves} >= liabilities ${line.liabilities}`);
    assert.equal(line.reserves, line.liabilities, 'the holdings book equals the entitlement book here');
  }
  let checked = 0;
  for (const client of clients) {
    for (const asset of ['BTC', 'ETH']) {
      const answer = await app.call('GET', `/v1/clients/${client}/proof?asset=${asset}&reportId=${reportId}`, { key: app.keys.exchange });
      const balance = (await app.amanat.services.ledger.clientBalances(app.db.app, client)).find((b) => b.asset === asset)!.entitlement.total;
      if (balance === 0n) {
        assert.equal(answer.status, 404, 'no liability, no leaf');
        continue;
      }
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.rootInSignedReport, true);
      assert.equal(answer.body.proof.balance, balance.toString());
      assert.equal(answer.body.root.hash, content.assets.find((a: { asset: string }) => a.asset === asset).root.hash);
      assert.deepEqual(verifyInclusion(answer.body.proof, answer.body.root), { ok: true });
      checked += 1;
      if (checked > 2) continue; // the CLI for the first few (each run starts a process)
      const file = path.join(dir, `${client}-${asset}.json`);
      writeFileSync(file, answer.bytes);
      const ok = await runCli(['proof', 'verify', file, '--report', reportFile]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /VALID/);
      // The custodian understates: the sibling's sum lowered, and the root sum with it.
      const tampered = JSON.parse(answer.bytes.toString('utf8'));
      tampered.proof.path[0].sum = (BigInt(tampered.proof.path[0].sum) - 1n).toString();
      tampered.root.sum = (BigInt(tampered.root.sum) - 1n).toString();
      writeFileSync(file, JSON.stringify(tampered));
      const refused = await runCli(['proof', 'verify', file]);
      assert.equal(refused.code, 1, refused.stdout + refused.stderr);
      assert.match(refused.stdout, /INVALID/);
    }
  }
  assert.ok(checked >= 8, `checked ${checked} proofs`);
  // The auditor may read a client's proof too; treasury may not; an asset without a leaf is a 404.
  assert.equal((await app.call('GET', `/v1/clients/${clients[0]}/proof?asset=BTC`, { key: app.keys.auditor })).status, 200);
  assert.equal((await app.call('GET', `/v1/clients/${clients[0]}/proof?asset=BTC`, { key: app.keys.treasury })).status, 403);
  assert.equal((await app.call('GET', `/v1/clients/${clients[4]}/proof?asset=USDT&reportId=${reportId}`, { key: app.keys.exchange })).status, 404);
});

test('REC-05 PoR a tree the reconciliation built itself (its own salt seed) is stored with recordTree and served to each client with the root of the signed report', async () => {
  const { proofs, reports } = app.amanat.services;
  const leaves = clients.slice(0, 3).map((clientId, i) => ({ clientId, balance: BigInt(1_000 + i) }));
  const tree = buildLiabilityTree('BTC', leaves, randomBytes(32));
  await proofs.recordTree(app.db.app, { reportKind: 'reconciliation', reportKey: '2026-12-01', asset: 'BTC', tree });
  // Recorded twice: the same root; another tree for the same report and asset: refused.
  await proofs.recordTree(app.db.app, { reportKind: 'reconciliation', reportKey: '2026-12-01', asset: 'BTC', tree });
  await assert.rejects(proofs.recordTree(app.db.app, { reportKind: 'reconciliation', reportKey: '2026-12-01', asset: 'BTC', tree: buildLiabilityTree('BTC', leaves, randomBytes(32)) }), /REPORT_CONFLICT|another root/);
  const content = { type: 'test-reconciliation', assets: [{ asset: 'BTC', proofOfReserves: { root: tree.root.hash, sum: tree.root.sum.toString() } }] };
  const report = await reports.publish({ kind: 'reconciliation', reportKey: '2026-12-01', content, renderers: proofOfReservesRenderersFor() });
  for (const leaf of leaves) {
    const answer = await app.call('GET', `/v1/clients/${leaf.clientId}/proof?asset=BTC&reportId=${report.id}`, { key: app.keys.exchange });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.rootInSignedReport, true);
    assert.deepEqual(answer.body.verification, { ok: true });
    assert.equal(answer.body.proof.balance, leaf.balance.toString());
  }
});

function proofOfReservesRenderersFor(): Renderers {
  return { csv: () => Buffer.from('asset,root\r\n'), pdf: (_content, meta) => renderPdf('test', [{ heading: 'roots' }], meta) };
}
