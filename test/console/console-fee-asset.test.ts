// The fee asset rule is written once (SEG-04, WDR-06; issue 11 §2): networkFeeAsset(chain) in
// src/chains/capabilities.ts. The console does not repeat it: it shows the fee cap in the asset the
// API names for the withdrawal (withdrawal.networkFeeAsset), and in base units when none is named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ASSET_CAPABILITIES, NETWORK_FEE_ASSET, networkFeeAsset } from '../../src/chains/capabilities.ts';
import { CONSOLE_STATIC_DIR } from '../../src/console/console-routes.ts';
import * as consoleCore from '../../src/console/static/console-core.js';

test('SEG-04 one fee asset rule: BTC pays for Bitcoin, ETH for Ethereum (ERC-20 gas included); an unknown chain is an error, never a silent ETH; every asset capability agrees', () => {
  assert.equal(networkFeeAsset('bitcoin'), 'BTC');
  assert.equal(networkFeeAsset('ethereum'), 'ETH');
  for (const chain of ['solana', 'Bitcoin', '', '__proto__', 'constructor', 'toString']) {
    assert.throws(() => networkFeeAsset(chain), TypeError, chain);
  }
  assert.deepEqual(Object.keys(NETWORK_FEE_ASSET).sort(), ['bitcoin', 'ethereum']);
  for (const capabilities of Object.values(ASSET_CAPABILITIES)) {
    assert.equal(capabilities.feeAsset, networkFeeAsset(capabilities.chain), capabilities.asset);
  }
  assert.equal(ASSET_CAPABILITIES.USDT.feeAsset, 'ETH', 'ERC-20 gas is paid in ETH');
});

test('WDR-06 SEG-04 the console shows the fee cap in the fee asset the API names for the withdrawal, and in base units when it names none (it never guesses from the chain)', () => {
  const assets = new Map([['BTC', { code: 'BTC', decimals: 8 }], ['ETH', { code: 'ETH', decimals: 18 }], ['USDT', { code: 'USDT', decimals: 6 }]]);
  const item = (withdrawal: Record<string, unknown>, feeCap: unknown) => ({ withdrawal, intent: { feeCap } }) as unknown as consoleCore.PendingItem;
  const usdt = { asset: 'USDT', chain: 'ethereum' };
  assert.equal(consoleCore.feeCapText(item({ ...usdt, networkFeeAsset: 'ETH' }, '2100000000000000'), assets), '0.0021 ETH (2100000000000000 base units)');
  assert.equal(consoleCore.feeCapText(item({ asset: 'BTC', chain: 'bitcoin', networkFeeAsset: 'BTC' }, '200000'), assets), '0.002 BTC (200000 base units)');
  assert.equal(consoleCore.feeCapText(item(usdt, '2100000000000000'), assets), '2100000000000000 base units', 'no fee asset named: base units, not a guess');
  assert.equal(consoleCore.feeCapText(item({ ...usdt, networkFeeAsset: 'ETH' }, '2100000000000000'), undefined), '2100000000000000 base units', 'no registry yet');
  assert.equal(consoleCore.feeCapText(item({ ...usdt, networkFeeAsset: 'XYZ' }, '5'), assets), '5 base units', 'an asset without decimals');
  for (const bad of [undefined, '', '1.5', '-1', 7]) assert.equal(consoleCore.feeCapText(item({ ...usdt, networkFeeAsset: 'ETH' }, bad), assets), '–', String(bad));
  // No copy of the rule in the console's files.
  for (const file of readdirSync(CONSOLE_STATIC_DIR).filter((name) => name.endsWith('.js'))) {
    const source = readFileSync(path.join(CONSOLE_STATIC_DIR, file), 'utf8');
    assert.ok(!/['"](?:bitcoin|ethereum)['"]\s*\?\s*['"](?:BTC|ETH)['"]|\?\s*['"]BTC['"]\s*:\s*['"]ETH['"]/.test(source), `${file} does not derive the fee asset from the chain`);
  }
});
