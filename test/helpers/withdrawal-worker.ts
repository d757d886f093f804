// A withdrawal worker as its own process, for the crash test: it works the pipeline until killed.
// Env: WORKER_DB_URL (app role), WORKER_SIGNER_SOCKET, WORKER_APPROVERS_FILE, WORKER_KEYRING_FILE,
// WORKER_CONFIRMATIONS, and the chain: WORKER_BTC_RPC_URL + WORKER_BTC_API_KEY, or WORKER_ETH_RPC_URL (Hardhat, chain 31337).
import { createPool } from '../../src/platform/db.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { AssetRegistry } from '../../src/assets/asset-registry.ts';
import { LedgerService } from '../../src/ledger/ledger-service.ts';
import { ClientService } from '../../src/clients/client-service.ts';
import { WalletService } from '../../src/wallets/wallet-service.ts';
import { SignerClient } from '../../src/signer-client/signer-client.ts';
import { BitcoinRpcClient } from '../../src/chains/bitcoin/rpc-client.ts';
import { EthereumRpcClient } from '../../src/chains/ethereum/rpc-client.ts';
import { createWithdrawalModule } from '../../src/withdrawals/withdrawal-module.ts';
import type { ChainRuntime } from '../../src/deposits/chain-runtime.ts';

const env = (k: string) => { const v = process.env[k]; if (!v) throw new Error(`${k} is required`); return v; };
const pool = createPool(env('WORKER_DB_URL'), 8);
const config = loadConfig({ AMANAT_ENV: 'test', TREASURY_APPROVERS_FILE: env('WORKER_APPROVERS_FILE'), PII_KEYRING_FILE: env('WORKER_KEYRING_FILE'),
  BITCOIN_CONFIRMATIONS: env('WORKER_CONFIRMATIONS'), ETHEREUM_CONFIRMATIONS: env('WORKER_CONFIRMATIONS'), BITCOIN_NETWORK: 'bcoin-regtest' });
const assets = new AssetRegistry(pool);
await assets.load();
const ledger = new LedgerService(pool, assets);
const signer = new SignerClient(env('WORKER_SIGNER_SOCKET'));
const ethereumUrl = process.env.WORKER_ETH_RPC_URL;
const chains = {
  bitcoin: ethereumUrl ? {} : { rpc: new BitcoinRpcClient({ url: env('WORKER_BTC_RPC_URL'), password: env('WORKER_BTC_API_KEY') }), network: 'bcoin-regtest' },
  ethereum: ethereumUrl ? { rpc: new EthereumRpcClient({ url: ethereumUrl, chainId: 31337n, pollingIntervalMs: 50 }), chainId: 31337n } : {},
  scanners: [], stop: async () => undefined,
} as unknown as ChainRuntime;
const module = createWithdrawalModule({ config, pool, assets, ledger, clients: new ClientService(ledger), log: createLogger('silent'),
  wallets: new WalletService(signer, 'bcoin-regtest'), signer, chains });
process.stdout.write('worker ready\n');
for (;;) {
  const steps = await module.pipeline!.drain(20);
  if (steps === 0) await new Promise((r) => setTimeout(r, 50));
}
