// Real components for custody tests: a test database, the real signer process on SoftHSM2, and a
// real dev chain (bcoin regtest or Hardhat), with the wallet service and a deposit scanner on top.
import path from 'node:path';
import { AssetRegistry } from '../../src/assets/asset-registry.ts';
import { LedgerService } from '../../src/ledger/ledger-service.ts';
import { ClientService } from '../../src/clients/client-service.ts';
import { WalletService } from '../../src/wallets/wallet-service.ts';
import { SignerClient } from '../../src/signer-client/signer-client.ts';
import { DepositScanner, type TickResult } from '../../src/deposits/deposit-scanner.ts';
import { BitcoinWatchIndex, EthereumWatchIndex } from '../../src/deposits/watch-index.ts';
import { BitcoinBlockSource } from '../../src/chains/bitcoin/block-source.ts';
import { EthereumBlockSource } from '../../src/chains/ethereum/block-source.ts';
import { startBitcoinRegtest, type BitcoinRegtest } from '../../src/chains/dev/bitcoin-regtest.ts';
import { startEthereumDev, type EthereumDev } from '../../src/chains/dev/ethereum-dev.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { inTransaction } from '../../src/platform/tx.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createCaseService } from '../../src/cases/index.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { makeApprover, prepareSigner, startSigner, tempDir, testPolicy, type SignerHarness, type TestApprover } from '../../signer/test/helpers.ts';

export const CONFIRMATIONS = 3;

export interface Custody {
  db: TestDatabase;
  assets: AssetRegistry;
  ledger: LedgerService;
  clients: ClientService;
  wallets: WalletService;
  signerClient: SignerClient;
  signer: SignerHarness;
  approvers: TestApprover[];
  btc?: BitcoinRegtest;
  eth?: EthereumDev;
  newScanner(): DepositScanner;
  scanner: DepositScanner;
  tick(): Promise<TickResult>;
  newClient(classification?: 'retail' | 'professional'): Promise<string>;
  entitlement(clientId: string, asset: string): Promise<{ total: bigint; held: bigint; available: bigint; hot: bigint; cold: bigint }>;
  close(): Promise<void>;
}

let seq = 0;

export async function startCustody(chain: 'bitcoin' | 'ethereum'): Promise<Custody> {
  const dir = tempDir(`custody-${chain}`);
  const db = await createTestDatabase();
  const approvers = [makeApprover('officer-a', 'alice', 'ed25519'), makeApprover('officer-b', 'bob', 'p256'), makeApprover('officer-c', 'carol', 'ed25519')];
  const signer = await startSigner(prepareSigner(`signer-${chain}`, testPolicy(approvers, 2)));
  const log = createLogger('silent');
  const assets = new AssetRegistry(db.app);
  await assets.load();
  const ledger = new LedgerService(db.app, assets);
  const clients = new ClientService(ledger);
  const cases = createCaseService(loadConfig({ AMANAT_ENV: 'test' }), ledger, clients);
  const signerClient = new SignerClient(signer.socketPath);
  let btc: BitcoinRegtest | undefined;
  let eth: EthereumDev | undefined;
  let newScanner: () => DepositScanner;
  const options = { confirmations: () => CONFIRMATIONS, startHeight: 0, maxBlocksPerTick: 1000, maxReorgDepth: 100, rollbackLostChain: false };
  try {
    if (chain === 'bitcoin') {
      btc = await startBitcoinRegtest({ dataDir: path.join(dir, 'bitcoin'), memory: true });
      const node = btc;
      newScanner = () => {
        const watch = new BitcoinWatchIndex(node.network);
        return new DepositScanner(db.app, ledger, new BitcoinBlockSource(node.rpc, () => watch.set), { ...options, chain: 'bitcoin' }, log, watch, cases);
      };
    } else {
      eth = await startEthereumDev({ dataDir: path.join(dir, 'ethereum') });
      await inTransaction(db.app, (q) => assets.update(q, 'USDT', { contractAddress: eth!.usdt!.address }));
      const node = eth;
      newScanner = () => {
        const watch = new EthereumWatchIndex(assets);
        return new DepositScanner(db.app, ledger, new EthereumBlockSource(node.rpc, () => watch.set), { ...options, chain: 'ethereum' }, log, watch, cases);
      };
    }
  } catch (error) {
    await signer.stop();
    await db.drop();
    throw error;
  }
  const wallets = new WalletService(signerClient, btc?.network ?? 'bcoin-regtest');
  const scanner = newScanner();
  return {
    db, assets, ledger, clients, wallets, signerClient, signer, approvers, btc, eth, newScanner, scanner,
    tick: () => scanner.tick(),
    async newClient(classification = 'retail') {
      const c = await inTransaction(db.app, (q) => clients.create(q, { externalRef: `c-${process.pid}-${++seq}-${Date.now()}`, classification, kzResident: true }));
      return c.id;
    },
    async entitlement(clientId, asset) {
      const b = (await ledger.clientBalances(db.app, clientId)).find((x) => x.asset === asset)!;
      return { ...b.entitlement, hot: b.holdings.hot, cold: b.holdings.cold };
    },
    async close() {
      await Promise.allSettled([btc?.stop(), eth?.stop(), signer.stop()]);
      await db.drop();
    },
  };
}
