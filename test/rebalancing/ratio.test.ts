// The ratio engine, its maker-checker configuration and the planner on a real Postgres (the
// holdings book written through the ledger's own functions). No chain and no signer: the moves
// the planner proposes are checked, not run (bitcoin-rebalancing.test.ts runs them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { DomainError } from '../../src/platform/errors.ts';
import { createIncidentService } from '../../src/incidents/index.ts';
import { createWithdrawalModule } from '../../src/withdrawals/withdrawal-module.ts';
import { WalletService } from '../../src/wallets/wallet-service.ts';
import { createRebalancing, exceedsBp, shareBp, assertSameClient, tierReport, type RebalancingModule } from '../../src/rebalancing/index.ts';
import { ledgerFixture, type LedgerFixture } from '../helpers/services.ts';

let f: LedgerFixture;
let r: RebalancingModule;
const config = loadConfig({ AMANAT_ENV: 'test' });
const incidents = createIncidentService(config);
const BTC = 100_000_000n;
const ETH = 10n ** 18n;
let seq = 0;

before(async () => {
  f = await ledgerFixture();
  const log = createLogger('silent');
  const withdrawals = createWithdrawalModule({ config, pool: f.db.app, assets: f.assets, ledger: f.ledger, clients: f.clients, log });
  r = createRebalancing({ config, pool: f.db.app, assets: f.assets, withdrawals: withdrawals.service, incidents, log });
});
after(async () => { await f.db.drop(); });

/** A deposit as the scanner books it: entitlement and the wallet holdings of `tier`. */
async function deposit(clientId: string, asset: string, tier: 'hot' | 'cold', amount: bigint): Promise<void> {
  const { ledger, db } = f;
  await ledger.postEntry(db.app, { idempotencyId: `dep-${++seq}-${process.hrtime.bigint()}`, type: 'deposit', actor: 'test', postings: [
    { accountId: await ledger.systemAccountId(db.app, asset, 'external_world'), amount: -amount },
    { accountId: await ledger.clientAccountId(db.app, clientId, asset), amount },
    { accountId: await ledger.systemAccountId(db.app, asset, 'external_chain'), amount: -amount },
    { accountId: await ledger.clientAccountId(db.app, clientId, asset, tier === 'hot' ? 'client_wallet_hot' : 'client_wallet_cold'), amount },
  ] });
}

/** A completed withdrawal from `tier`, as the pipeline books it. */
async function withdraw(clientId: string, asset: string, tier: 'hot' | 'cold', amount: bigint): Promise<void> {
  const { ledger, db } = f;
  await ledger.postEntry(db.app, { idempotencyId: `wd-${++seq}-${process.hrtime.bigint()}`, type: 'withdrawal', actor: 'test', postings: [
    { accountId: await ledger.clientAccountId(db.app, clientId, asset), amount: -amount },
    { accountId: await ledger.systemAccountId(db.app, asset, 'external_world'), amount },
    { accountId: await ledger.clientAccountId(db.app, clientId, asset, tier === 'hot' ? 'client_wallet_hot' : 'client_wallet_cold'), amount: -amount },
    { accountId: await ledger.systemAccountId(db.app, asset, 'external_chain'), amount },
  ] });
}

/** The client's Bitcoin and Ethereum wallets, hot and cold (rows only: the planner needs no keys). */
async function walletsFor(clientIds: string[]): Promise<void> {
  await f.db.owner.query(
    `insert into wallets (owner, client_id, chain, tier, state) select 'client', c, ch, t, 'active'
     from unnest($1::uuid[]) c, unnest(array['bitcoin', 'ethereum']) ch, unnest(array['hot', 'cold']) t`, [clientIds]);
}

test('HOT-01 30.00 % is within the cap, 30.01 % is a breach: exact integers, no float, at any scale', () => {
  assert.equal(exceedsBp(3000n, 10_000n, 3000), false, '30.00 %');
  assert.equal(exceedsBp(3001n, 10_000n, 3000), true, '30.01 %');
  assert.equal(exceedsBp(30n * BTC, 100n * BTC, 3000), false, '30.00 BTC of 100 BTC');
  assert.equal(exceedsBp(30n * BTC + BTC / 100n, 100n * BTC, 3000), true, '30.01 BTC of 100 BTC');
  // 30 % plus one wei of 10^9 ETH: a float would call these equal.
  const total = 10n ** 9n * ETH;
  assert.equal(exceedsBp((total * 3n) / 10n, total, 3000), false);
  assert.equal(exceedsBp((total * 3n) / 10n + 1n, total, 3000), true);
  assert.equal(shareBp(25n * BTC, 80n * BTC), 3125);
  assert.equal(shareBp(0n, 0n), null);
});

test('HOT-01 HOT-06 a cold withdrawal leaves 25/80 = 31.25 %: a breach, an incident on the business calendar, and a sweep proposal of at least 1 BTC; a refill to 30.01 % is refused, to 30.00 % allowed', async () => {
  const client = await f.newClient('retail');
  await walletsFor([client]);
  await deposit(client, 'BTC', 'hot', 25n * BTC);
  await deposit(client, 'BTC', 'cold', 75n * BTC);
  const before = await r.ratio.compute(f.db.app);
  const btcBefore = before.assets.find((a) => a.asset === 'BTC')!;
  assert.equal(btcBefore.retail.shareBp, 2500);
  assert.equal(btcBefore.retail.breach, false);
  await withdraw(client, 'BTC', 'cold', 20n * BTC);
  const snapshot = await inTransaction(f.db.app, (q) => r.ratio.snapshot(q));
  const btc = snapshot.assets.find((a) => a.asset === 'BTC')!;
  assert.equal(btc.retail.hot, 25n * BTC);
  assert.equal(btc.retail.cold, 55n * BTC);
  assert.equal(btc.retail.shareBp, 3125);
  assert.equal(btc.retail.breach, true);
  assert.equal(btc.retail.alert, true);
  assert.deepEqual(snapshot.breaches.filter((b) => b.asset === 'BTC').map((b) => b.pool), ['retail']);
  // HOT-06: one incident per asset, its deadline one business day after awareness on the calendar.
  const { rows: opened } = await f.db.app.query(`select * from incidents where type = 'hot_cap_breach' and dedupe_key = 'BTC'`);
  assert.equal(opened.length, 1);
  assert.equal(opened[0].aware_at.toISOString(), snapshot.takenAt.toISOString());
  assert.equal(opened[0].deadline_at.toISOString(), incidents.calendar.addBusinessDays(snapshot.takenAt, 1).toISOString());
  await inTransaction(f.db.app, (q) => r.ratio.snapshot(q));
  assert.equal((await f.db.app.query(`select count(*)::int as n from incidents where type = 'hot_cap_breach' and dedupe_key = 'BTC'`)).rows[0].n, 1, 'one open incident, not one per snapshot');
  // The history keeps what was seen.
  const history = await r.ratio.history(f.db.app, { asset: 'BTC', limit: 100 });
  assert.ok(history.some((h) => h.pool === 'retail' && h.shareBp === 3125 && h.breach === true));
  // The plan sweeps at least 1 BTC from hot to the same client's cold wallet.
  const plan = await r.rebalancer.plan(f.db.app);
  const sweep = plan.moves.find((m) => m.clientId === client && m.asset === 'BTC');
  assert.ok(sweep, JSON.stringify(plan.skipped));
  assert.equal(sweep.kind, 'sweep');
  assert.ok(sweep.amount >= 1n * BTC);
  assert.equal(sweep.destinationClientId, client);
  assert.ok(sweep.shareBpAfter! <= config.rebalancing.targetBp, `after the sweep ${sweep.shareBpAfter} bp`);

  // The refill edge on ETH, another asset's pool: 24 hot, 76 cold (100 ETH).
  const other = await f.newClient('retail');
  await walletsFor([other]);
  await deposit(other, 'ETH', 'hot', 24n * ETH);
  await deposit(other, 'ETH', 'cold', 76n * ETH);
  await assert.rejects(r.rebalancer.checkRefill(f.db.app, other, 'ETH', 6n * ETH + ETH / 100n),
    (e: DomainError) => e.code === 'HOT_CAP_EXCEEDED' && /3001 bp/.test(e.message), 'a refill to 30.01 % is refused');
  await r.rebalancer.checkRefill(f.db.app, other, 'ETH', 6n * ETH); // exactly 30.00 %: allowed
});

test('HOT-02 a configuration change without a checker is refused; a different checker activates it; the cap is never above 30 %', async () => {
  const active = await r.configs.active(f.db.app, 'USDT');
  assert.equal(active.version, null, 'the defaults until a version is checked');
  const proposed = await inTransaction(f.db.app, (q) => r.configs.propose(q, { asset: 'USDT', targetBp: 1000, alertBp: 2000, capBp: 2800, minHotFloor: 0n, reason: 'tighter', maker: 'apikey:alice' }));
  assert.equal(proposed.state, 'proposed');
  assert.equal((await r.configs.active(f.db.app, 'USDT')).version, null, 'a proposal changes nothing');
  await assert.rejects(inTransaction(f.db.app, (q) => r.configs.approve(q, proposed.version!, 'apikey:alice')), (e: DomainError) => e.code === 'CHECKER_REQUIRED');
  // Nor can a hand-made update skip the checker: the database refuses an active version without one.
  await assert.rejects(f.db.app.query(`update hot_ratio_config set state = 'active', decided_at = now() where id = $1`, [proposed.version]), /check constraint/);
  await assert.rejects(f.db.app.query(`update hot_ratio_config set state = 'active', checker = 'APIKEY:ALICE', decided_at = now() where id = $1`, [proposed.version]), /check constraint/);
  assert.equal((await r.configs.active(f.db.app, 'USDT')).version, null);
  const checked = await inTransaction(f.db.app, (q) => r.configs.approve(q, proposed.version!, 'apikey:bob'));
  assert.equal(checked.state, 'active');
  assert.deepEqual(await r.configs.active(f.db.app, 'USDT'), { asset: 'USDT', targetBp: 1000, alertBp: 2000, capBp: 2800, minHotFloor: 0n, version: proposed.version,
    state: 'active', maker: 'apikey:alice', checker: 'apikey:bob', reason: 'tighter', createdAt: checked.createdAt, decidedAt: checked.decidedAt });
  await assert.rejects(inTransaction(f.db.app, (q) => r.configs.propose(q, { asset: 'USDT', targetBp: 1000, alertBp: 2000, capBp: 3001, minHotFloor: 0n, reason: 'x', maker: 'apikey:alice' })),
    (e: DomainError) => e.code === 'BAD_ARGUMENT');
  await assert.rejects(f.db.app.query(`insert into hot_ratio_config (asset, target_bp, alert_bp, cap_bp, min_hot_floor, maker, reason) values ('USDT', 0, 0, 3001, 0, 'm', 'r')`), /check constraint/);
});

test('HOT-03 a plan for 1,000 clients has no transfer with mismatched owners; the planner refuses a cross-client move', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 1000; i++) ids.push(await f.newClient('retail'));
  await walletsFor(ids);
  const { ledger, db } = f;
  const world = await ledger.systemAccountId(db.app, 'BTC', 'external_world');
  const chain = await ledger.systemAccountId(db.app, 'BTC', 'external_chain');
  const entries = [];
  for (const [i, id] of ids.entries()) {
    const amount = 1_000_000n + BigInt(i) * 1000n;
    const cold = i % 2 === 0 ? 0n : amount;
    entries.push({ idempotencyId: `hot03-${id}`, type: 'deposit' as const, actor: 'test', postings: [
      { accountId: world, amount: -(amount + cold) }, { accountId: await ledger.clientAccountId(db.app, id, 'BTC'), amount: amount + cold },
      { accountId: chain, amount: -(amount + cold) }, { accountId: await ledger.clientAccountId(db.app, id, 'BTC', 'client_wallet_hot'), amount },
      ...(cold > 0n ? [{ accountId: await ledger.clientAccountId(db.app, id, 'BTC', 'client_wallet_cold'), amount: cold }] : []),
    ] });
  }
  await ledger.postEntries(db.app, entries);
  const plan = await r.rebalancer.plan(f.db.app);
  const moves = plan.moves.filter((m) => ids.includes(m.clientId));
  assert.equal(moves.length, 1000, 'every client above the alert level gets its own sweep');
  const { rows: wallets } = await f.db.app.query<{ id: string; client_id: string; tier: string; chain: string }>('select id, client_id, tier, chain from wallets');
  const byId = new Map(wallets.map((w) => [w.id, w]));
  for (const m of moves) {
    const source = byId.get(m.sourceWalletId)!;
    const destination = byId.get(m.destinationWalletId)!;
    assert.equal(source.client_id, m.clientId, 'leaves the client\'s own wallet');
    assert.equal(destination.client_id, m.clientId, 'enters the client\'s own wallet');
    assert.deepEqual([source.tier, destination.tier, source.chain, destination.chain], ['hot', 'cold', 'bitcoin', 'bitcoin']);
  }
  assert.throws(() => assertSameClient({ clientId: ids[0]!, sourceClientId: ids[0]!, destinationClientId: ids[1]! }), (e: DomainError) => e.code === 'CROSS_CLIENT_TRANSFER');
});

test('HOT-05 labelling a wallet cold with a key from the hot token fails; the tier report lists each wallet, its tier and why', async () => {
  const client = await f.newClient('retail');
  // A key provider whose every key lives in the hot token, whatever was asked for.
  const lying = new WalletService({ createKey: async () => ({ keyId: `k-${++seq}`, tier: 'hot' as const,
    publicKey: Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).toString('hex') }) }, 'bcoin-regtest');
  await assert.rejects(inTransaction(f.db.app, (q) => lying.ensureClientWallets(q, client)), /the signer created a hot key for a cold wallet/);
  assert.equal((await f.db.app.query('select count(*)::int as n from wallets where client_id = $1', [client])).rows[0].n, 0, 'nothing was labelled');
  const report = await tierReport(f.db.app);
  assert.ok(report.wallets.length > 0);
  for (const w of report.wallets) {
    assert.ok(['hot', 'cold'].includes(w.countsAs));
    assert.match(w.reason, w.tier === 'cold' ? /cold HSM token.*quorum/ : /online HSM token.*automatically/);
  }
  assert.equal(report.totals.hot! + report.totals.cold!, report.wallets.length);
});

test('HOT-02 a client below its hot floor gets a refill proposal up to the floor, within the cap, from its own cold wallet', async () => {
  const v = await inTransaction(f.db.app, (q) => r.configs.propose(q, { asset: 'ETH', targetBp: 1500, alertBp: 2500, capBp: 3000, minHotFloor: 2n * ETH, reason: 'float', maker: 'apikey:alice' }));
  await inTransaction(f.db.app, (q) => r.configs.approve(q, v.version!, 'apikey:bob'));
  const client = await f.newClient('retail');
  await walletsFor([client]);
  await deposit(client, 'ETH', 'cold', 10n * ETH);
  const plan = await r.rebalancer.plan(f.db.app);
  const refill = plan.moves.find((m) => m.clientId === client);
  assert.ok(refill, JSON.stringify(plan.skipped));
  assert.deepEqual([refill.kind, refill.from, refill.to, refill.amount, refill.sourceClientId, refill.destinationClientId], ['refill', 'cold', 'hot', 2n * ETH, client, client]);
  // A floor above the cap is held to the cap: 30 % of 10 ETH.
  const w = await inTransaction(f.db.app, (q) => r.configs.propose(q, { asset: 'ETH', targetBp: 1500, alertBp: 2500, capBp: 3000, minHotFloor: 5n * ETH, reason: 'float', maker: 'apikey:alice' }));
  await inTransaction(f.db.app, (q) => r.configs.approve(q, w.version!, 'apikey:bob'));
  const capped = (await r.rebalancer.plan(f.db.app)).moves.find((m) => m.clientId === client);
  assert.ok(capped);
  assert.equal(capped.amount, 3n * ETH);
});
