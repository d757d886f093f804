// The reconciliation on the real Hardhat chain (ETH and the ERC-20), the real signer and Postgres:
// eth_getBalance and balanceOf at the cut-off block in JSON-RPC batches; a clean system (deposits and
// a completed ETH withdrawal, its gas paid by the client's own ETH) matches every line; tokens sent
// behind the service's back are one unknown_inflow for exactly that client and asset.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startWithdrawals, show, type WithdrawalFixture } from '../helpers/withdrawals.ts';
import { CONFIRMATIONS } from '../helpers/custody.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { loadStaticPrices } from '../../src/pricing/index.ts';
import { ReportService } from '../../src/reports/index.ts';
import { createIncidentService } from '../../src/incidents/index.ts';
import { EthereumChainReader, ReconciliationService, type ReconciliationReportContent } from '../../src/reconciliation/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
let f: WithdrawalFixture;
let reports: ReportService;
let carol: string;
let dave: string;
let day = 0;
const nextDate = () => `2026-09-${String(++day).padStart(2, '0')}`;

async function runFor(date: string): Promise<ReconciliationReportContent> {
  const config = loadConfig({ AMANAT_ENV: 'test' });
  const s = new ReconciliationService({
    pool: f.db.app, ledger: f.ledger, assets: f.assets, incidents: createIncidentService(config), reports,
    ethereum: new EthereumChainReader(f.eth!.rpc), prices: loadStaticPrices(path.join(root, 'policies/prices.json')),
    config: config.reconciliation, log: createLogger('silent'),
  });
  const run = await s.run({ reportDate: date });
  assert.equal(run.state, 'done', show(run));
  const stored = (await reports.findByKey('reconciliation', date))!;
  const json = JSON.parse((await reports.file(stored.id, 'json')).bytes.toString('utf8')) as { content?: ReconciliationReportContent } & ReconciliationReportContent;
  return json.content ?? json;
}

before(async () => {
  f = await startWithdrawals('ethereum');
  reports = new ReportService(f.db.app, f.signerClient);
  carol = await f.fundedClient('ETH', 50_000_000_000_000_000n, 'hot');
  dave = await f.fundedClient('USDT', 250_000_000n, 'cold');
  const destination = f.externalKeyAddress();
  await f.bookAddress(carol, destination.address);
  let w = await f.request({ clientId: carol, asset: 'ETH', amount: '0.01', destination: destination.address, proveWith: destination.privateKey });
  w = await f.settle(w.id);
  if (w.state === 'approvals') {
    await f.approveAs(f.approvers[0]!, w);
    await f.approveAs(f.approvers[1]!, w);
    w = await f.settle(w.id);
  }
  assert.equal(w.state, 'completed', show(w));
  await f.eth!.mine(CONFIRMATIONS);
  await f.tick();
});

after(async () => { await f?.close(); });

test('REC-01 REC-02 Ethereum: a clean system (ETH and ERC-20 deposits, an ETH withdrawal with its gas) reports every line matched', async () => {
  const content = await runFor(nextDate());
  assert.deepEqual(content.breaks, [], show(content.breaks));
  // No Bitcoin node in this fixture (and no Bitcoin wallet with an address): only the Ethereum assets are lines.
  assert.deepEqual(content.assets.map((a) => a.asset).sort(), ['ETH', 'USDT']);
  const eth = content.assets.find((a) => a.asset === 'ETH')!;
  const usdt = content.assets.find((a) => a.asset === 'USDT')!;
  assert.equal(BigInt(eth.onChain.hot), (await f.entitlement(carol, 'ETH')).hot);
  assert.equal(eth.onChain.total, eth.holdings.total);
  assert.equal(usdt.onChain.cold, '250000000');
  assert.equal((await f.entitlement(dave, 'USDT')).cold, 250_000_000n);
  assert.equal(usdt.holdings.total, '250000000');
  assert.equal(usdt.usd?.onChainUsdCents, '25000');
  const matching = content.matching.find((m) => m.chain === 'ethereum')!;
  // ETH deposit, USDT deposit, the ETH withdrawal.
  assert.equal(matching.chainMovements, '3', show(matching));
  assert.equal(matching.matched, '3');
});

test('REC-01 REC-02 Ethereum: USDT sent to a client\'s wallet behind the service\'s back is exactly one unknown_inflow for that client and USDT', async () => {
  const address = await inTransaction(f.db.app, (q) => f.wallets.depositAddress(q, carol, 'ethereum', 'cold'));
  const txid = await f.eth!.faucetUsdt(address.address, 1_500_000n);
  await f.eth!.mine(CONFIRMATIONS);
  const content = await runFor(nextDate());
  assert.equal(content.breaks.length, 1, show(content.breaks));
  const b = content.breaks[0]!;
  assert.equal(b.class, 'unknown_inflow');
  assert.equal(b.clientId, carol);
  assert.equal(b.asset, 'USDT');
  assert.equal(b.tier, 'cold');
  assert.equal(b.actual, '1500000');
  assert.equal(b.txid?.toLowerCase(), txid.toLowerCase());
});

test('REC-01 REC-02 Ethereum: an ERC-20 payout whose gas the house gas station paid: the station matches, the top-up and the gas on the client\'s address are explained gas_float, nothing unexplained', async () => {
  const station = await inTransaction(f.db.app, (q) => f.wallets.ensureHouseWallet(q, 'gas_station', 'ethereum'));
  await f.eth!.faucetEth(station.address.address, 10n ** 17n);
  await f.eth!.mine(CONFIRMATIONS);
  await f.tick();
  const destination = f.externalAddress();
  await f.bookAddress(dave, destination);
  const daveHot = await inTransaction(f.db.app, (q) => f.wallets.depositAddress(q, dave, 'ethereum', 'hot'));
  await f.eth!.faucetUsdt(daveHot.address, 20_000_000n);
  await f.eth!.mine(CONFIRMATIONS);
  await f.tick();
  let w = await f.request({ clientId: dave, asset: 'USDT', amount: '12.5', destination });
  w = await f.settle(w.id);
  if (w.state === 'approvals') {
    await f.approveAs(f.approvers[0]!, w);
    await f.approveAs(f.approvers[1]!, w);
    w = await f.settle(w.id);
  }
  assert.equal(w.state, 'completed', show(w));
  await f.eth!.mine(CONFIRMATIONS);
  await f.tick();
  const content = await runFor(nextDate());
  // Carol's unknown USDT inflow of the previous test is still there; everything else is the payout's gas float.
  const others = content.breaks.filter((b) => !(b.class === 'unknown_inflow' && b.clientId === carol));
  assert.deepEqual(others.map((b) => [b.class, b.clientId, b.asset, b.tier, b.explained]).sort(), [
    ['gas_float', dave, 'ETH', 'hot', true], ['gas_float', dave, 'ETH', 'hot', true]], show(content.breaks));
  const txids = others.map((b) => b.txid).sort();
  assert.deepEqual(txids, [w.txid, (w.build as { gasTopUpTxid: string }).gasTopUpTxid].sort());
  const station$ = content.house.find((h) => h.asset === 'ETH' && h.account.endsWith('house_wallet_gas'))!;
  assert.equal(station$.onChain, station$.holdings, 'the gas station: chain equals book');
});
