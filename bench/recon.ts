// npm run bench:recon — the daily reconciliation over 10,000 client wallets on the dev chains.
// Starts an embedded Postgres, a bcoin regtest node and a Hardhat chain with the test ERC-20; seeds
// 5,000 Bitcoin wallets and 5,000 Ethereum wallets (each Ethereum wallet is reconciled for ETH and for
// the ERC-20) with direct inserts as the database owner; funds a share of them on-chain (one Bitcoin
// transaction paying 500 of them; 150 ETH and 150 ERC-20 transfers) and books those deposits in the
// ledger, so the run is clean. Then times, in the same run: the reconciliation (snapshot, node reads at
// the cut-off height, book as of the cut-off, matching, report content; publishing is not included:
// no signer here) and the bare node balance queries for the same wallets (bcoin's UTXOs per address,
// eth_getBalance and balanceOf, the same batching). Prints figures; not a test.
// Targets: <= 60 s, and <= 2x the bare queries.
import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Psbt, address as bitcoinAddress } from 'bitcoinjs-lib';
import { ECPairFactory } from 'ecpair';
import * as ecc from 'tiny-secp256k1';
import { startPostgres } from '../src/platform/postgres-server.ts';
import { createPool, ensureDatabase, migrate, setAppRolePassword, withDatabase, withUser, APP_ROLE } from '../src/platform/db.ts';
import { inTransaction } from '../src/platform/tx.ts';
import { loadConfig } from '../src/platform/config.ts';
import { createLogger } from '../src/platform/logger.ts';
import { AssetRegistry } from '../src/assets/asset-registry.ts';
import { LedgerService, type EntryInput } from '../src/ledger/ledger-service.ts';
import { createIncidentService } from '../src/incidents/index.ts';
import { loadStaticPrices } from '../src/pricing/index.ts';
import { startBitcoinRegtest, type BitcoinRegtest } from '../src/chains/dev/bitcoin-regtest.ts';
import { startEthereumDev, type EthereumDev } from '../src/chains/dev/ethereum-dev.ts';
import { bcoinRegtest, buildPsbt, p2wpkhFromPublicKey } from '../src/chains/bitcoin/index.ts';
import { BitcoinChainReader, EthereumChainReader, ReconciliationService } from '../src/reconciliation/index.ts';
import { stopOnSignal } from '../scripts/stop-on-signal.ts';

const BTC_WALLETS = 5_000;
const ETH_WALLETS = 5_000;
const BTC_FUNDED = 500;
const ETH_FUNDED = 150;
const SAT = 20_000n;
const WEI = 1_000_000_000_000_000n; // 0.001 ETH
const USDT_UNITS = 5_000_000n; // 5 USDT

const root = path.resolve(import.meta.dirname, '..');
const s = (ms: number) => (ms / 1000).toFixed(2);

const tmp = path.join(process.env.AMANAT_TEST_TMP ?? os.tmpdir(), `amanat-bench-recon-${process.pid}`);
mkdirSync(tmp, { recursive: true });
const password = randomBytes(12).toString('hex');
const server = await startPostgres({ dataDir: path.join(tmp, 'pg'), persistent: false, password });
let btc: BitcoinRegtest | undefined;
let eth: EthereumDev | undefined;
let pools: { end(): Promise<void> }[] = [];
const cleanup = async () => {
  for (const p of pools) await p.end().catch(() => undefined);
  pools = [];
  await Promise.allSettled([btc?.stop(), eth?.stop()]);
  await server.stop();
  rmSync(tmp, { recursive: true, force: true });
};
stopOnSignal(cleanup);

try {
  console.log(`bench:recon: Postgres (embedded) on port ${server.port}; ${os.cpus().length} cores`);
  await ensureDatabase(server.baseUrl, 'amanat_bench');
  const ownerUrl = withDatabase(server.baseUrl, 'amanat_bench');
  await migrate(ownerUrl);
  const appPassword = randomBytes(12).toString('hex');
  await setAppRolePassword(ownerUrl, appPassword);
  const app = createPool(withUser(ownerUrl, APP_ROLE, appPassword), 16);
  const owner = createPool(ownerUrl, 4);
  pools = [app, owner];
  [btc, eth] = await Promise.all([startBitcoinRegtest({ dataDir: path.join(tmp, 'bitcoin'), memory: true }), startEthereumDev({ dataDir: path.join(tmp, 'ethereum') })]);
  const assets = new AssetRegistry(app);
  await assets.load();
  await inTransaction(app, (q) => assets.update(q, 'USDT', { contractAddress: eth!.usdt!.address }));
  const ledger = new LedgerService(app, assets);

  // --- seed: clients, their accounts, one wallet and one address each (direct inserts as the owner)
  let t = performance.now();
  const total = BTC_WALLETS + ETH_WALLETS;
  const { rows: clients } = await owner.query<{ id: string }>(
    `insert into clients (external_ref, classification, kz_resident) select 'bench-' || g, case when g % 5 = 0 then 'professional' else 'retail' end, true
     from generate_series(1, $1) g returning id`, [total]);
  await owner.query('select ledger_open_system_accounts(code) from assets');
  await owner.query('select ledger_open_client_accounts(c.id, a.code) from clients c cross join assets a');
  const btcAddresses = Array.from({ length: BTC_WALLETS }, () => bitcoinAddress.toBech32(randomBytes(20), 0, bcoinRegtest.bech32));
  const ethAddresses = Array.from({ length: ETH_WALLETS }, () => `0x${randomBytes(20).toString('hex')}`);
  const walletRows = clients.map((c, i) => ({ clientId: c.id, chain: i < BTC_WALLETS ? 'bitcoin' : 'ethereum',
    address: i < BTC_WALLETS ? btcAddresses[i]! : ethAddresses[i - BTC_WALLETS]! }));
  const { rows: wallets } = await owner.query<{ id: string; client_id: string }>(
    `insert into wallets (owner, client_id, chain, tier, key_id) select 'client', x.client_id, x.chain, 'hot', 'bench-' || x.n
     from jsonb_to_recordset($1::jsonb) as x(client_id uuid, chain text, n int) returning id, client_id`,
    [JSON.stringify(walletRows.map((w, n) => ({ client_id: w.clientId, chain: w.chain, n })))]);
  const walletOf = new Map(wallets.map((w) => [w.client_id, w.id]));
  await owner.query(
    `insert into wallet_addresses (wallet_id, chain, address, key_id, public_key, purpose)
     select x.wallet_id, x.chain, x.address, 'bench', '00', case when x.chain = 'bitcoin' then 'deposit' else 'account' end
     from jsonb_to_recordset($1::jsonb) as x(wallet_id uuid, chain text, address text)`,
    [JSON.stringify(walletRows.map((w) => ({ wallet_id: walletOf.get(w.clientId), chain: w.chain, address: w.address })))]);
  console.log(`seeded ${total} clients, ${total} wallets (${BTC_WALLETS} bitcoin, ${ETH_WALLETS} ethereum) and their accounts in ${s(performance.now() - t)} s`);

  // --- fund a share on-chain and book those deposits
  t = performance.now();
  const entries: EntryInput[] = [];
  const deposit = async (clientId: string, asset: string, amount: bigint, txid: string) => {
    entries.push({ idempotencyId: `bench-${asset}-${txid}-${clientId}`, type: 'deposit', actor: 'bench', cause: { chain: asset === 'BTC' ? 'bitcoin' : 'ethereum', txid },
      postings: [
        { accountId: await ledger.systemAccountId(app, asset, 'external_world'), amount: -amount },
        { accountId: await ledger.clientAccountId(app, clientId, asset), amount },
        { accountId: await ledger.systemAccountId(app, asset, 'external_chain'), amount: -amount },
        { accountId: await ledger.clientAccountId(app, clientId, asset, 'client_wallet_hot'), amount },
      ] });
  };
  const ECPair = ECPairFactory(ecc);
  const key = ECPair.makeRandom({ network: bcoinRegtest });
  const payer = p2wpkhFromPublicKey(key.publicKey, 'bcoin-regtest');
  const funding = SAT * BigInt(BTC_FUNDED) + 1_000_000n;
  const funded = await btc.faucet(payer.address, funding);
  const built = buildPsbt({ network: 'bcoin-regtest', utxos: [{ txid: funded.txid, vout: funded.vout, value: funding, script: payer.script }],
    outputs: btcAddresses.slice(0, BTC_FUNDED).map((address) => ({ address, value: SAT })), changeAddress: payer.address, feeRateSatPerVbyte: 1n, feeMaxSat: 200_000n });
  const psbt = Psbt.fromBase64(built.psbtBase64, { network: bcoinRegtest });
  psbt.signAllInputs(key);
  psbt.finalizeAllInputs();
  const paid = await btc.rpc.broadcast(psbt.extractTransaction().toHex());
  await btc.mine(3);
  for (let i = 0; i < BTC_FUNDED; i++) await deposit(clients[i]!.id, 'BTC', SAT, paid.txid);
  for (let i = 0; i < ETH_FUNDED; i++) {
    const clientId = clients[BTC_WALLETS + i]!.id;
    await deposit(clientId, 'ETH', WEI, await eth.faucetEth(ethAddresses[i]!, WEI));
    await deposit(clientId, 'USDT', USDT_UNITS, await eth.faucetUsdt(ethAddresses[i]!, USDT_UNITS));
  }
  await eth.mine(3);
  for (let i = 0; i < entries.length; i += 500) await ledger.postEntries(app, entries.slice(i, i + 500));
  console.log(`funded ${BTC_FUNDED} bitcoin wallets (one transaction) and ${ETH_FUNDED} ethereum wallets (ETH and the ERC-20), booked ${entries.length} deposits, in ${s(performance.now() - t)} s`);

  const config = loadConfig({ AMANAT_ENV: 'test' });
  const bitcoin = new BitcoinChainReader(btc.rpc, { restUrl: btc.rpcUrl, apiKey: btc.apiKey });
  const ethereum = new EthereumChainReader(eth.rpc);
  const service = new ReconciliationService({
    pool: app, ledger, assets, incidents: createIncidentService(config), bitcoin, ethereum,
    prices: loadStaticPrices(path.join(root, 'policies/prices.json')), config: config.reconciliation, log: createLogger(process.env.BENCH_LOG ?? 'silent'),
  });

  // --- the bare node balance queries for the same wallets
  const bare = async () => {
    const start = performance.now();
    const btcHeight = await btc!.rpc.getBlockCount();
    const ethHeight = await eth!.rpc.getBlockNumber();
    const [btcTotal, ethBalances, usdtBalances] = await Promise.all([bitcoin.bareBalances(btcAddresses),
      ethereum.ethBalances(ethAddresses, ethHeight), ethereum.tokenBalances(eth!.usdt!.address, ethAddresses, ethHeight)]);
    void btcHeight;
    const ms = performance.now() - start;
    return { ms, btcTotal, eth: [...ethBalances.values()].reduce((a, b) => a + b, 0n), usdt: [...usdtBalances.values()].reduce((a, b) => a + b, 0n) };
  };
  const bare1 = await bare();

  // --- the reconciliation
  const start = performance.now();
  const run = await service.run({ reportDate: '2026-12-01', trigger: 'cli' });
  const reconMs = performance.now() - start;
  const bare2 = await bare();
  const bareMs = Math.min(bare1.ms, bare2.ms);

  const summary = run.summary as { lines: number; matchedLines: number; breaks: number; allLinesMatched: boolean };
  const { rows } = await app.query<{ content: { assets: { asset: string; onChain: { total: string } }[] } }>('select content from recon_runs where id = $1', [run.id]);
  const onChain = Object.fromEntries(rows[0]!.content.assets.map((a) => [a.asset, a.onChain.total]));
  if (onChain.BTC !== bare1.btcTotal.toString() || onChain.ETH !== bare1.eth.toString() || onChain.USDT !== bare1.usdt.toString()) {
    throw new Error(`the reconciliation's on-chain totals ${JSON.stringify(onChain)} differ from the bare queries' (BTC ${bare1.btcTotal}, ETH ${bare1.eth}, USDT ${bare1.usdt})`);
  }
  console.log(`reconciliation: state ${run.state}; ${summary.lines} lines (${BTC_WALLETS} BTC, ${ETH_WALLETS} ETH, ${ETH_WALLETS} USDT), ${summary.matchedLines} matched, ${summary.breaks} breaks; on-chain totals ${JSON.stringify(onChain)}`);
  console.log(`reconciliation of ${total} client wallets: ${s(reconMs)} s, ${Math.round(total / (reconMs / 1000))} wallets/s (target <= 60 s)`);
  console.log(`bare node balance queries for the same wallets (${BTC_WALLETS} bcoin UTXO look-ups, ${ETH_WALLETS} eth_getBalance, ${ETH_WALLETS} balanceOf): ${s(bareMs)} s (best of 2: ${s(bare1.ms)}, ${s(bare2.ms)})`);
  console.log(`ratio: ${(reconMs / bareMs).toFixed(2)}x the bare queries (target <= 2x); ${reconMs <= 60_000 && reconMs <= 2 * bareMs ? 'both targets met' : 'TARGET MISSED'}`);
} finally {
  await cleanup();
}
