// A USD price older than PRICE_MAX_AGE_SECONDS is never used: the price source throws PRICE_STALE
// (503: the quote waits for a fresh price), and a quote that needs the USD value stores nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, renameSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadStaticPrices, usdCents } from '../../src/pricing/index.ts';
import { DomainError } from '../../src/platform/errors.ts';
import { problem } from '../../src/api/http-errors.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { createWithdrawalModule } from '../../src/withdrawals/withdrawal-module.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

const dir = mkdtempSync(path.join(process.env.AMANAT_TEST_TMP ?? tmpdir(), 'prices-'));
let seq = 0;

/** Writes a prices file the way a feed would: a new file renamed over the old one. */
function writePrices(file: string, asOf: Date | undefined, version: string, btc = '65000.00'): void {
  const next = `${file}.${++seq}.tmp`;
  writeFileSync(next, JSON.stringify({ version, source: 'test feed', ...(asOf ? { asOf: asOf.toISOString() } : {}), prices: { BTC: btc, ETH: '3200.00', USDT: '1.00' } }));
  renameSync(next, file);
}

const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);
const stale = (error: unknown) => error instanceof DomainError && error.code === 'PRICE_STALE';

test('TR-02 a price set older than the configured max age is refused with PRICE_STALE, never used', () => {
  const file = path.join(dir, 'old.json');
  writePrices(file, hoursAgo(2), 'feed-old');
  const source = loadStaticPrices(file, { maxAgeSeconds: 3600 });
  assert.throws(() => source.usdCents('BTC', 100_000_000n, 8), (error: unknown) => {
    assert.ok(stale(error), String(error));
    const e = error as DomainError;
    assert.equal(e.data.priceVersion, 'feed-old');
    assert.equal(e.data.maxAgeSeconds, 3600);
    assert.ok((e.data.ageSeconds as number) >= 7200, JSON.stringify(e.data));
    assert.match(e.message, /PRICE_MAX_AGE_SECONDS/);
    return true;
  });
  assert.throws(() => usdCents(source, 'ETH', 10n ** 18n, 18), stale);
  assert.throws(() => source.usdPerUnit('USDT'), stale);
  // A set without asOf has no known age: with a max age it is stale too (fail closed).
  const undated = path.join(dir, 'undated.json');
  writePrices(undated, undefined, 'feed-undated');
  assert.throws(() => loadStaticPrices(undated, { maxAgeSeconds: 3600 }).usdCents('BTC', 1n, 8), stale);
  // Within the max age, and in development (no max age), the price is used.
  writePrices(file, hoursAgo(0.5), 'feed-recent');
  assert.equal(loadStaticPrices(file, { maxAgeSeconds: 3600 }).usdCents('BTC', 100_000_000n, 8), 6_500_000n);
  writePrices(file, hoursAgo(24 * 365), 'feed-ancient');
  assert.equal(loadStaticPrices(file).usdCents('BTC', 100_000_000n, 8), 6_500_000n);
});

test('TR-02 the prices file is read again when a feed replaces it: a fresh set ends PRICE_STALE, a broken one keeps the last good set', () => {
  const file = path.join(dir, 'feed.json');
  writePrices(file, hoursAgo(3), 'feed-1');
  const source = loadStaticPrices(file, { maxAgeSeconds: 600 });
  assert.throws(() => source.usdCents('BTC', 100_000_000n, 8), stale);
  writePrices(file, new Date(), 'feed-2', '70000.00');
  assert.equal(source.usdCents('BTC', 100_000_000n, 8), 7_000_000n);
  assert.equal(source.version, 'feed-2');
  const broken = `${file}.broken`;
  writeFileSync(broken, '{"version": "feed-3", "prices": ');
  renameSync(broken, file);
  assert.equal(source.usdCents('BTC', 100_000_000n, 8), 7_000_000n, 'the last good set stays until it is itself too old');
  assert.equal(source.version, 'feed-2');
});

let app: TestApp | undefined;
after(async () => { await app?.close(); });

test('TR-02 a withdrawal quote that needs a USD value from a stale price is a 503 PRICE_STALE and stores no quote', async () => {
  app = await startTestApp();
  const client = await app.call('POST', '/v1/clients', { body: { externalRef: `stale-${randomBytes(4).toString('hex')}`, classification: 'retail', kzResident: true } });
  assert.equal(client.status, 201, JSON.stringify(client.body));
  const file = path.join(dir, 'quote-prices.json');
  writePrices(file, hoursAgo(2), 'feed-stale');
  const keyringFile = path.join(dir, 'pii-keyring.json');
  writeFileSync(keyringFile, JSON.stringify({ k1: randomBytes(32).toString('hex') }));
  const { assets, ledger, clients } = app.amanat.services;
  // The withdrawal context as the service builds it, with PRICES_FILE and PRICE_MAX_AGE_SECONDS=3600.
  const { service } = createWithdrawalModule({
    config: loadConfig({ AMANAT_ENV: 'test', PRICES_FILE: file, PRICE_MAX_AGE_SECONDS: '3600', PII_KEYRING_FILE: keyringFile, BITCOIN_NETWORK: 'bcoin-regtest' }),
    pool: app.db.app, assets, ledger, clients, log: createLogger('silent'),
  });
  const input = { clientId: client.body.id as string, asset: 'ETH', amount: '0.5', destination: '0x00000000000000000000000000000000000dead1', actor: 'test' };
  let refused: DomainError | undefined;
  await assert.rejects(inTransaction(app.db.app, (q) => service.quote(q, input)), (error: unknown) => {
    assert.ok(stale(error), String(error));
    refused = error as DomainError;
    return true;
  });
  const answer = problem(refused!.code, refused!.message);
  assert.equal(answer.status, 503, 'the exchange is told to wait for a fresh price, not that its request is wrong or that the service broke');
  assert.equal(answer.code, 'PRICE_STALE');
  const { rows } = await app.db.owner.query<{ n: number }>('select count(*)::int as n from withdrawal_quotes where client_id = $1', [input.clientId]);
  assert.equal(rows[0]!.n, 0);
  // With a fresh price the same quote goes through.
  writePrices(file, new Date(), 'feed-fresh');
  const quote = await inTransaction(app.db.app, (q) => service.quote(q, input));
  assert.equal(quote.usdValue, '1600.00');
  assert.equal(quote.priceSource, 'feed-fresh');
});
