// HOT-02 / HOT-04 as the service runs it: the composition root's background loops (the rebalancer
// every REBALANCE_INTERVAL_MS, the withdrawal worker, the deposit scanner) on a real bcoin regtest
// node and the real signer. Coins that arrive in a client's hot wallet are swept, within the
// window, into that client's cold wallet, and the ratio comes back to target with nobody asking.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAmanat, type Amanat } from '../../src/app.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import type { ChainRuntime } from '../../src/deposits/chain-runtime.ts';
import { EthereumRpcClient } from '../../src/chains/ethereum/rpc-client.ts';
import { tempDir } from '../../signer/test/helpers.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

let f: WithdrawalFixture;
let amanat: Amanat;

before(async () => {
  f = await startWithdrawals('bitcoin');
  const config = loadConfig({
    AMANAT_ENV: 'test', LOG_LEVEL: 'silent', AMANAT_DATA_DIR: tempDir('scheduled-rebalancing'), BITCOIN_NETWORK: 'bcoin-regtest', BITCOIN_CONFIRMATIONS: '3',
    TREASURY_APPROVERS_FILE: path.join(f.signer.dir, 'signer-policy.json'), PII_KEYRING_FILE: f.keyringFile,
    REBALANCE_INTERVAL_MS: '1000', WITHDRAWAL_WORKER_INTERVAL_MS: '100', SCAN_INTERVAL_MS: '200',
  });
  // No Ethereum node in this test: a client for an address nothing listens on (nothing here calls it).
  const ethereum = new EthereumRpcClient({ url: 'http://127.0.0.1:9', chainId: 31337n });
  const chains = { bitcoin: { rpc: f.btc!.rpc, network: 'bcoin-regtest', dev: f.btc }, ethereum: { rpc: ethereum, chainId: 31337n, dev: undefined },
    scanners: [f.scanner], stop: async () => undefined } as unknown as ChainRuntime;
  amanat = await createAmanat({ pool: f.db.app, config, log: createLogger(process.env.AMANAT_TEST_LOG ?? 'silent'), wallets: f.wallets, signer: f.signerClient, chains });
});
after(async () => {
  await amanat?.stopBackground();
  await f.close();
});

test('HOT-02 HOT-04 the scheduled rebalancer sweeps a hot deposit into the same client\'s cold wallet within its window; the ratio returns to target', async () => {
  const client = await f.fundedClient('BTC', 900_000n, 'hot');
  assert.deepEqual([(await f.entitlement(client, 'BTC')).hot, (await f.entitlement(client, 'BTC')).cold], [900_000n, 0n]);
  amanat.startBackground();
  let balance = await f.entitlement(client, 'BTC');
  // The loops run on their own; the test only mines blocks (the dev chain has no block timer here).
  for (let round = 0; round < 300 && !(balance.cold > 0n && balance.held === 0n); round++) {
    await sleep(100);
    await f.btc!.mine(1);
    balance = await f.entitlement(client, 'BTC');
  }
  const { rows: sweeps } = await f.db.app.query(`select * from withdrawals where client_id = $1 and kind = 'sweep'`, [client]);
  assert.equal(sweeps.length, 1, show(sweeps));
  assert.equal(sweeps[0].state, 'completed', show(sweeps[0]));
  assert.equal(balance.cold, sweeps[0].amount);
  assert.equal(balance.total, 900_000n - sweeps[0].network_fee);
  assert.ok(balance.hot * 10_000n <= 1500n * balance.total, `back to target: ${balance.hot}/${balance.total}`);
  const { rows: owners } = await f.db.app.query(
    `select distinct w.client_id, w.tier from utxos u join wallets w on w.id = u.wallet_id where u.txid = $1`, [sweeps[0].txid]);
  assert.ok(owners.every((o) => o.client_id === client), 'every output of the sweep is the client\'s own coin');
  assert.ok(owners.some((o) => o.tier === 'cold'));
  const { rows: snapshots } = await f.db.app.query(`select count(*)::int as n from hot_ratio_snapshots`);
  assert.ok(snapshots[0].n > 0, 'each scheduled run keeps its snapshot');
});
