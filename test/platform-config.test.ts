import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, redactedConfig } from '../src/platform/config.ts';
import { baseUnitsToDecimal, decimalToBaseUnits, parseBaseUnits } from '../src/platform/money.ts';
import { DomainError } from '../src/platform/errors.ts';

test('config: defaults are complete and frozen', () => {
  const c = loadConfig({});
  assert.equal(c.http.port, 8080);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.http));
  assert.throws(() => { (c.http as { port: number }).port = 1; });
});

test('config: a bad value names its key', () => {
  assert.throws(() => loadConfig({ HTTP_PORT: 'eighty' }), (e: DomainError) => e.code === 'CONFIG_INVALID' && e.message.includes('http.port'));
  assert.throws(() => loadConfig({ DATABASE_URL: 'not a url' }), (e: DomainError) => e.message.includes('database.url'));
  assert.throws(() => loadConfig({ DATABASE_URL_FILE: '/nonexistent/secret' }), (e: DomainError) => e.message.includes('DATABASE_URL_FILE'));
});

test('config: secrets are redacted for logging', () => {
  const c = loadConfig({ DATABASE_URL: 'postgres://u:hunter2@db:5432/amanat' });
  assert.ok(!JSON.stringify(redactedConfig(c)).includes('hunter2'));
});

test('money: the asset codec converts decimal strings and base units exactly, never through floats', () => {
  assert.equal(decimalToBaseUnits('1.5', 8), 150_000_000n);
  assert.equal(decimalToBaseUnits('0.000000000000000001', 18), 1n);
  assert.equal(decimalToBaseUnits('123456789012345678901234567890.123456', 6), 123456789012345678901234567890123456n);
  assert.equal(baseUnitsToDecimal(150_000_000n, 8), '1.5');
  assert.equal(baseUnitsToDecimal(1n, 18), '0.000000000000000001');
  assert.equal(baseUnitsToDecimal(0n, 6), '0');
  assert.equal(baseUnitsToDecimal(-5n, 2), '-0.05');
  for (const bad of ['1.123456789', '-1', '1e5', '01', '.5', '1.', ' 1', 'NaN', '0x10']) {
    assert.throws(() => decimalToBaseUnits(bad, 8), (e: DomainError) => e.code === 'AMOUNT_INVALID', bad);
  }
  assert.equal(parseBaseUnits('42'), 42n);
  assert.throws(() => parseBaseUnits('4.2'));
});
