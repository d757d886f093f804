// HOT-05 / WDR-06: the source tier is chosen net of what is already in flight from the same hot
// wallet. Two ETH withdrawals that each fit the hot wallet but not together: the first goes hot,
// the second cold (treasury approvals), and no transaction sits on a nonce it cannot pay for.
// Real Hardhat chain, real SoftHSM signer, real Postgres.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { inTransaction } from '../../src/platform/tx.ts';
import { CONFIRMATIONS } from '../helpers/custody.ts';
import { show, startWithdrawals, type WithdrawalFixture } from '../helpers/withdrawals.ts';

let f: WithdrawalFixture;
before(async () => { f = await startWithdrawals('ethereum'); });
after(async () => { await f.close(); });

test('WDR-06 two hot ETH withdrawals that do not both fit the hot wallet: the second is sourced from cold, the first completes', async () => {
  const client = await f.fundedClient('ETH', 10n ** 17n, 'hot');
  const cold = await inTransaction(f.db.app, (q) => f.wallets.depositAddress(q, client, 'ethereum', 'cold'));
  await f.eth!.faucetEth(cold.address, 10n ** 17n);
  await f.eth!.mine(CONFIRMATIONS);
  await f.tick();
  assert.deepEqual([(await f.entitlement(client, 'ETH')).hot, (await f.entitlement(client, 'ETH')).cold], [10n ** 17n, 10n ** 17n]);
  const destinations = [f.externalAddress(), f.externalAddress()];
  for (const d of destinations) await f.bookAddress(client, d);
  const first = await f.request({ clientId: client, asset: 'ETH', amount: '0.06', destination: destinations[0]! });
  const second = await f.request({ clientId: client, asset: 'ETH', amount: '0.06', destination: destinations[1]! });
  await f.stepUntil(first.id, 'travel_rule', 10);
  await f.stepUntil(second.id, 'travel_rule', 10);
  const [a, b] = [await f.module.service.get(f.db.app, first.id), await f.module.service.get(f.db.app, second.id)];
  assert.deepEqual([a.source_tier, b.source_tier], ['hot', 'cold'], show({ a: [a.state, a.source_tier], b: [b.state, b.source_tier] }));
  assert.ok(b.approvals_required >= 2, 'the cold one waits for treasury');
  const done = await f.settle(first.id);
  assert.equal(done.state, 'completed', show({ code: done.failure_code, detail: done.failure_detail }));
  assert.equal(await f.eth!.provider.getBalance(destinations[0]!), 6n * 10n ** 16n);
});
