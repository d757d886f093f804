// The outage suite's harness (R8): the service as it is wired in production (createAmanat with the
// signer, both chains and their deposit scanners, the HTTP app) on real components — a test
// database, the SoftHSM signer process, bcoin regtest and Hardhat — with a way to take each of them
// away and bring it back:
// - the signer: its process is stopped and started again on the same tokens, socket and replay log;
// - a chain node: the service reaches it only through a TCP proxy in this process, which can refuse
//   and reset every connection (the node is gone, as far as the service can tell) and come back on
//   the same port; it can also cut right after a chosen request reached the node, so the node acts
//   on it (a broadcast, a block read) and the answer never arrives. Behind the cut the bcoin node
//   can also really be restarted with its chain data (btc.restart(): its mempool is lost); Hardhat
//   keeps its chain in memory only, so for Ethereum the cut is the outage;
// - Postgres: a dedicated server for one test (startDedicatedPostgres), stopped and started on the
//   same data directory and port. The test runner's shared server is never touched.
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Wallet as EthWallet } from 'ethers';
import { createAmanat, type Amanat } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { APP_ROLE, createPool, ensureDatabase, migrate, setAppRolePassword, withDatabase, withUser } from '../../src/platform/db.ts';
import { freePort, startPostgres, type PostgresServer } from '../../src/platform/postgres-server.ts';
import { AssetRegistry } from '../../src/assets/asset-registry.ts';
import { LedgerService } from '../../src/ledger/ledger-service.ts';
import { ClientService } from '../../src/clients/client-service.ts';
import { WalletService } from '../../src/wallets/wallet-service.ts';
import { SignerClient } from '../../src/signer-client/signer-client.ts';
import { BitcoinRpcClient } from '../../src/chains/bitcoin/rpc-client.ts';
import { EthereumRpcClient } from '../../src/chains/ethereum/rpc-client.ts';
import { BitcoinBlockSource } from '../../src/chains/bitcoin/block-source.ts';
import { EthereumBlockSource } from '../../src/chains/ethereum/block-source.ts';
import { decodeAddress, p2wpkhFromPublicKey } from '../../src/chains/bitcoin/address.ts';
import { parseBlock } from '../../src/chains/bitcoin/block-scan.ts';
import { startBitcoinRegtest, type BitcoinRegtest } from '../../src/chains/dev/bitcoin-regtest.ts';
import { startEthereumDev, HARDHAT_CHAIN_ID, type EthereumDev } from '../../src/chains/dev/ethereum-dev.ts';
import { DepositScanner } from '../../src/deposits/deposit-scanner.ts';
import { BitcoinWatchIndex, EthereumWatchIndex } from '../../src/deposits/watch-index.ts';
import type { ChainRuntime } from '../../src/deposits/chain-runtime.ts';
import { WithdrawalPipeline } from '../../src/withdrawals/withdrawal-pipeline.ts';
import { Compliance } from '../../src/withdrawals/compliance.ts';
import type { WithdrawalRow } from '../../src/withdrawals/withdrawal-service.ts';
import { loadPolicy } from '../../src/policy/policy-engine.ts';
import { loadStaticPrices } from '../../src/pricing/price-source.ts';
import { ROLES, type Role } from '../../src/auth/api-keys.ts';
import { makeApprover, prepareSigner, startSigner, tempDir, testPolicy, type SignerHarness } from '../../signer/test/helpers.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
export const CONFIRMATIONS = 3;

/** JSON for assertion messages: rows hold bigints. */
export const show = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` until it returns something truthy, at most `polls` times `everyMs` apart; throws
 * with `what` and the last value otherwise. Bounded by a count, never asserted on elapsed time.
 */
export async function pollUntil<T>(what: string, check: () => Promise<T | undefined | null | false>, options: { polls?: number; everyMs?: number; describe?: () => Promise<unknown> } = {}): Promise<T> {
  const polls = options.polls ?? 600;
  for (let i = 0; i < polls; i++) {
    const value = await check();
    if (value) return value;
    await sleep(options.everyMs ?? 100);
  }
  throw new Error(`${what}: not reached after ${polls} polls${options.describe ? `; ${show(await options.describe())}` : ''}`);
}

/** Throws at once if any of the withdrawals ended other than completed: an outage must never fail one. */
export async function assertNoneEnded(pool: pg.Pool, ids: string[]): Promise<void> {
  const { rows } = await pool.query<{ id: string; state: string; failure_code: string | null; failure_detail: string | null }>(
    `select id, state, failure_code, failure_detail from withdrawals where id = any($1) and state in ('failed', 'rejected', 'cancelled')`, [ids]);
  if (rows.length > 0) throw new Error(`${rows.length} withdrawals ended during the outage: ${show(rows.slice(0, 3))}`);
}

/** A loop the test runs in the background (a worker, a scanner, a miner); its errors are kept, not thrown. */
export interface Loop { readonly name: string; readonly errors: unknown[]; readonly rounds: number; stop(): Promise<void> }

export function startLoop(name: string, everyMs: number, work: () => Promise<unknown>): Loop {
  let running = true;
  const errors: unknown[] = [];
  let rounds = 0;
  const done = (async () => {
    while (running) {
      try { await work(); } catch (error) { errors.push(error); }
      rounds++;
      if (running) await sleep(everyMs);
    }
  })();
  return {
    name, errors,
    get rounds() { return rounds; },
    async stop() { running = false; await done; },
  };
}

// ---------------------------------------------------------------------------------------------
// A TCP proxy that can take a node away.

export interface TcpProxy {
  readonly port: number;
  /** http://127.0.0.1:<port>/ : what the service is given as the node's RPC URL. */
  readonly url: string;
  readonly up: boolean;
  /** How many times it has cut. */
  readonly cuts: number;
  /** Stops listening and destroys every open connection: new ones are refused, in-flight ones reset. */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  /**
   * Arms a cut: the `nth` request whose bytes match `pattern` is passed to the node; when the
   * node starts answering, the answer is dropped and the proxy cuts. Resolves once it has cut.
   */
  cutAfterRequest(pattern: RegExp, nth?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let up = false;
  let cuts = 0;
  let armed: { pattern: RegExp; remaining: number; fired: () => void } | undefined;

  const cut = async (): Promise<void> => {
    if (!up) return;
    up = false;
    cuts++;
    const closing = server ? new Promise<void>((resolve) => server!.close(() => resolve())) : Promise.resolve();
    for (const s of sockets) s.destroy();
    sockets.clear();
    await closing;
    server = undefined;
  };

  const onConnection = (client: net.Socket): void => {
    if (!up) { client.destroy(); return; }
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    let swallow = false;
    const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.on('data', (chunk: Buffer) => {
      if (armed && armed.pattern.test(chunk.toString('latin1'))) {
        armed.remaining--;
        if (armed.remaining === 0) swallow = true;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!swallow) { client.write(chunk); return; }
      // The node has acted on the request and is answering: the answer never arrives.
      const fired = armed?.fired;
      armed = undefined;
      void cut().then(() => fired?.());
    });
  };

  const listen = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const s = net.createServer(onConnection);
      try {
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.listen(port, '127.0.0.1', () => { s.off('error', reject); resolve(); });
        });
        server = s;
        up = true;
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== 'EADDRINUSE' || attempt >= 50) throw error;
        await sleep(100);
      }
    }
  };
  await listen();

  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    get up() { return up; },
    get cuts() { return cuts; },
    cut,
    async restore() { if (!up) await listen(); },
    cutAfterRequest(pattern, nth = 1) {
      return new Promise<void>((resolve) => { armed = { pattern, remaining: nth, fired: resolve }; });
    },
    async close() { armed = undefined; await cut(); },
  };
}

// ---------------------------------------------------------------------------------------------
// The service on real components, with every dependency restartable.

export interface PipelineTuning {
  /** Steps a withdrawal waits through an outage before the alarm (withdrawal.delayed). */
  maxAttempts: number;
  /** Backoff base: min(2^attempt, 64) × this between attempts. */
  retryDelayMs: number;
}

export interface OutageRig {
  db: TestDatabase;
  config: Config;
  assets: AssetRegistry;
  ledger: LedgerService;
  clients: ClientService;
  wallets: WalletService;
  signerClient: SignerClient;
  /** The signer process as it is now (a new harness after each start). */
  readonly signer: SignerHarness;
  stopSigner(): Promise<void>;
  startSigner(): Promise<void>;
  btc: BitcoinRegtest;
  eth: EthereumDev;
  /** What the service talks to instead of the nodes. */
  btcProxy: TcpProxy;
  ethProxy: TcpProxy;
  chains: ChainRuntime;
  scanners: { bitcoin: DepositScanner; ethereum: DepositScanner };
  amanat: Amanat;
  /** The production pipeline's steps with a short retry budget (see PipelineTuning). */
  pipeline: WithdrawalPipeline;
  tuning: PipelineTuning;
  url: string;
  keys: Record<Role, string>;
  call(method: string, path: string, options?: { key?: string | null; body?: unknown; idem?: string }): Promise<{ status: number; body: any; headers: Headers }>;
  /** A client with verified KYC (the Travel Rule's originator data). */
  kycClient(): Promise<string>;
  depositAddress(clientId: string, chain: 'bitcoin' | 'ethereum'): Promise<string>;
  /** Quote + confirm through the service, as POST /v1/withdrawals does; the destination is booked past its cooling-off. */
  request(input: { clientId: string; asset: 'BTC' | 'ETH'; amount: string; destination: string }): Promise<WithdrawalRow>;
  externalAddress(chain: 'bitcoin' | 'ethereum'): string;
  mine(n?: number): Promise<void>;
  close(): Promise<void>;
}

let seq = 0;

/** `database`: the service's database (default: a clone of the test run's template on the shared server). */
export async function startOutageRig(tuning: PipelineTuning, options: { database?: TestDatabase } = {}): Promise<OutageRig> {
  const dir = tempDir('outage');
  const db = options.database ?? await createTestDatabase();
  const cleanups: (() => Promise<unknown>)[] = [() => db.drop()];
  const cleanup = async () => { for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined); };
  try {
    const approvers = [makeApprover('officer-a', 'alice', 'ed25519'), makeApprover('officer-b', 'bob', 'p256'), makeApprover('officer-c', 'carol', 'ed25519')];
    const prepared = prepareSigner('outage-signer', testPolicy(approvers, 2));
    let signer = await startSigner(prepared);
    cleanups.push(() => signer.stop());
    const [btc, eth] = await Promise.all([
      // On disk, so that it can be restarted with its chain (btc.restart()).
      startBitcoinRegtest({ dataDir: path.join(dir, 'bitcoin') }),
      startEthereumDev({ dataDir: path.join(dir, 'ethereum') }),
    ]).catch(async (error: unknown) => { await cleanup(); throw error; });
    cleanups.push(() => btc.stop(), () => eth.stop());
    const btcProxy = await startTcpProxy(Number(new URL(btc.rpcUrl).port));
    const ethProxy = await startTcpProxy(Number(new URL(eth.rpcUrl).port));
    cleanups.push(() => btcProxy.close(), () => ethProxy.close());

    const keyringFile = path.join(dir, 'pii-keyring.json');
    writeFileSync(keyringFile, JSON.stringify({ k1: randomBytes(32).toString('hex') }));
    const config = loadConfig({
      AMANAT_ENV: 'test', LOG_LEVEL: 'silent', API_KEY_CACHE_MS: '0', AMANAT_DATA_DIR: path.join(dir, 'app'),
      TREASURY_APPROVERS_FILE: path.join(prepared.dir, 'signer-policy.json'), PII_KEYRING_FILE: keyringFile,
      BITCOIN_CONFIRMATIONS: String(CONFIRMATIONS), ETHEREUM_CONFIRMATIONS: String(CONFIRMATIONS), BITCOIN_NETWORK: 'bcoin-regtest',
    });
    const log = createLogger(process.env.AMANAT_TEST_LOG ?? 'silent');
    const assets = new AssetRegistry(db.app);
    await assets.load();
    await inTransaction(db.app, (q) => assets.update(q, 'USDT', { contractAddress: eth.usdt!.address }));
    const ledger = new LedgerService(db.app, assets);
    const clients = new ClientService(ledger);
    const signerClient = new SignerClient(signer.socketPath);
    const wallets = new WalletService(signerClient, 'bcoin-regtest');

    // The service's view of the nodes: through the proxies only.
    const bitcoinRpc = new BitcoinRpcClient({ url: btcProxy.url, username: 'x', password: btc.apiKey, timeoutMs: 10_000 });
    const ethereumRpc = new EthereumRpcClient({ url: ethProxy.url, chainId: HARDHAT_CHAIN_ID, pollingIntervalMs: 50 });
    cleanups.push(async () => ethereumRpc.destroy());
    const btcWatch = new BitcoinWatchIndex('bcoin-regtest');
    const ethWatch = new EthereumWatchIndex(assets);
    const scannerOptions = { startHeight: 0, maxBlocksPerTick: 1000, maxReorgDepth: 100, rollbackLostChain: false, confirmations: () => CONFIRMATIONS };
    const scanners = {
      bitcoin: new DepositScanner(db.app, ledger, new BitcoinBlockSource(bitcoinRpc, () => btcWatch.set), { ...scannerOptions, chain: 'bitcoin' }, log, btcWatch),
      ethereum: new DepositScanner(db.app, ledger, new EthereumBlockSource(ethereumRpc, () => ethWatch.set), { ...scannerOptions, chain: 'ethereum' }, log, ethWatch),
    };
    const chains: ChainRuntime = {
      bitcoin: { rpc: bitcoinRpc, network: 'bcoin-regtest' },
      ethereum: { rpc: ethereumRpc, chainId: HARDHAT_CHAIN_ID },
      scanners: [scanners.bitcoin, scanners.ethereum],
      stop: async () => undefined,
    };
    const amanat = await createAmanat({ pool: db.app, config, log, wallets, chains, signer: signerClient });
    cleanups.push(() => amanat.stopBackground());
    const module = amanat.services.withdrawals;
    // The same pipeline the service runs (same services, same settings) but for the retry budget.
    const at = (p: string) => path.resolve(repoRoot, p);
    const pipeline = new WithdrawalPipeline({
      pool: db.app, assets: amanat.services.assets, ledger: amanat.services.ledger, wallets, signer: signerClient, chains,
      compliance: new Compliance({ policy: loadPolicy(at(config.withdrawals.policyFile)), prices: loadStaticPrices(at(config.withdrawals.pricesFile)), travelRule: module.travelRule }),
      approvers: module.approvers, cases: module.cases, screening: module.screening, log,
      settings: {
        confirmations: { bitcoin: CONFIRMATIONS, ethereum: CONFIRMATIONS },
        btcFeeRateFallbackSatPerVbyte: config.withdrawals.btcFeeRateFallbackSatPerVbyte, btcFeeRateCapSatPerVbyte: config.withdrawals.btcFeeRateCapSatPerVbyte,
        ethPriorityFeeWei: 10n ** 9n, ethMaxFeePerGasCapWei: 500n * 10n ** 9n, erc20GasLimit: 100_000n,
        maxAttempts: tuning.maxAttempts, retryDelayMs: tuning.retryDelayMs,
        vaspTravelRule: config.withdrawals.vaspTravelRule,
        replaceAfterSeconds: { bitcoin: config.withdrawals.btcReplaceAfterSeconds, ethereum: config.withdrawals.ethReplaceAfterSeconds },
        maxReplacements: config.withdrawals.maxReplacements,
      },
    });

    const keys = {} as Record<Role, string>;
    for (const role of ROLES) {
      keys[role] = (await inTransaction(db.app, (q) => amanat.services.apiKeys.create(q, { name: `outage-${role}`, role, createdBy: null }))).secret;
    }
    const server: Server = amanat.http.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    cleanups.push(async () => { server.closeAllConnections(); await new Promise<void>((resolve) => server.close(() => resolve())); });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const rig: OutageRig = {
      db, config, assets, ledger, clients, wallets, signerClient,
      get signer() { return signer; },
      async stopSigner() { await signer.stop(); },
      async startSigner() {
        // The same directory: the same SoftHSM tokens, socket path, policy and replay log.
        signer = await startSigner(prepared);
        cleanups.push(() => signer.stop());
      },
      btc, eth, btcProxy, ethProxy, chains, scanners, amanat, pipeline, tuning, url, keys,
      async call(method, p, options = {}) {
        const headers: Record<string, string> = {};
        const key = options.key === undefined ? keys.exchange : options.key;
        if (key) headers.authorization = `Bearer ${key}`;
        if (method !== 'GET') headers['idempotency-key'] = options.idem ?? `k-${process.pid}-${++seq}`;
        let body: string | undefined;
        if (options.body !== undefined) { body = JSON.stringify(options.body); headers['content-type'] = 'application/json'; }
        const res = await fetch(`${url}${p}`, { method, headers, body });
        const text = await res.text();
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        return { status: res.status, body: parsed, headers: res.headers };
      },
      async kycClient() {
        const c = await inTransaction(db.app, (q) => clients.create(q, { externalRef: `outage-${process.pid}-${++seq}-${Date.now()}`, classification: 'retail', kzResident: true }));
        await inTransaction(db.app, (q) => module.travelRule.storeKyc(q, c.id, {
          name: { primary: 'Aigerim', secondary: 'Nurlanovna' }, verified: true, dateOfBirth: '1990-04-01', placeOfBirth: 'Almaty',
          nationalId: '900401400123', geographicAddress: { town: 'Astana', country: 'KZ' } }));
        return c.id;
      },
      async depositAddress(clientId, chain) {
        return (await inTransaction(db.app, (q) => wallets.depositAddress(q, clientId, chain, 'hot'))).address;
      },
      async request(input) {
        const chain = input.asset === 'BTC' ? 'bitcoin' : 'ethereum';
        await db.app.query(
          `insert into address_book (client_id, chain, address, destination_type, added_at) values ($1, $2, $3, 'self_hosted', now() - interval '48 hours')`,
          [input.clientId, chain, input.destination]);
        const quote = await inTransaction(db.app, (q) => module.service.quote(q, { clientId: input.clientId, asset: input.asset, amount: input.amount,
          destination: input.destination, actor: 'test' }));
        return inTransaction(db.app, (q) => module.service.confirm(q, {
          quoteId: quote.quoteId, clientId: input.clientId, acknowledgedWarningId: quote.warning.id,
          consent: { method: 'webauthn', reference: `assertion-${++seq}`, at: new Date().toISOString() },
          destinationType: 'self_hosted', beneficiary: { name: 'Aigerim Nurlanovna' }, initiatorUserId: 'client-user-1',
          idempotencyId: `outage-w-${++seq}`, actor: 'test',
        }));
      },
      externalAddress(chain) {
        const pub = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true);
        return chain === 'bitcoin' ? p2wpkhFromPublicKey(pub, 'bcoin-regtest').address : EthWallet.createRandom().address;
      },
      async mine(n = 1) { await Promise.all([btc.mine(n), eth.mine(n)]); },
      close: cleanup,
    };
    return rig;
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** The service's own readiness answer. */
export async function readyz(url: string): Promise<{ status: number; body: { status: string; checks: Record<string, string>; down?: string[] } }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; checks: Record<string, string>; down?: string[] } };
}

// ---------------------------------------------------------------------------------------------
// What the chains say, read from the nodes directly (never through the proxies).

/**
 * Every output on the best chain from `fromHeight` to the tip paying one of `addresses`: how many
 * each received and in how many transactions. A destination paid twice shows up here however it happened.
 */
export async function bitcoinPaymentsTo(btc: BitcoinRegtest, fromHeight: number, addresses: string[]): Promise<Map<string, { outputs: number; value: bigint; txids: string[] }>> {
  const byScript = new Map(addresses.map((a) => [Buffer.from(decodeAddress(a, 'bcoin-regtest').script).toString('hex'), a]));
  const paid = new Map<string, { outputs: number; value: bigint; txids: string[] }>(addresses.map((a) => [a, { outputs: 0, value: 0n, txids: [] }]));
  const tip = await btc.rpc.getBlockCount();
  for (let h = fromHeight; h <= tip; h++) {
    const block = parseBlock(await btc.rpc.getBlockRaw((await btc.rpc.getBlockHash(h))!));
    for (const tx of block.transactions ?? []) {
      for (const out of tx.outs) {
        const address = byScript.get(Buffer.from(out.script).toString('hex'));
        if (!address) continue;
        const p = paid.get(address)!;
        p.outputs++;
        p.value += BigInt(out.value);
        p.txids.push(tx.getId());
      }
    }
  }
  return paid;
}

/** Deposits as the service booked them: per sent transfer, its deposit rows and credit entries. */
export async function depositBookings(owner: pg.Pool, chain: 'bitcoin' | 'ethereum', keys: string[]): Promise<Map<string, { rows: number; status: string[]; credits: number }>> {
  const out = new Map<string, { rows: number; status: string[]; credits: number }>(keys.map((k) => [k, { rows: 0, status: [], credits: 0 }]));
  const { rows } = await owner.query<{ deposit_key: string; status: string }>('select deposit_key, status from deposits where chain = $1 and deposit_key = any($2)', [chain, keys]);
  for (const r of rows) { const o = out.get(r.deposit_key)!; o.rows++; o.status.push(r.status); }
  // Credit entries are keyed deposit:<chain>:<deposit key>:<generation>.
  const { rows: entries } = await owner.query<{ idempotency_id: string }>(
    `select idempotency_id from journal_entries where type = 'deposit' and idempotency_id like $1`, [`deposit:${chain}:%`]);
  for (const e of entries) {
    const key = e.idempotency_id.slice(`deposit:${chain}:`.length).replace(/:\d+$/, '');
    const o = out.get(key);
    if (o) o.credits++;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Ledger invariants after an outage.

/**
 * The ledger's invariants, read as the owner: every entry sums to zero per asset and book; the
 * control totals are zero; every balance is the sum of its postings and every held amount the
 * sum of its pending (and frozen) holds; nothing client- or house-side is negative or over-held.
 */
export async function ledgerInvariantProblems(owner: pg.Pool): Promise<string[]> {
  const problems: string[] = [];
  const unbalanced = await owner.query('select entry_id, asset, book, sum(amount) as s from postings group by entry_id, asset, book having sum(amount) <> 0 limit 5');
  if (unbalanced.rowCount) problems.push(`unbalanced entries: ${show(unbalanced.rows)}`);
  const totals = await owner.query('select asset, book, sum(balance) as total from accounts group by asset, book having sum(balance) <> 0');
  if (totals.rowCount) problems.push(`control totals not zero: ${show(totals.rows)}`);
  const drift = await owner.query(
    `select a.id, a.code, a.balance, a.held,
            coalesce((select sum(amount) from postings p where p.account_id = a.id), 0) as postings,
            coalesce((select sum(amount) from holds h where h.account_id = a.id and h.state in ('pending', 'frozen')), 0) as holds
       from accounts a
      where a.balance <> coalesce((select sum(amount) from postings p where p.account_id = a.id), 0)
         or a.held <> coalesce((select sum(amount) from holds h where h.account_id = a.id and h.state in ('pending', 'frozen')), 0)
      limit 5`);
  if (drift.rowCount) problems.push(`balances or held amounts drift from postings/holds: ${show(drift.rows)}`);
  const negative = await owner.query(
    `select id, code, balance, held from accounts where root <> 'external' and kind <> 'house_suspense' and (balance < 0 or held < 0 or balance - held < 0) limit 5`);
  if (negative.rowCount) problems.push(`negative or over-held accounts: ${show(negative.rows)}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// A dedicated Postgres server for one test, stopped and started on the same data dir and port.

export interface DedicatedPostgres {
  readonly port: number;
  /** The migrated `amanat` database, in the shape the rig takes: an app-role pool, an owner pool; drop() ends both. */
  database(): TestDatabase;
  readonly ownerUrl: string;
  readonly appUrl: string;
  readonly up: boolean;
  /** Fast shutdown (SIGINT): open sessions are terminated (57P01), new connections refused. */
  stop(): Promise<void>;
  /** Starts it again on the same data directory and port. */
  start(): Promise<void>;
  /** Stops it for good and deletes its data. */
  close(): Promise<void>;
}

export async function startDedicatedPostgres(name = 'outage-pg'): Promise<DedicatedPostgres> {
  const dataDir = path.join(tempDir(name), 'pg');
  const password = randomBytes(12).toString('hex');
  const port = await freePort();
  let server: PostgresServer | undefined = await startPostgres({ dataDir, port, persistent: true, password });
  const ownerUrl = withDatabase(server.baseUrl, 'amanat');
  const appPassword = randomBytes(12).toString('hex');
  try {
    await ensureDatabase(server.baseUrl, 'amanat');
    await migrate(ownerUrl);
    await setAppRolePassword(ownerUrl, appPassword);
  } catch (error) {
    await server.stop();
    throw error;
  }
  const appUrl = withUser(ownerUrl, APP_ROLE, appPassword);
  return {
    port, ownerUrl, appUrl,
    database() {
      const app = createPool(appUrl, 40);
      const owner = createPool(ownerUrl, 4);
      return { name: 'amanat', ownerUrl, appUrl, app, owner, async drop() { await app.end().catch(() => undefined); await owner.end().catch(() => undefined); } };
    },
    get up() { return server !== undefined; },
    async stop() {
      const s = server;
      server = undefined;
      await s?.stop();
    },
    async start() {
      if (server) return;
      server = await startPostgres({ dataDir, port, persistent: true, password });
    },
    async close() {
      const s = server;
      server = undefined;
      await s?.stop();
      // The data dir is under the test run's temporary directory, removed with it.
    },
  };
}

/** A pool on the dedicated server as the application role (the pool the service uses). */
export function appPool(pg: DedicatedPostgres, max = 20): pg.Pool {
  return createPool(pg.appUrl, max);
}
