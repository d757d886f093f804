// USD values for thresholds: exact integer math, rounded up, never through a float.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import {
  formatUsdCents, loadStaticPrices, parseUsdPrice, usdCents, usdCentsAt, usdToCents, type PriceSource,
} from '../../src/pricing/index.ts';
import { isDomainError } from '../../src/platform/errors.ts';

const pricesPath = path.resolve(import.meta.dirname, '../../policies/prices.json');

test('TR-02 the static development prices load with version, source and hash', () => {
  const prices = loadStaticPrices(pricesPath);
  assert.equal(prices.source, 'static development prices');
  assert.match(prices.contentHash, /^[0-9a-f]{64}$/);
  assert.deepEqual(prices.usdPerUnit('BTC'), { numerator: 6_500_000n, denominator: 100n });
  assert.equal(prices.usdPerUnit('DOGE'), undefined);
});

test('TR-02 1 BTC at 65,000.00 is 6,500,000 cents; 1 satoshi rounds up to 1 cent', () => {
  const prices = loadStaticPrices(pricesPath);
  assert.equal(prices.usdCents('BTC', 100_000_000n, 8), 6_500_000n);
  assert.equal(prices.usdCents('BTC', 1n, 8), 1n);
  assert.equal(prices.usdCents('BTC', 0n, 8), 0n);
  assert.equal(prices.usdCents('ETH', 10n ** 18n, 18), 320_000n);
  assert.equal(prices.usdCents('USDT', 999_990_000n, 6), 99_999n);
});

test('TR-02 USD 999.999 counts as 1,000.00 (rounding up is conservative for the threshold)', () => {
  const prices = loadStaticPrices(pricesPath);
  // 999.999 USDT at 1.00 = 999.999 USD.
  assert.equal(prices.usdCents('USDT', 999_999_000n, 6), 100_000n);
  assert.equal(prices.usdCents('USDT', 999_990_001n, 6), 100_000n);
  assert.equal(prices.usdCents('USDT', 999_990_000n, 6), 99_999n);
});

test('usdCentsAt is the exact ceiling of amount × price (property against rational arithmetic)', () => {
  fc.assert(fc.property(
    fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.bigInt({ min: 1n, max: 10n ** 12n }), fc.integer({ min: 0, max: 18 }), fc.integer({ min: 0, max: 18 }),
    (amount, priceNumerator, priceDecimals, decimals) => {
      const price = { numerator: priceNumerator, denominator: 10n ** BigInt(priceDecimals) };
      const cents = usdCentsAt(price, amount, decimals);
      const exactTimesDenominator = amount * priceNumerator * 100n; // = cents_exact × (denominator × 10^decimals)
      const scale = price.denominator * 10n ** BigInt(decimals);
      assert.ok(cents * scale >= exactTimesDenominator, 'never below the exact value');
      assert.ok((cents - 1n) * scale < exactTimesDenominator || cents === 0n, 'less than one cent above');
    },
  ), { numRuns: 300 });
});

test('a source without a price for the asset is an error, never zero', () => {
  const source: PriceSource = { version: 'v', source: 'test', usdPerUnit: () => undefined };
  assert.throws(() => usdCents(source, 'BTC', 1n, 8), (e: unknown) => isDomainError(e) && /no USD price for BTC/.test(e.message));
});

test('prices parse as exact rationals; zero and floats are refused', () => {
  assert.deepEqual(parseUsdPrice('3200.5'), { numerator: 32005n, denominator: 10n });
  assert.throws(() => parseUsdPrice('0.00'));
  assert.throws(() => parseUsdPrice('1e3'));
  const dir = mkdtempSync(path.join(process.env.AMANAT_TEST_TMP ?? tmpdir(), 'amanat-prices-'));
  const zero = path.join(dir, 'zero.json');
  writeFileSync(zero, JSON.stringify({ version: 'v', source: 's', prices: { BTC: '0' } }));
  assert.throws(() => loadStaticPrices(zero), (e: unknown) => isDomainError(e) && e.message.includes(zero) && /zero/.test(e.message));
  const number = path.join(dir, 'number.json');
  writeFileSync(number, JSON.stringify({ version: 'v', source: 's', prices: { BTC: 65000 } }));
  assert.throws(() => loadStaticPrices(number), (e: unknown) => isDomainError(e) && e.code === 'CONFIG_INVALID' && e.message.includes(number));
});

test('USD strings convert to cents and back with two decimals', () => {
  assert.equal(usdToCents('1000'), 100_000n);
  assert.equal(usdToCents('999.99'), 99_999n);
  assert.equal(usdToCents('0.5'), 50n);
  assert.throws(() => usdToCents('1.001'));
  assert.throws(() => usdToCents('-1'));
  assert.equal(formatUsdCents(100_000n), '1000.00');
  assert.equal(formatUsdCents(5n), '0.05');
});
