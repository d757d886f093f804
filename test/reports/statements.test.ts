// CLI-04: statements of account on request: a signed report (JSON, CSV, PDF) with the client's
// name, address and account number from the KYC record (or "not on file"), the preparation date, per
// asset the quantity as the ledger had it at the request, with price and value where a price is
// available, else "price n/a". The real app, Postgres, the signer's report key, pdftotext.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ReportService, StatementService } from '../../src/reports/index.ts';
import { SignerClient } from '../../src/signer-client/signer-client.ts';
import { startReportApp, tempDir, type ReportApp } from './report-app.ts';

let app: ReportApp;

before(async () => {
  // Prices for BTC only: ETH and USDT have none.
  const prices = path.join(tempDir('statement-prices'), 'prices.json');
  writeFileSync(prices, JSON.stringify({ version: 'test-1', source: 'test prices', asOf: new Date().toISOString(), prices: { BTC: '60000.00' } }));
  app = await startReportApp({ PRICES_FILE: prices });
});

after(async () => {
  await app?.close();
});

function pdfText(bytes: Buffer): string {
  const file = path.join(tempDir('statement-pdf'), 'statement.pdf');
  writeFileSync(file, bytes);
  return execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
}

test('CLI-04 a statement carries every field: name, address, account number from KYC, preparation date, quantities as of the request, price and value or "price n/a"', async () => {
  const client = await app.newClient();
  const kyc = await app.call('POST', `/v1/clients/${client}/kyc`, {
    body: { name: { primary: 'Aigerim', secondary: 'Nurlanovna' }, verified: true, geographicAddress: { street: '55 Mangilik El', town: 'Astana', country: 'KZ', postcode: '010000' } },
  });
  assert.equal(kyc.status, 200, JSON.stringify(kyc.body));
  await app.deposit(client, 'BTC', 150_000_000n);          // 1.5 BTC
  await app.deposit(client, 'ETH', 2_000_000_000_000_000_000n, 'cold'); // 2 ETH
  await app.withdraw(client, 'BTC', 25_000_000n);          // 1.25 BTC left
  const { clients, ledger } = app.amanat.services;
  const account = (await clients.get(app.db.app, client)).externalRef;

  const before = Date.now();
  const response = await app.call('POST', `/v1/clients/${client}/statements`, { idem: 'statement-1' });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  const reportId = response.body.id as string;
  assert.equal(response.body.kind, 'statement');
  // Later movements do not change the statement, and the same request returns the same one.
  await app.deposit(client, 'BTC', 1n);
  const replay = await app.call('POST', `/v1/clients/${client}/statements`, { idem: 'statement-1' });
  assert.equal(replay.body.id, reportId);

  const json = await app.call('GET', `/v1/audit/reports/${reportId}?format=json`, { key: app.keys.auditor });
  const content = json.body.content;
  assert.equal(content.client.clientId, client);
  assert.equal(content.client.name, 'Aigerim Nurlanovna');
  assert.equal(content.client.address, '55 Mangilik El, 010000 Astana, KZ');
  assert.equal(content.client.accountNumber, account);
  const preparedAt = Date.parse(content.preparedAt);
  assert.ok(preparedAt >= before - 1000 && preparedAt <= Date.now(), content.preparedAt);
  // Quantities equal the ledger as of the statement's instant.
  const asOf = new Date(content.asOf);
  const atRequest = await ledger.clientBalances(app.db.app, client, asOf);
  for (const line of content.lines) {
    const balance = atRequest.find((b) => b.asset === line.asset)!;
    assert.equal(line.quantityBaseUnits, balance.entitlement.total.toString(), line.asset);
  }
  const btc = content.lines.find((l: { asset: string }) => l.asset === 'BTC');
  const eth = content.lines.find((l: { asset: string }) => l.asset === 'ETH');
  assert.deepEqual([btc.quantity, btc.quantityBaseUnits, btc.priceUsd, btc.valueUsd], ['1.25', '125000000', '60000.00', '75000.00']);
  assert.equal(eth.quantity, '2');
  assert.equal(eth.priceUsd, 'price n/a');
  assert.equal(eth.valueUsd, 'price n/a');
  assert.equal(content.totalValueUsd, '75000.00');

  // The PDF (as text) and the CSV carry the same fields.
  const pdf = await app.call('GET', `/v1/audit/reports/${reportId}?format=pdf`, { key: app.keys.auditor });
  const text = pdfText(pdf.bytes);
  for (const expected of ['Aigerim Nurlanovna', '55 Mangilik El, 010000 Astana, KZ', account, content.preparedAt, '1.25', '60000.00', '75000.00', 'price n/a']) {
    assert.ok(text.includes(expected), `the PDF shows ${expected}:\n${text}`);
  }
  const csv = (await app.call('GET', `/v1/audit/reports/${reportId}?format=csv`, { key: app.keys.auditor })).bytes.toString('utf8');
  assert.match(csv, /^statementId,clientId,accountNumber,name,address,preparedAt,asOf,asset,quantity/);
  assert.ok(csv.includes(`BTC,1.25,125000000,60000.00,75000.00`), csv);
  assert.ok(csv.includes(`ETH,2,2000000000000000000,price n/a,price n/a,price n/a`), csv);
  // The statement is signed like every report.
  assert.equal(json.body.signature.publicKey, (await app.call('GET', '/v1/audit/report-key', { key: app.keys.auditor })).body.publicKey);
});

test('CLI-04 without a KYC record the statement says "not on file"; a new request is a new statement as of its own time', async () => {
  const client = await app.newClient();
  await app.deposit(client, 'USDT', 5_000_000n);
  const first = await app.call('POST', `/v1/clients/${client}/statements`, { key: app.keys.admin });
  assert.equal(first.status, 201, JSON.stringify(first.body));
  const content = (await app.call('GET', `/v1/audit/reports/${first.body.id}?format=json`, { key: app.keys.auditor })).body.content;
  assert.equal(content.client.name, 'not on file');
  assert.equal(content.client.address, 'not on file');
  const usdt = content.lines.find((l: { asset: string }) => l.asset === 'USDT');
  assert.deepEqual([usdt.quantity, usdt.priceUsd, usdt.valueUsd], ['5', 'price n/a', 'price n/a']);
  await app.deposit(client, 'USDT', 1_000_000n);
  const second = await app.call('POST', `/v1/clients/${client}/statements`, { key: app.keys.admin });
  assert.notEqual(second.body.id, first.body.id);
  const later = (await app.call('GET', `/v1/audit/reports/${second.body.id}?format=json`, { key: app.keys.auditor })).body.content;
  assert.equal(later.lines.find((l: { asset: string }) => l.asset === 'USDT').quantity, '6');
  // An unknown client: 404, nothing published.
  assert.equal((await app.call('POST', '/v1/clients/00000000-0000-4000-8000-000000000000/statements')).status, 404);
});

test('CLI-04 a statement request interrupted after its claim (the signer away) returns the first statement when retried, not a conflicting second one', async () => {
  const client = await app.newClient();
  await app.deposit(client, 'BTC', 42n);
  const { ledger, clients, assets, statements } = app.amanat.services;
  const signer = new SignerClient(app.signer.socketPath);
  const failing = new ReportService(app.db.app, { reportKey: () => signer.reportKey(), signReport: () => Promise.reject(new Error('signer went away')) });
  const interrupted = new StatementService({ reports: failing, ledger, clients, assets });
  await assert.rejects(interrupted.produce(app.db.app, { clientId: client, requestId: 'api:key:retry-1' }), /signer went away/);
  await app.deposit(client, 'BTC', 8n); // moves on before the retry
  const retried = await statements.produce(app.db.app, { clientId: client, requestId: 'api:key:retry-1' });
  const content = await app.amanat.services.reports.content(retried.id) as { lines: { asset: string; quantityBaseUnits: string }[] };
  assert.equal(content.lines.find((l) => l.asset === 'BTC')!.quantityBaseUnits, '42', 'the first attempt\'s statement, as of its own time');
});
