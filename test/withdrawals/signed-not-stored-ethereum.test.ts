// KEY-08 / WDR-03 (R2) on Ethereum: the worker dies after the signer signed and before the signed
// transaction was stored, for the gas station's top-up and for the token transfer itself. Fees
// move between attempts (blocks are mined), so a rebuilt transaction differs; the retry must get
// the first one back from the signer's replay log (never a REPLAY_CONFLICT for ever), the nonce
// manager must record that transaction's nonce, and the withdrawal completes with exactly one
// payment and one top-up. Real Hardhat chain, real SoftHSM signer, real Postgres.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Contract } from 'ethers';
import { inTransaction } from '../../src/platform/tx.ts';
import { CONFIRMATIONS } from '../helpers/custody.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';
import { DyingSignerClient } from '../helpers/dying-signer.ts';

let f: WithdrawalFixture;
before(async () => { f = await startWithdrawals('ethereum'); });
after(async () => { await f.close(); });

test('KEY-08 R2 ETH: the worker dies after the gas top-up and after the transfer were signed; the retries get the same transactions and the withdrawal pays once', async () => {
  const station = await inTransaction(f.db.app, (q) => f.wallets.ensureHouseWallet(q, 'gas_station', 'ethereum'));
  await f.eth!.faucetEth(station.address.address, 10n ** 18n);
  await f.eth!.mine(CONFIRMATIONS);
  await f.tick();
  const client = await f.fundedClient('USDT', 100_000_000n, 'hot');
  const destination = f.externalAddress();
  await f.bookAddress(client, destination);
  const stationNonceBefore = await f.eth!.provider.getTransactionCount(station.address.address, 'latest');
  const w = await f.request({ clientId: client, asset: 'USDT', amount: '25', destination });
  const signing = await f.stepUntil(w.id, 'signing', 20);
  assert.equal(signing.state, 'signing', show(signing));

  // Each request dies once right after the signer answered it.
  const died = new Set<string>();
  const dying = new DyingSignerClient(f.signer.socketPath, (requestId) => {
    if (died.has(requestId)) return false;
    died.add(requestId);
    return true;
  });
  const worker = f.pipelineWithSigner(dying);
  for (let round = 0; round < 60; round++) {
    await worker.drain(10);
    const now = await f.module.service.get(f.db.app, w.id);
    if (['completed', 'failed', 'rejected'].includes(now.state)) break;
    await f.eth!.mine(1); // the base fee moves: a rebuilt transaction would not be the same bytes
    await f.db.app.query('update withdrawals set next_run_at = now() where id = $1', [w.id]);
  }
  const done = await f.module.service.get(f.db.app, w.id);
  assert.equal(done.state, 'completed', show({ state: done.state, code: done.failure_code, detail: done.failure_detail }));
  assert.deepEqual([...died].sort(), [`${w.id}`, `${w.id}:gas`].sort(), 'the worker died once after each signature');

  const usdt = new Contract(f.eth!.usdt!.address, ['function balanceOf(address) view returns (uint256)'], f.eth!.provider);
  assert.equal(await usdt.getFunction('balanceOf')(destination), 25_000_000n, 'paid exactly once');
  assert.equal(await f.eth!.provider.getTransactionCount(station.address.address, 'latest'), stationNonceBefore + 1, 'one top-up from the station');
  const source = (done.build as { from: string; nonce: number }).from;
  assert.equal(await f.eth!.provider.getTransactionCount(source, 'latest'), 1, 'one transaction from the client address');
  const { rows } = await f.db.app.query<{ address: string; next_nonce: number }>('select address, next_nonce from eth_nonces where address = any($1)', [[source, station.address.address]]);
  assert.deepEqual(Object.fromEntries(rows.map((r) => [r.address, r.next_nonce])),
    { [source]: 1, [station.address.address]: stationNonceBefore + 1 }, 'the nonce manager recorded the nonces of the transactions the signer signed');
});
